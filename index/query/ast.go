package query

// Occur says how a clause's match affects the Bool that holds it.
type Occur int

const (
	// Should clauses add to the score; a Bool with no Must clauses needs at
	// least one of them to match (the executor decides the details).
	Should Occur = iota
	// Must clauses have to match.
	Must
	// MustNot clauses exclude the documents they match.
	MustNot
)

func (o Occur) String() string {
	switch o {
	case Should:
		return "should"
	case Must:
		return "must"
	case MustNot:
		return "must not"
	}
	return "invalid"
}

// Node is one element of the syntax tree. Every node is a pointer (*Bool,
// *Match, ...). String renders the node back to query syntax that parses to
// an equal node, apart from positions.
type Node interface {
	// Pos is the byte offset in the parsed query where the node begins; for
	// a clause with a field it is the start of the field name.
	Pos() int
	String() string
}

// Bool is a list of clauses: the whole query, or a parenthesised group.
// A Bool without clauses is the empty query; executors treat it as
// "match everything". Parse never produces an empty group.
type Bool struct {
	Clauses  []Clause
	Position int
}

// Clause is one element of a Bool.
type Clause struct {
	Occur Occur
	Node  Node
}

// Match is a single word, analysed by the executor. Field "" means the
// default fields. Boost 0 means no boost; Fuzziness is 0, 1 or 2 edits.
// Text is what the query wrote, punctuation included: it may end in the
// '?' of a question, hold a colon that named no field ("12:25") or be
// punctuation only ("-", "."), which the analyser reduces to no terms.
type Match struct {
	Field, Text string
	Boost       float64
	Fuzziness   int
	Position    int
}

// Phrase is a quoted sequence of words that must appear in order.
type Phrase struct {
	Field, Text string
	Boost       float64
	Position    int
}

// Prefix matches terms starting with Prefix (the query word "Prefix*").
// Prefix is literal text, escapes resolved.
type Prefix struct {
	Field, Prefix string
	Boost         float64
	Position      int
}

// Wildcard matches terms against Pattern, in which an unescaped '*' stands
// for any run of characters and an unescaped '?' for one character. A
// literal '*', '?' or '\' is kept escaped ("\*", "\?", "\\"); every other
// escape from the query is resolved. Parse never ends a pattern with an
// unescaped '?': trailing '?'s in the query are punctuation and are left
// out, and such a pattern has no syntax of its own.
type Wildcard struct {
	Field, Pattern string
	Boost          float64
	Position       int
}

// Regexp matches terms against Pattern, a regular expression given between
// slashes. Only the "\/" escape is resolved; every other backslash sequence
// is left for the regular expression engine.
type Regexp struct {
	Field, Pattern string
	Boost          float64
	Position       int
}

// Range is an open-ended comparison. Parse sets exactly one of Min and Max;
// the values are strings and the executor decides whether the field is
// numeric or a date.
type Range struct {
	Field                      string
	Min, Max                   *string
	MinInclusive, MaxInclusive bool
	Boost                      float64
	Position                   int
}

// MatchAll is the query "*".
type MatchAll struct {
	Position int
}

func (n *Bool) Pos() int     { return n.Position }
func (n *Match) Pos() int    { return n.Position }
func (n *Phrase) Pos() int   { return n.Position }
func (n *Prefix) Pos() int   { return n.Position }
func (n *Wildcard) Pos() int { return n.Position }
func (n *Regexp) Pos() int   { return n.Position }
func (n *Range) Pos() int    { return n.Position }
func (n *MatchAll) Pos() int { return n.Position }

// Walk visits n and its descendants in pre-order. When fn returns false
// the children of that node are skipped.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	if b, ok := n.(*Bool); ok && b != nil {
		for _, c := range b.Clauses {
			Walk(c.Node, fn)
		}
	}
}
