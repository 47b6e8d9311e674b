package index

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestSibilantPlurals: a plural in -es after a sibilant finds its
// singular and the other way round, where Snowball alone stems them
// apart; the plurals Snowball gets right still find theirs.
func TestSibilantPlurals(t *testing.T) {
	pairs := [][2]string{
		{"bus", "buses"}, {"box", "boxes"}, {"glass", "glasses"}, {"church", "churches"},
		{"dress", "dresses"}, {"dish", "dishes"}, {"virus", "viruses"}, {"fox", "foxes"},
		{"house", "houses"}, {"horse", "horses"}, {"pony", "ponies"}, {"cause", "causes"},
	}
	var recs []record.Record
	for _, p := range pairs {
		recs = append(recs, record.Record{ID: "one-" + p[0], URL: "http://x/" + p[0] + ".jpg", Caption: "a " + p[0]},
			record.Record{ID: "many-" + p[0], URL: "http://x/" + p[1] + ".jpg", Caption: "some " + p[1]})
	}
	ix := openWith(t, 2, recs)
	for _, p := range pairs {
		for _, q := range p {
			res := mustSearch(t, ix, Request{Query: q})
			var ids []string
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
			}
			require.ElementsMatch(t, []string{"one-" + p[0], "many-" + p[0]}, ids, "q=%s", q)
		}
	}
}

func TestTrimSibilantPlural(t *testing.T) {
	for in, want := range map[string]string{
		"buses": "bus", "boxes": "box", "glasses": "glass", "benches": "bench", "brushes": "brush",
		"buzzes": "buzz", "campuses": "campus",
		"houses": "houses", "horses": "horses", "prizes": "prizes", "axes": "axes", "uses": "uses",
		"shoes": "shoes", "trees": "trees", "es": "es", "": "",
	} {
		require.Equal(t, want, string(trimSibilantPlural([]byte(in))), in)
	}
}
