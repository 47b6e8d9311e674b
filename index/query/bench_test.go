package query

import (
	"strings"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	queries := map[string]struct {
		q    string
		opts Options
	}{
		"typical":     {`+camera.make:canon "red bus"^2 -tag:night* taken_at:>="2020-01-01" kitten~`, Options{}},
		"max_clauses": {strings.TrimSpace(strings.Repeat("a ", MaxClauses)), Options{}},
		"max_depth":   {strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth), Options{}},
		"long_word":   {strings.Repeat(`\*`, MaxQueryBytes/2), Options{}},
		"caption":     {`A large display of fruit: apples, grapes at 12:25 - "FRESH". Is it ripe?`, picdexFields},
		"duplicates":  {strings.Repeat("ma* ", 400), Options{}},
	}
	for name, tc := range queries {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseWith(tc.q, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
