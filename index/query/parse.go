package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that bound the work and memory one query can cost.
const (
	MaxQueryBytes = 4096 // longest accepted query, in bytes
	MaxDepth      = 32   // deepest nesting of parenthesised groups
	MaxClauses    = 1024 // clauses in the whole query as written, groups included
)

// MaxBoost is the largest boost a clause can have, typed or reached by
// merging duplicates, so that no query can push a score to infinity.
const MaxBoost = 10000

// Options adjust how ParseWith reads a query. The zero value parses as
// Parse does.
type Options struct {
	// IsField reports whether name is a field of the caller's schema (an
	// alias included). It is asked about every word that is followed by a
	// colon, with the word's escapes resolved ("camera.make", "12"). A
	// word that is no field is text: "12:25" and "fruit:" are words, not
	// field clauses, so a pasted sentence searches instead of failing. A
	// field keeps the field syntax and its errors ("title:" alone is
	// still missing its value). Nil means every name is a field.
	IsField func(name string) bool
}

// Parse parses a query string into its syntax tree, reading every word
// before a colon as a field name. It is ParseWith(s, Options{}).
func Parse(s string) (*Bool, error) { return ParseWith(s, Options{}) }

// ParseWith parses a query string into its syntax tree. The result is
// never nil when err is nil; an empty or blank query gives a Bool without
// clauses. Duplicate clauses of a Bool are merged into one (see the package
// documentation), so the tree is never larger than the query needs.
// Errors are *ParseError values wrapping ErrSyntax.
func ParseWith(s string, o Options) (*Bool, error) {
	if len(s) > MaxQueryBytes {
		return nil, &ParseError{Pos: MaxQueryBytes, Msg: fmt.Sprintf("query is longer than %d bytes", MaxQueryBytes), Query: s}
	}
	if !utf8.ValidString(s) {
		pos := 0
		for pos < len(s) {
			r, n := utf8.DecodeRuneInString(s[pos:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			pos += n
		}
		return nil, &ParseError{Pos: pos, Msg: "invalid UTF-8", Query: s}
	}
	p := &parser{src: s, opts: o, closed: -1}
	return p.parseBool(0, 0)
}

type parser struct {
	src     string
	opts    Options
	pos     int
	clauses int
	// closed is the offset just after the last closing quote, regexp
	// slash or group parenthesis; a clause ending there may be followed by
	// punctuation without whitespace.
	closed int
}

func (p *parser) isField(name word) bool {
	return p.opts.IsField == nil || p.opts.IsField(name.literal())
}

func (p *parser) fail(pos int, format string, args ...any) error {
	return &ParseError{Pos: pos, Msg: fmt.Sprintf(format, args...), Query: p.src}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the next rune, or -1 at the end of the input.
func (p *parser) peek() rune {
	if p.eof() {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

func (p *parser) next() rune {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return r
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.peek()) {
		p.next()
	}
}

func isSpace(r rune) bool { return r >= 0 && unicode.IsSpace(r) }

// parseBool parses clauses up to the end of input (depth 0) or up to the
// ')' closing the group opened at open. The AND, OR and NOT operators are
// resolved here, Lucene style: they only adjust the occurrence of the
// clauses next to them and have no precedence.
func (p *parser) parseBool(open, depth int) (*Bool, error) {
	b := &Bool{Position: open}
	var (
		conj    string // pending AND or OR
		conjPos int
		not     bool // pending NOT
		notPos  int
	)
	for {
		p.skipSpace()
		if p.eof() || p.peek() == ')' {
			if conj != "" {
				return nil, p.fail(conjPos, "dangling %s", conj)
			}
			if not {
				return nil, p.fail(notPos, "dangling NOT")
			}
			if p.eof() {
				if depth > 0 {
					return nil, p.fail(open, "unterminated group")
				}
				b.Clauses = mergeDuplicates(b.Clauses)
				return b, nil
			}
			if depth == 0 {
				return nil, p.fail(p.pos, `unmatched ")"`)
			}
			if len(b.Clauses) == 0 {
				return nil, p.fail(open, "empty group")
			}
			p.pos++
			p.closed = p.pos
			b.Clauses = mergeDuplicates(b.Clauses)
			return b, nil
		}

		start := p.pos
		if kw := p.keyword(); kw != "" {
			switch {
			case kw == "NOT" && not:
				return nil, p.fail(start, "NOT NOT")
			case kw == "NOT":
				not, notPos = true, start
			case len(b.Clauses) == 0:
				return nil, p.fail(start, "%s must follow a clause", kw)
			case conj != "" || not:
				return nil, p.fail(start, "unexpected %s", kw)
			default:
				conj, conjPos = kw, start
			}
			p.pos += len(kw)
			continue
		}

		occur := Should
		if c := p.peek(); (c == '+' || c == '-') && p.prefixesClause() {
			if not {
				return nil, p.fail(start, "%q cannot follow NOT", c)
			}
			occur = Must
			if c == '-' {
				occur = MustNot
			}
			p.pos++
		}
		p.clauses++
		if p.clauses > MaxClauses {
			return nil, p.fail(p.pos, "more than %d clauses", MaxClauses)
		}
		node, err := p.parseClause(depth)
		if err != nil {
			return nil, err
		}
		if not {
			occur = MustNot
		}
		switch conj {
		case "AND":
			if prev := &b.Clauses[len(b.Clauses)-1]; prev.Occur != MustNot {
				prev.Occur = Must
			}
			if occur == Should {
				occur = Must
			}
		case "OR":
			if prev := &b.Clauses[len(b.Clauses)-1]; prev.Occur != MustNot {
				prev.Occur = Should
			}
		}
		conj, not = "", false
		b.Clauses = append(b.Clauses, Clause{Occur: occur, Node: node})
	}
}

// keyword reports the operator AND, OR or NOT at the current position. An
// operator is upper case, unescaped, not prefixed, and followed by
// whitespace, a parenthesis or the end of the query; otherwise it is a word.
func (p *parser) keyword() string {
	for _, kw := range [...]string{"AND", "OR", "NOT"} {
		if !strings.HasPrefix(p.src[p.pos:], kw) {
			continue
		}
		end := p.pos + len(kw)
		if end == len(p.src) {
			return kw
		}
		if r, _ := utf8.DecodeRuneInString(p.src[end:]); isSpace(r) || r == '(' || r == ')' {
			return kw
		}
	}
	return ""
}

// prefixesClause reports whether the '+' or '-' at the current position
// is an occurrence prefix: it is one when a clause follows right after it.
// Otherwise, as in "toys - a bull" or "+", it starts an ordinary word.
func (p *parser) prefixesClause() bool {
	r, n := utf8.DecodeRuneInString(p.src[p.pos+1:])
	return n > 0 && !isSpace(r) && r != ')' && r != '+' && r != '-'
}

// endsText reports whether the character at p.pos+1 is whitespace, a
// closing parenthesis or the end of the query, which makes a '/' or ':'
// before it plain text.
func (p *parser) endsText() bool {
	r, n := utf8.DecodeRuneInString(p.src[p.pos+1:])
	return n == 0 || isSpace(r) || r == ')'
}

// startsAfterClose reports whether r may start a new clause right after a
// closing quote, regexp slash or group parenthesis, without whitespace:
// punctuation such as the full stop in `says "PUB".` or the comma in
// "a cat (black), sitting" is no part of the clause before it. The
// characters that would make "a"(b), "a""b" or "a"\b ambiguous are
// excluded.
func startsAfterClose(r rune) bool {
	switch r {
	case '(', '"', '\\':
		return false
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}

// parseClause parses one clause after its +/- prefix: the clause itself,
// its ^boost and ~fuzziness suffixes, and checks that it is properly
// separated from what follows.
func (p *parser) parseClause(depth int) (Node, error) {
	start := p.pos
	var (
		node Node
		err  error
		// noField is set when the clause is a word ending in a colon after
		// a name that is no field, to explain an error right after it.
		noField string
	)
	switch c := p.peek(); {
	case c == '(':
		if depth >= MaxDepth {
			return nil, p.fail(start, "groups nested deeper than %d", MaxDepth)
		}
		p.pos++
		node, err = p.parseBool(start, depth+1)
	case c == '"':
		var text string
		text, err = p.quoted()
		node = &Phrase{Text: text, Position: start}
	case c == '/' && !p.endsText():
		var pat string
		pat, err = p.regexp()
		node = &Regexp{Pattern: pat, Position: start}
	case c == '^' || c == '~':
		return nil, p.fail(start, "dangling %q", c)
	case c == ':':
		// No field name is empty: a leading colon is text.
		var w word
		w, err = p.word(valueCtx)
		node = w.node("", start)
	default:
		var w word
		if w, err = p.word(bareCtx); err != nil {
			break
		}
		if len(w) == 0 {
			return nil, p.fail(start, "unexpected %q", c)
		}
		if p.peek() == ':' {
			if p.isField(w) {
				node, err = p.fieldClause(w, start)
				break
			}
			// Not a field: the colon and the rest of the word are text.
			var rest word
			if rest, err = p.word(valueCtx); err != nil {
				break
			}
			if len(rest) == 1 {
				noField = w.literal()
			}
			w = append(w, rest...)
		}
		if w.isMatchAll() {
			node = &MatchAll{Position: start}
		} else {
			node = w.node("", start)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.suffixes(node); err != nil {
		return nil, err
	}
	switch c := p.peek(); {
	case c < 0 || isSpace(c) || c == ')':
	case p.pos == p.closed && startsAfterClose(c):
	case noField != "" && (c == '"' || c == '('):
		return nil, p.fail(p.pos, "unexpected %q after %q (%q is not a field)", c, noField+":", noField)
	default:
		return nil, p.fail(p.pos, "unexpected %q (separate clauses with whitespace or escape it with \\)", c)
	}
	return node, nil
}

// fieldClause parses what follows "field:"; p is at the colon.
func (p *parser) fieldClause(name word, start int) (Node, error) {
	colon := p.pos
	if name.hasWildcard() {
		return nil, p.fail(start, "wildcard in field name")
	}
	field := name.literal()
	p.pos++
	switch c := p.peek(); {
	case c < 0 || isSpace(c) || c == ')' || c == '^' || c == '~':
		return nil, p.fail(colon, "missing value after %q", field+":")
	case c == '(':
		return nil, p.fail(p.pos, "a group cannot follow a field name")
	case c == '"':
		text, err := p.quoted()
		return &Phrase{Field: field, Text: text, Position: start}, err
	case c == '/':
		pat, err := p.regexp()
		return &Regexp{Field: field, Pattern: pat, Position: start}, err
	case c == '>' || c == '<':
		return p.rangeClause(field, start)
	}
	w, err := p.word(valueCtx)
	if err != nil {
		return nil, err
	}
	return w.node(field, start), nil
}

// rangeClause parses ">v", ">=v", "<v" or "<=v" after "field:".
func (p *parser) rangeClause(field string, start int) (Node, error) {
	opPos := p.pos
	op := p.next()
	inclusive := false
	if p.peek() == '=' {
		p.pos++
		inclusive = true
	}
	var val string
	switch c := p.peek(); {
	case c == '"':
		text, err := p.phrase()
		if err != nil {
			return nil, err
		}
		if text == "" {
			return nil, p.fail(opPos, "range without a value")
		}
		val = text
	case c < 0 || isSpace(c) || c == '(' || c == ')' || c == '^' || c == '~':
		return nil, p.fail(opPos, "range without a value")
	default:
		w, err := p.word(valueCtx)
		if err != nil {
			return nil, err
		}
		if w.hasWildcard() {
			return nil, p.fail(opPos, "wildcard in range value (escape it with \\)")
		}
		val = w.literal()
	}
	r := &Range{Field: field, Position: start}
	if op == '>' {
		r.Min, r.MinInclusive = &val, inclusive
	} else {
		r.Max, r.MaxInclusive = &val, inclusive
	}
	return r, nil
}

// quoted reads a non-empty phrase.
func (p *parser) quoted() (string, error) {
	open := p.pos
	text, err := p.phrase()
	if err == nil && text == "" {
		err = p.fail(open, "empty phrase")
	}
	return text, err
}

// phrase reads a quoted string; p is at the opening quote. A backslash
// makes the next character literal.
func (p *parser) phrase() (string, error) {
	open := p.pos
	p.pos++
	var sb strings.Builder
	for {
		if p.eof() {
			return "", p.fail(open, "unterminated phrase")
		}
		switch r := p.next(); r {
		case '"':
			p.closed = p.pos
			return sb.String(), nil
		case '\\':
			if p.eof() {
				return "", p.fail(open, "unterminated phrase")
			}
			sb.WriteRune(p.next())
		default:
			sb.WriteRune(r)
		}
	}
}

// regexp reads /pattern/; p is at the opening slash. Only "\/" is
// unescaped: the other backslash sequences belong to the regexp syntax.
func (p *parser) regexp() (string, error) {
	open := p.pos
	p.pos++
	var sb strings.Builder
	for {
		if p.eof() {
			return "", p.fail(open, "unterminated regexp")
		}
		switch r := p.next(); r {
		case '/':
			if sb.Len() == 0 {
				return "", p.fail(open, "empty regexp")
			}
			p.closed = p.pos
			return sb.String(), nil
		case '\\':
			if p.eof() {
				return "", p.fail(open, "unterminated regexp")
			}
			if n := p.next(); n == '/' {
				sb.WriteByte('/')
			} else {
				sb.WriteByte('\\')
				sb.WriteRune(n)
			}
		default:
			sb.WriteRune(r)
		}
	}
}

// suffixes reads any ^boost and ~fuzziness after a clause, in either order.
func (p *parser) suffixes(node Node) error {
	var boosted, fuzzy bool
	for {
		at := p.pos
		switch p.peek() {
		case '^':
			p.pos++
			tok := p.suffixToken()
			if boosted {
				return p.fail(at, "duplicate boost")
			}
			if tok == "" {
				return p.fail(at, "dangling '^'")
			}
			boosted = true
			boost, ok := parseBoost(tok)
			if !ok {
				return p.fail(at, "invalid boost %q (want a positive number such as 2 or 1.5)", tok)
			}
			if boost > MaxBoost {
				return p.fail(at, "boost %s exceeds the maximum of %d", clip(tok), MaxBoost)
			}
			b := boostOf(node)
			if b == nil {
				return p.fail(at, "boost is not supported on %s", kindOf(node))
			}
			*b = boost
		case '~':
			p.pos++
			tok := p.suffixToken()
			if fuzzy {
				return p.fail(at, "duplicate fuzziness")
			}
			fuzzy = true
			m, ok := node.(*Match)
			if !ok {
				return p.fail(at, "fuzziness is not supported on %s", kindOf(node))
			}
			fuzz := 1
			if tok != "" {
				if strings.Trim(tok, "0123456789") != "" {
					return p.fail(at, "invalid fuzziness %q", tok)
				}
				n, err := strconv.Atoi(tok)
				if err != nil || n > 2 {
					return p.fail(at, "fuzziness %s is larger than 2", tok)
				}
				fuzz = n
			}
			m.Fuzziness = fuzz
		default:
			return nil
		}
	}
}

// suffixToken reads the argument of ^ or ~.
func (p *parser) suffixToken() string {
	start := p.pos
	for !p.eof() {
		switch r := p.peek(); {
		case isSpace(r), r == '(', r == ')', r == '^', r == '~', r == '"':
			return p.src[start:p.pos]
		}
		p.next()
	}
	return p.src[start:p.pos]
}

// parseBoost accepts plain decimals only ("2", "1.5", ".5"), so a boost
// can never be negative, NaN or in exponent notation. A decimal too large
// for a float64 is +Inf, which the caller reports as above MaxBoost.
func parseBoost(tok string) (float64, bool) {
	if strings.Trim(tok, "0123456789.") != "" || strings.Trim(tok, ".") == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil && !math.IsInf(f, 1) || f <= 0 {
		return 0, false
	}
	return f, true
}

// clip shortens a long token for an error message.
func clip(tok string) string {
	const max = 16
	if len(tok) <= max {
		return tok
	}
	return tok[:max] + "…"
}

// boostOf points at the boost of n, or is nil for a node that takes none.
func boostOf(n Node) *float64 {
	switch n := n.(type) {
	case *Match:
		return &n.Boost
	case *Phrase:
		return &n.Boost
	case *Prefix:
		return &n.Boost
	case *Wildcard:
		return &n.Boost
	case *Regexp:
		return &n.Boost
	case *Range:
		return &n.Boost
	}
	return nil
}

func kindOf(n Node) string {
	switch n.(type) {
	case *Bool:
		return "a group"
	case *MatchAll:
		return `"*"`
	case *Phrase:
		return "a phrase"
	case *Prefix:
		return "a prefix"
	case *Wildcard:
		return "a wildcard"
	case *Regexp:
		return "a regexp"
	case *Range:
		return "a range"
	}
	return "a word"
}
