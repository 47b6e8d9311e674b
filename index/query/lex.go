package query

import "strings"

// wordCtx is where a word stands; it decides which characters end the word
// and which are special as its first character.
type wordCtx uint8

const (
	// bareCtx is a clause start or a field name: ':' ends the word and a
	// leading '+', '-' or '/' would be read as a prefix or a regexp.
	bareCtx wordCtx = iota
	// valueCtx follows "field:", and is also how text goes on after a
	// colon that is no field: ':' is an ordinary character. As the first
	// character of a field value a '/', '>' or '<' would start a regexp or
	// a range.
	valueCtx
	// rangeCtx follows ">" or "<": a leading '=' would join the operator.
	rangeCtx
	// rangeEqCtx follows ">=" or "<=".
	rangeEqCtx
)

// endsWord reports whether an unescaped r terminates a word.
func endsWord(r rune, ctx wordCtx) bool {
	switch r {
	case '(', ')', '"', '^', '~':
		return true
	case ':':
		return ctx == bareCtx
	}
	return isSpace(r)
}

// unit is one character of a word and whether it was escaped, which
// decides if '*' and '?' are wildcards.
type unit struct {
	r       rune
	escaped bool
}

type word []unit

// word reads a word up to the next unescaped terminator.
func (p *parser) word(ctx wordCtx) (word, error) {
	var w word
	for !p.eof() {
		at := p.pos
		r := p.peek()
		if r == '\\' {
			p.pos++
			if p.eof() {
				return nil, p.fail(at, "trailing backslash")
			}
			w = append(w, unit{r: p.next(), escaped: true})
			continue
		}
		if endsWord(r, ctx) {
			break
		}
		p.next()
		w = append(w, unit{r: r})
	}
	return w, nil
}

func (w word) hasWildcard() bool {
	for _, u := range w {
		if !u.escaped && (u.r == '*' || u.r == '?') {
			return true
		}
	}
	return false
}

func (w word) literal() string {
	var sb strings.Builder
	for _, u := range w {
		sb.WriteRune(u.r)
	}
	return sb.String()
}

// node classifies a word: no wildcards is a Match, a single trailing '*'
// a Prefix, anything else with wildcards a Wildcard. Unescaped '?'s at the
// end of the word are punctuation, as in a question, not wildcards: a Match
// keeps them in its text for the analyser to drop, a Prefix or Wildcard
// pattern leaves them out, and a word of nothing but '?'s is a Match.
func (w word) node(field string, pos int) Node {
	core := w.withoutTrailingQuestionMarks()
	if len(core) == 0 {
		return &Match{Field: field, Text: w.literal(), Position: pos}
	}
	wild, trailingStar := 0, false
	for i, u := range core {
		if !u.escaped && (u.r == '*' || u.r == '?') {
			wild++
			trailingStar = i == len(core)-1 && u.r == '*'
		}
	}
	switch {
	case wild == 0:
		return &Match{Field: field, Text: w.literal(), Position: pos}
	case wild == 1 && trailingStar:
		return &Prefix{Field: field, Prefix: core[:len(core)-1].literal(), Position: pos}
	}
	var sb strings.Builder
	for _, u := range core {
		if u.escaped && (u.r == '*' || u.r == '?' || u.r == '\\') {
			sb.WriteByte('\\')
		}
		sb.WriteRune(u.r)
	}
	return &Wildcard{Field: field, Pattern: sb.String(), Position: pos}
}

func (w word) withoutTrailingQuestionMarks() word {
	n := len(w)
	for n > 0 && w[n-1] == (unit{r: '?'}) {
		n--
	}
	return w[:n]
}

// isMatchAll reports whether the word is "*", trailing '?'s aside.
func (w word) isMatchAll() bool {
	core := w.withoutTrailingQuestionMarks()
	return len(core) == 1 && core[0] == (unit{r: '*'})
}
