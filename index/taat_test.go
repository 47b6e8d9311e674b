package index

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index/record"
)

// TestTermAtATimeMatchesSearchers runs every query twice, term at a time
// and through bleve's searcher tree, and requires the same hits in the
// same order with the same scores, totals and facets.
func TestTermAtATimeMatchesSearchers(t *testing.T) {
	g, err := synth.New(synth.Options{N: 1500, Seed: 5})
	require.NoError(t, err)
	var corpus []record.Record
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		require.NoError(t, r.Normalize())
		corpus = append(corpus, r)
	}
	corpus = append(corpus, skewedCorpus(300, 3)...)
	ix := openWith(t, 3, corpus)
	// Updates and deletes leave deleted documents in older segments.
	ctx := context.Background()
	require.NoError(t, ix.Apply(ctx, corpus[:200]))
	require.NoError(t, ix.Delete(ctx, corpus[200].ID, corpus[201].ID, corpus[1500].ID))

	minW := 1200
	queries := []Request{
		{Query: "beach"},
		{Query: "zephyr"},
		{Query: "bus"},
		{Query: "the beach"},         // a stop word analyzes to nothing
		{Query: "beach sunset"},      // should, with coordination
		{Query: "+beach +sunset"},    // must
		{Query: "(red OR bus) city"}, // nested
		{Query: "title:beach"},       // one field
		{Query: "서울"},                // Hangul bigram
		{Query: "서울 야경"},
		{Query: "e-mail"}, // two terms from one word
		{Query: "zzzznotaword"},
		{Query: "beach", Filter: Filter{WidthMin: &minW}, Facets: []string{"tags", "format", "width", "taken_at"}},
		{Query: "beach sunset", Filter: Filter{Tags: []string{"beach"}}},
		{Query: "bus", Filter: Filter{Format: []string{"png", "jpeg"}}, Sort: []string{"-width"}},
		{Query: "beach", Size: 50, From: 30},
		{Query: "bus", Sort: []string{"taken_at", "_score"}},
	}
	search := func(req Request, taat bool) *Result {
		termAtATime = taat
		defer func() { termAtATime = true }()
		return mustSearch(t, ix, req)
	}
	for _, req := range queries {
		want, got := search(req, false), search(req, true)
		require.Equal(t, want.Total, got.Total, "%+v", req)
		require.Equal(t, len(want.Hits), len(got.Hits), "%+v", req)
		for i := range want.Hits {
			w, g := want.Hits[i], got.Hits[i]
			require.Equal(t, w.ID, g.ID, "%+v: hit %d", req, i)
			require.LessOrEqual(t, math.Abs(w.Score-g.Score), 1e-9*math.Abs(w.Score), "%+v: hit %d", req, i)
		}
		require.Equal(t, want.Facets, got.Facets, "%+v", req)
		require.Equal(t, want.NextCursor == "", got.NextCursor == "", "%+v", req)
		if want.NextCursor != "" {
			next := req
			next.From, next.Cursor = 0, got.NextCursor
			w2, g2 := search(next, false), search(next, true)
			require.Equal(t, ids(w2.Hits), ids(g2.Hits), "%+v: page 2", req)
		}
	}
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}
