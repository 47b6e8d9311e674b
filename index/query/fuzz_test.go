package query

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// well-formed, and that every tree it returns renders to a query that
// parses back to the same tree.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %v is not a *ParseError wrapping ErrSyntax", s, err)
			}
			if pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("Parse(%q) error position %d out of range", s, pe.Pos)
			}
			return
		}
		Walk(q, func(n Node) bool {
			if n.Pos() < 0 || n.Pos() > len(s) {
				t.Fatalf("Parse(%q): %T at position %d out of range", s, n, n.Pos())
			}
			return true
		})
		checkRoundTrip(t, s, q)
	})
}
