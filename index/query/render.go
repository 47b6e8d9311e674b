package query

import (
	"strconv"
	"strings"
)

// The String methods render short syntax that parses back to the same
// node under any Options: only characters that could otherwise be misread
// are escaped. That includes characters a lenient parse took as text: a
// ':' in a word is always escaped, because whether "12:" is a field depends
// on Options.IsField, and so is a trailing '?', a leading '+', '-' or '/',
// and a leading ':'. A phrase followed by punctuation renders with a space
// between the two. A rendering is therefore at most twice as long as the
// query it came from, and usually no longer.

func (n *Bool) String() string {
	var sb strings.Builder
	n.write(&sb)
	return sb.String()
}

func (n *Bool) write(sb *strings.Builder) {
	first := true
	for _, c := range n.Clauses {
		if c.Node == nil {
			continue
		}
		if !first {
			sb.WriteByte(' ')
		}
		first = false
		switch c.Occur {
		case Must:
			sb.WriteByte('+')
		case MustNot:
			sb.WriteByte('-')
		}
		switch child := c.Node.(type) {
		case *Bool:
			sb.WriteByte('(')
			child.write(sb)
			sb.WriteByte(')')
		case *Match:
			child.write(sb, c.Occur != Should)
		default:
			sb.WriteString(child.String())
		}
	}
}

func (n *Match) String() string {
	var sb strings.Builder
	n.write(&sb, false)
	return sb.String()
}

// write renders the match; prefixed says a + or - precedes it, which stops
// the words AND, OR and NOT from being read as operators.
func (n *Match) write(sb *strings.Builder, prefixed bool) {
	switch {
	case n.Field != "":
		writeField(sb, n.Field)
		writeLiteral(sb, n.Text, valueCtx)
	case !prefixed && n.Boost == 0 && n.Fuzziness == 0 && isKeyword(n.Text):
		sb.WriteByte('\\')
		sb.WriteString(n.Text)
	default:
		writeLiteral(sb, n.Text, bareCtx)
	}
	switch {
	case n.Fuzziness == 1:
		sb.WriteByte('~')
	case n.Fuzziness != 0:
		sb.WriteByte('~')
		sb.WriteString(strconv.Itoa(n.Fuzziness))
	}
	writeBoost(sb, n.Boost)
}

func (n *Phrase) String() string {
	var sb strings.Builder
	writeField(&sb, n.Field)
	writeQuoted(&sb, n.Text)
	writeBoost(&sb, n.Boost)
	return sb.String()
}

func (n *Prefix) String() string {
	var sb strings.Builder
	ctx := bareCtx
	if n.Field != "" {
		writeField(&sb, n.Field)
		ctx = valueCtx
	}
	writeLiteral(&sb, n.Prefix, ctx)
	sb.WriteByte('*')
	writeBoost(&sb, n.Boost)
	return sb.String()
}

func (n *Wildcard) String() string {
	var sb strings.Builder
	ctx := bareCtx
	if n.Field != "" {
		writeField(&sb, n.Field)
		ctx = valueCtx
	}
	rs := []rune(n.Pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			sb.WriteByte('\\')
			sb.WriteRune(rs[i+1])
			i++
		case r == '*' || r == '?':
			sb.WriteRune(r)
		default:
			writeRune(&sb, r, i == 0, ctx)
		}
	}
	writeBoost(&sb, n.Boost)
	return sb.String()
}

func (n *Regexp) String() string {
	var sb strings.Builder
	writeField(&sb, n.Field)
	sb.WriteByte('/')
	rs := []rune(n.Pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			sb.WriteByte('\\')
			sb.WriteRune(rs[i+1])
			i++
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '/':
			sb.WriteString(`\/`)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('/')
	writeBoost(&sb, n.Boost)
	return sb.String()
}

// String renders a one-sided range as Parse produces it. A range with both
// bounds, which has no syntax of its own, renders as a group of two
// required one-sided ranges; one with neither as "field:*".
func (n *Range) String() string {
	var sb strings.Builder
	switch {
	case n.Min != nil && n.Max != nil:
		sb.WriteString("(+")
		writeBound(&sb, n.Field, ">", *n.Min, n.MinInclusive, n.Boost)
		sb.WriteString(" +")
		writeBound(&sb, n.Field, "<", *n.Max, n.MaxInclusive, n.Boost)
		sb.WriteByte(')')
	case n.Min != nil:
		writeBound(&sb, n.Field, ">", *n.Min, n.MinInclusive, n.Boost)
	case n.Max != nil:
		writeBound(&sb, n.Field, "<", *n.Max, n.MaxInclusive, n.Boost)
	default:
		writeField(&sb, n.Field)
		sb.WriteByte('*')
		writeBoost(&sb, n.Boost)
	}
	return sb.String()
}

func (n *MatchAll) String() string { return "*" }

func writeBound(sb *strings.Builder, field, op, val string, inclusive bool, boost float64) {
	writeField(sb, field)
	sb.WriteString(op)
	ctx := rangeCtx
	if inclusive {
		sb.WriteByte('=')
		ctx = rangeEqCtx
	}
	// Whichever of the escaped word and the quoted form is shorter.
	var w, q strings.Builder
	writeLiteral(&w, val, ctx)
	writeQuoted(&q, val)
	if w.Len() <= q.Len() {
		sb.WriteString(w.String())
	} else {
		sb.WriteString(q.String())
	}
	writeBoost(sb, boost)
}

func writeField(sb *strings.Builder, field string) {
	if field == "" {
		return
	}
	writeLiteral(sb, field, bareCtx)
	sb.WriteByte(':')
}

func writeQuoted(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	sb.WriteByte('"')
}

// writeLiteral writes s as a word whose every character, '*' and '?'
// included, is literal.
func writeLiteral(sb *strings.Builder, s string, ctx wordCtx) {
	first := true
	for _, r := range s {
		if r == '*' || r == '?' {
			sb.WriteByte('\\')
			sb.WriteRune(r)
		} else {
			writeRune(sb, r, first, ctx)
		}
		first = false
	}
}

func writeRune(sb *strings.Builder, r rune, first bool, ctx wordCtx) {
	if r == '\\' || endsWord(r, ctx) || first && specialFirst(r, ctx) {
		sb.WriteByte('\\')
	}
	sb.WriteRune(r)
}

// specialFirst reports whether r has a meaning of its own as the first
// character of a word in ctx.
func specialFirst(r rune, ctx wordCtx) bool {
	switch ctx {
	case bareCtx:
		return r == '+' || r == '-' || r == '/'
	case valueCtx:
		return r == '/' || r == '>' || r == '<'
	case rangeCtx:
		return r == '='
	}
	return false
}

func isKeyword(s string) bool { return s == "AND" || s == "OR" || s == "NOT" }

// writeBoost writes "^b" in plain decimal, the only form Parse accepts,
// dropping a leading zero so ".5" stays as short as it was typed.
func writeBoost(sb *strings.Builder, b float64) {
	if b == 0 {
		return
	}
	s := strconv.FormatFloat(b, 'f', -1, 64)
	if strings.HasPrefix(s, "0.") {
		s = s[1:]
	}
	sb.WriteByte('^')
	sb.WriteString(s)
}
