package query

import "strings"

// wordCtx is where a word stands; it decides which characters end the word
// and which are special as its first character.
type wordCtx uint8

const (
	// bareCtx is a clause start or a field name: ':' ends the word and a
	// leading '+', '-' or '/' would be read as a prefix or a regexp.
	bareCtx wordCtx = iota
	// valueCtx follows "field:": ':' is an ordinary character and a
	// leading '/', '>' or '<' would start a regexp or a range.
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
// a Prefix, anything else with wildcards a Wildcard.
func (w word) node(field string, pos int) Node {
	wild, trailingStar := 0, false
	for i, u := range w {
		if !u.escaped && (u.r == '*' || u.r == '?') {
			wild++
			trailingStar = i == len(w)-1 && u.r == '*'
		}
	}
	switch {
	case wild == 0:
		return &Match{Field: field, Text: w.literal(), Position: pos}
	case wild == 1 && trailingStar:
		return &Prefix{Field: field, Prefix: w[:len(w)-1].literal(), Position: pos}
	}
	var sb strings.Builder
	for _, u := range w {
		if u.escaped && (u.r == '*' || u.r == '?' || u.r == '\\') {
			sb.WriteByte('\\')
		}
		sb.WriteRune(u.r)
	}
	return &Wildcard{Field: field, Pattern: sb.String(), Position: pos}
}
