package index

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

var invarianceQueries = []string{
	"zephyr",                     // term skewed onto one shard
	"quokka",                     // rarer skewed term
	"zephyr lantern",             // match, should
	"title:zephyr",               // field term
	`"red bus"`,                  // phrase
	`caption:"zephyr"`,           // field phrase
	"+zephyr -lantern",           // boolean
	"+red +bus river^2",          // boolean with boost
	"(zephyr OR quokka) AND red", // grouping
	"zephir~1",                   // fuzzy
	"zeph*",                      // prefix
	"z?phyr",                     // wildcard
	"/qu.kka/",                   // regexp
	"bus",                        // common term
	"bus width:>2000",            // numeric range, constant score
	"+red taken_at:>=2015-01-01", // date range
}

// TestScoresIndependentOfShardCount is the ranking guarantee: the same
// corpus in 1, 4 and 16 shards gives the same hits in the same order with
// the same scores.
func TestScoresIndependentOfShardCount(t *testing.T) {
	corpus := skewedCorpus(1200, 7)
	indexes := map[int]*Index{}
	for _, n := range []int{1, 4, 16} {
		indexes[n] = openWith(t, n, corpus)
	}
	for _, q := range invarianceQueries {
		for _, req := range []Request{
			{Query: q, Size: new(50)},
			{Query: q, Size: new(20), Filter: Filter{Format: []string{"jpeg", "png"}}},
		} {
			base := mustSearch(t, indexes[1], req)
			require.NotEmpty(t, base.Hits, "query %q finds nothing; the test corpus is wrong", q)
			for _, n := range []int{4, 16} {
				got := mustSearch(t, indexes[n], req)
				require.Equal(t, base.Total, got.Total, "%q total, %d shards", q, n)
				require.Len(t, got.Hits, len(base.Hits), "%q, %d shards", q, n)
				for i := range base.Hits {
					b, g := base.Hits[i], got.Hits[i]
					require.Equal(t, b.ID, g.ID, "%q hit %d, %d shards", q, i, n)
					require.InDelta(t, 0, relDiff(b.Score, g.Score), 1e-6, "%q hit %d score %v vs %v, %d shards", q, i, b.Score, g.Score, n)
				}
			}
		}
	}
}

// TestLocalStatisticsWouldDiffer shows the test above has teeth: scoring
// each shard with its own statistics (what bleve does by default) changes
// the scores of the skewed terms.
func TestLocalStatisticsWouldDiffer(t *testing.T) {
	corpus := skewedCorpus(1200, 7)
	one := openWith(t, 1, corpus)
	four := openWith(t, 4, corpus)
	req := &Request{Query: "zephyr", Size: new(10)}
	base := mustSearch(t, one, *req)
	local, err := four.shards[0].SearchShard(context.Background(), &ShardRequest{Request: req})
	require.NoError(t, err)
	require.NotEmpty(t, local.Hits)
	want := map[string]float64{}
	for _, h := range base.Hits {
		want[h.ID] = h.Score
	}
	differs := false
	for _, h := range local.Hits {
		if s, ok := want[h.ID]; ok && relDiff(s, h.Score) > 1e-3 {
			differs = true
		}
	}
	require.True(t, differs, "local statistics gave the same scores; the corpus is not skewed")
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

// TestTiesOrderedByID: documents with equal scores come in id order, also
// when a page boundary cuts through a run of ties, on any shard count.
func TestTiesOrderedByID(t *testing.T) {
	corpus := twinCorpus(300, 60, 12)
	var want []string
	for _, n := range []int{1, 4, 16} {
		ix := openWith(t, n, corpus)
		var got []string
		for from := 0; from < 60; from += 7 {
			res := mustSearch(t, ix, Request{Query: "twin", From: from, Size: new(7)})
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
		}
		require.Len(t, got, 60)
		for i := 1; i < len(got); i++ {
			require.Less(t, got[i-1], got[i], "%d shards: equal scores in id order", n)
		}
		if want == nil {
			want = got
		}
		require.Equal(t, want, got)
	}
}

// TestScoresIndependentOfWriteHistory: replaced and deleted documents do
// not linger in the statistics, so an index with a history of updates
// scores like one built fresh, on any shard count.
func TestScoresIndependentOfWriteHistory(t *testing.T) {
	corpus := skewedCorpus(400, 13)
	fresh := openWith(t, 4, corpus)
	churned := openWith(t, 1, corpus)
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		changed := make([]record.Record, 0, 100)
		for i := 0; i < 100; i++ {
			r := corpus[i]
			r.Caption = "temporary zephyr lantern words " + r.Caption
			changed = append(changed, r)
		}
		require.NoError(t, churned.Apply(ctx, changed))
		require.NoError(t, churned.Apply(ctx, corpus[:100]))
	}
	extra := record.Record{ID: "gone", URL: "gone", Caption: "zephyr zephyr bus"}
	require.NoError(t, churned.Apply(ctx, []record.Record{extra}))
	require.NoError(t, churned.Delete(ctx, "gone"))
	for _, q := range []string{"zephyr", "bus river", `"red bus"`} {
		a := mustSearch(t, fresh, Request{Query: q, Size: new(20)})
		b := mustSearch(t, churned, Request{Query: q, Size: new(20)})
		require.Equal(t, a.Total, b.Total, q)
		for i := range a.Hits {
			require.Equal(t, a.Hits[i].ID, b.Hits[i].ID, "%q hit %d", q, i)
			require.InDelta(t, 0, relDiff(a.Hits[i].Score, b.Hits[i].Score), 1e-6, "%q hit %d", q, i)
		}
	}
}
