package query

import (
	"errors"
	"testing"
)

// FuzzParse checks, for every input, both Parse and ParseWith with a short
// field list: neither panics, their errors are well-formed, and every tree
// renders to a query that parses back to the same tree under the same
// options (so merged trees are fixed points).
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, tc := range fieldCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, o := range []Options{{}, fewFields} {
			checkParse(t, s, o)
		}
	})
}

func checkParse(t *testing.T, s string, o Options) {
	t.Helper()
	q, err := ParseWith(s, o)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) {
			t.Fatalf("ParseWith(%q, fields=%t) error %v is not a *ParseError wrapping ErrSyntax", s, o.IsField != nil, err)
		}
		if pe.Pos < 0 || pe.Pos > len(s) {
			t.Fatalf("ParseWith(%q, fields=%t) error position %d out of range", s, o.IsField != nil, pe.Pos)
		}
		return
	}
	Walk(q, func(n Node) bool {
		if n.Pos() < 0 || n.Pos() > len(s) {
			t.Fatalf("ParseWith(%q, fields=%t): %T at position %d out of range", s, o.IsField != nil, n, n.Pos())
		}
		return true
	})
	checkRoundTrip(t, s, q, o)
}
