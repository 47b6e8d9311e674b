package query

import (
	"strings"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	queries := map[string]string{
		"typical":     `+camera.make:canon "red bus"^2 -tag:night* taken_at:>="2020-01-01" kitten~`,
		"max_clauses": strings.TrimSpace(strings.Repeat("a ", MaxClauses)),
		"max_depth":   strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth),
		"long_word":   strings.Repeat(`\*`, MaxQueryBytes/2),
	}
	for name, q := range queries {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
