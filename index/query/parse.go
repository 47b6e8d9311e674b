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
	MaxClauses    = 1024 // clauses in the whole query, groups included
)

// Parse parses a query string into its syntax tree. The result is never
// nil when err is nil; an empty or blank query gives a Bool without
// clauses. Errors are *ParseError values wrapping ErrSyntax.
func Parse(s string) (*Bool, error) {
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
	p := &parser{src: s}
	return p.parseBool(0, 0)
}

type parser struct {
	src     string
	pos     int
	clauses int
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
				return b, nil
			}
			if depth == 0 {
				return nil, p.fail(p.pos, `unmatched ")"`)
			}
			if len(b.Clauses) == 0 {
				return nil, p.fail(open, "empty group")
			}
			p.pos++
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
		if c := p.peek(); c == '+' || c == '-' {
			if not {
				return nil, p.fail(start, "%q cannot follow NOT", c)
			}
			occur = Must
			if c == '-' {
				occur = MustNot
			}
			p.pos++
			if n := p.peek(); n < 0 || isSpace(n) || n == ')' || n == '+' || n == '-' {
				return nil, p.fail(start, "dangling %q", c)
			}
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

// parseClause parses one clause after its +/- prefix: the clause itself,
// its ^boost and ~fuzziness suffixes, and checks that it is properly
// separated from what follows.
func (p *parser) parseClause(depth int) (Node, error) {
	start := p.pos
	var (
		node Node
		err  error
	)
	switch c := p.peek(); c {
	case '(':
		if depth >= MaxDepth {
			return nil, p.fail(start, "groups nested deeper than %d", MaxDepth)
		}
		p.pos++
		node, err = p.parseBool(start, depth+1)
	case '"':
		var text string
		text, err = p.quoted()
		node = &Phrase{Text: text, Position: start}
	case '/':
		var pat string
		pat, err = p.regexp()
		node = &Regexp{Pattern: pat, Position: start}
	case '^', '~':
		return nil, p.fail(start, "dangling %q", c)
	case ':':
		return nil, p.fail(start, "empty field name")
	default:
		var w word
		w, err = p.word(bareCtx)
		switch {
		case err != nil:
		case len(w) == 0:
			return nil, p.fail(start, "unexpected %q", c)
		case p.peek() == ':':
			node, err = p.fieldClause(w, start)
		case len(w) == 1 && w[0] == (unit{r: '*'}):
			node = &MatchAll{Position: start}
		default:
			node = w.node("", start)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.suffixes(node); err != nil {
		return nil, err
	}
	if c := p.peek(); c >= 0 && !isSpace(c) && c != ')' {
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
			if !setBoost(node, boost) {
				return p.fail(at, "boost is not supported on %s", kindOf(node))
			}
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
// can never be negative, NaN, infinite or in exponent notation.
func parseBoost(tok string) (float64, bool) {
	if strings.Trim(tok, "0123456789.") != "" || strings.Trim(tok, ".") == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func setBoost(n Node, b float64) bool {
	switch n := n.(type) {
	case *Match:
		n.Boost = b
	case *Phrase:
		n.Boost = b
	case *Prefix:
		n.Boost = b
	case *Wildcard:
		n.Boost = b
	case *Regexp:
		n.Boost = b
	case *Range:
		n.Boost = b
	default:
		return false
	}
	return true
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
