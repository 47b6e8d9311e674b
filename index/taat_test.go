package index

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
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
	// Every reading path gives the same results, to the bit.
	exact := map[int]*Result{}
	for _, tc := range []struct {
		name        string
		min         uint64 // hotMinPostings
		short, each bool   // shortListCache; and whether to search twice
	}{
		{"zap", 1 << 62, false, false},
		{"decoded", 1, false, false},
		{"kept-short", 1 << 62, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Decoded lists are built on first search, synchronously, for
			// every list (or none), and short lists are kept (or not), so
			// every reading path is compared.
			defer func(m uint64, s, c bool) { hotMinPostings, hotBuildSync, shortListCache = m, s, c }(hotMinPostings, hotBuildSync, shortListCache)
			hotMinPostings, hotBuildSync, shortListCache = tc.min, true, tc.short
			compareTermAtATime(t, corpus, tc.each, exact)
		})
	}
}

// compareTermAtATime compares term-at-a-time results with bleve's
// searchers', and exactly with those in exact (filled on first use); twice
// searches every query a second time, to read what the first one kept.
func compareTermAtATime(t *testing.T, corpus []record.Record, twice bool, exact map[int]*Result) {
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
		{Query: "beach", Size: new(50), From: 30},
		{Query: "bus", Sort: []string{"taken_at", "_score"}},
		{Query: `"sunset beach"`}, // phrases: BM25F words where they stand together
		{Query: `"beach sunset"`},
		{Query: `"the beach"`},         // one word left: the word
		{Query: `"beach at sunset"`},   // a stop word's gap
		{Query: `title:"red bus"`},     // one field
		{Query: `tags:"beach" sunset`}, // a one-word phrase
		{Query: `"서울 야경"`},
		{Query: `"beach sunset" bus`, Facets: []string{"tags"}},
		{Query: `+"beach sunset" -zzzz`},
		{Query: `"zzzznotaword beach"`},
	}
	search := func(req Request, taat bool) *Result {
		termAtATime = taat
		defer func() { termAtATime = true }()
		return mustSearch(t, ix, req)
	}
	for qi, req := range queries {
		want, got := search(req, false), search(req, true)
		if twice {
			again := search(req, true)
			again.TookMS = got.TookMS
			require.Equal(t, got, again, "%+v: searched again", req)
		}
		if e, ok := exact[qi]; ok {
			e.TookMS = got.TookMS
			require.Equal(t, e, got, "%+v: another reading path", req)
		} else {
			exact[qi] = got
		}
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

// TestDecodedListsBuiltInBackground checks that the background decoder
// fills in every segment's long lists, that searches agree before and
// after, and that closing the index stops it.
func TestDecodedListsBuiltInBackground(t *testing.T) {
	defer func(m uint64) { hotMinPostings = m }(hotMinPostings)
	hotMinPostings = 4
	corpus := skewedCorpus(900, 11)
	ix, err := Open(t.TempDir(), Options{Shards: 2})
	require.NoError(t, err)
	require.NoError(t, ix.Apply(context.Background(), corpus))
	before := mustSearch(t, ix, Request{Query: "bus river", Size: new(50)})

	ready := func() bool {
		found := false
		for _, sh := range ix.fan.shards {
			s := sh.(*localShard)
			adv, err := s.idx.Advanced()
			require.NoError(t, err)
			r, err := adv.Reader()
			require.NoError(t, err)
			snap := r.(*scorch.IndexSnapshot)
			ok := true
			for _, ss := range snap.Segments() {
				h := s.cols.hotPostings(ss.Segment())
				if h == nil {
					ok = false
				} else if _, i := h.lookup(fieldCaption, "bus"); i >= 0 {
					found = true
				}
			}
			r.Close()
			if !ok {
				return false
			}
		}
		return found
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		require.True(t, time.Now().Before(deadline), "long lists were not decoded")
		mustSearch(t, ix, Request{Query: "bus"}) // schedules new segments
		time.Sleep(10 * time.Millisecond)
	}
	after := mustSearch(t, ix, Request{Query: "bus river", Size: new(50)})
	require.Equal(t, ids(before.Hits), ids(after.Hits))
	for i := range before.Hits {
		require.InDelta(t, before.Hits[i].Score, after.Hits[i].Score, 1e-9*before.Hits[i].Score)
	}
	require.NoError(t, ix.Close())
}

// TestSegmentBestTies: a segment's best picks, taken before any offer,
// keep the same hits as offering every match, also through long runs of
// equal scores and with ids descending.
func TestSegmentBestTies(t *testing.T) {
	corpus := twinCorpus(400, 120, 4)
	ix := openWith(t, 2, corpus)
	require.NoError(t, ix.Apply(context.Background(), corpus[:30])) // a second segment
	for _, sort := range [][]string{nil, {"_score", "-_id"}} {
		for _, size := range []int{1, 7, 50} {
			req := Request{Query: "twin beach", Sort: sort, Size: new(size), From: 3}
			termAtATime = false
			want := mustSearch(t, ix, req)
			termAtATime = true
			got := mustSearch(t, ix, req)
			require.Equal(t, want.Total, got.Total, "%+v", req)
			require.Equal(t, ids(want.Hits), ids(got.Hits), "%+v", req)
		}
	}
}
