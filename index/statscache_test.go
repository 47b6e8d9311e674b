package index

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// unversioned hides a shard's content version, as a shard that cannot
// tell would: the fan-out asks it for statistics every time.
type unversioned struct{ Shard }

func hideVersions(shards []Shard) []Shard {
	out := make([]Shard, len(shards))
	for i, s := range shards {
		out[i] = unversioned{s}
	}
	return out
}

// requireSameHits holds got to want's hits, order and scores.
func requireSameHits(t *testing.T, want, got *Result, what string) {
	t.Helper()
	require.Equal(t, want.Total, got.Total, what)
	require.Len(t, got.Hits, len(want.Hits), what)
	for i := range want.Hits {
		require.Equal(t, want.Hits[i].ID, got.Hits[i].ID, "%s: hit %d", what, i)
		require.Equal(t, want.Hits[i].Score, got.Hits[i].Score, "%s: hit %d", what, i)
	}
}

// TestKeptStatisticsScoreAsPhaseOne: a search scored with kept
// statistics gives exactly the hits and scores of one with a phase 1,
// and a write to any shard makes the fan-out ask again.
func TestKeptStatisticsScoreAsPhaseOne(t *testing.T) {
	ix := openWith(t, 4, skewedCorpus(800, 3))
	plain := NewFanout(hideVersions(ix.Shards()), FanoutOptions{})
	queries := []string{"zephyr", "quokka zephyr", "red bus", "title:zephyr lantern", "bus OR train", "e-mail", "the"}
	check := func(round string) {
		for _, q := range queries {
			req := Request{Query: q, Size: new(30)}
			requireSameHits(t, mustSearch(t, plain, req), mustSearch(t, ix, req), round+" "+q)
		}
	}
	check("first")
	before := ix.FanoutStats()
	check("second")
	after := ix.FanoutStats()
	require.Equal(t, uint64(len(queries)), after.StatsCached-before.StatsCached, "every repeated plain-word search skips phase 1")
	require.Equal(t, before.StatsRounds, after.StatsRounds)
	require.Zero(t, plain.Stats().StatsCached, "shards without versions are always asked")

	// One new document on one shard: every kept sum is stale.
	quokkas := mustSearch(t, ix, Request{Query: "quokka"}).Total
	require.NoError(t, ix.Apply(context.Background(), []record.Record{{ID: "img-new", URL: "https://example.com/new.jpg", Title: "zephyr zephyr quokka", Caption: "red bus"}}))
	check("after a write")
	require.Greater(t, ix.FanoutStats().StatsRounds, after.StatsRounds, "a write makes the fan-out ask again")
	require.Equal(t, quokkas+1, mustSearch(t, ix, Request{Query: "quokka"}).Total)
}

// TestStatKeysAreWhatPhaseOneRecords: the fan-out's own list of a plain
// query's (field, term) pairs is exactly what a shard's phase 1 records,
// so a search it scores from kept statistics lacks none of them.
func TestStatKeysAreWhatPhaseOneRecords(t *testing.T) {
	ix := openWith(t, 1, skewedCorpus(200, 5))
	an, err := textAnalyzerOnce()
	require.NoError(t, err)
	for _, q := range []string{"zephyr", "red red bus", "title:zephyr lantern", "e-mail", "bus OR train", "running walking", "the zephyr", "東京タワー",
		"red bus train zephyr lantern city beach sunset red bus night market", // past 32 keys, repeats
		`"red bus"`, `title:"the red bus" zephyr`} { // phrases are their words, checked for order
		req := &Request{Query: q}
		p, err := req.validate()
		require.NoError(t, err)
		keys, ok := statKeys(p, an)
		require.True(t, ok, q)
		st, err := ix.shards[0].TermStats(context.Background(), &ShardRequest{Request: req, plan: p})
		require.NoError(t, err)
		// Counted directly, as the searcher tree records them.
		countPlainTerms = false
		tree, err := ix.shards[0].TermStats(context.Background(), &ShardRequest{Request: req, plan: p})
		countPlainTerms = true
		require.NoError(t, err)
		require.Equal(t, tree, st, q)
		var recorded []fieldTerm
		for f, terms := range st.DocFreq {
			for term := range maps.Keys(terms) {
				recorded = append(recorded, fieldTerm{f, term})
			}
		}
		cmp := func(a, b fieldTerm) int {
			if a.field != b.field {
				return compareStrings(a.field, b.field)
			}
			return compareStrings(a.term, b.term)
		}
		slices.SortFunc(keys, cmp)
		slices.SortFunc(recorded, cmp)
		require.Equal(t, recorded, keys, q)
	}
	for _, q := range []string{"zeph*", "zephir~1", "red -bus", "bus width:>2000", "*"} {
		req := &Request{Query: q}
		p, err := req.validate()
		require.NoError(t, err)
		_, ok := statKeys(p, an)
		require.False(t, ok, "%q needs a shard to tell its terms", q)
	}
}

// TestKeptAnalysesHighlightAlike: a highlight from a kept analysis is the
// one a fresh analysis gives, and the keeper stays within its bound.
func TestKeptAnalysesHighlightAlike(t *testing.T) {
	an, err := textAnalyzerOnce()
	require.NoError(t, err)
	terms := map[string]map[string]uint64{fieldTitle: {"run": 1, "dog": 1}, fieldCaption: {"park": 1}}
	fresh := &highlighter{an: an, terms: terms}
	kept := &highlighter{an: an, terms: terms, known: &analyzedTexts{}}
	raw := []byte(`{"title":"Running dogs <b>","caption":"in the parks of Paris, a dog runs"}`)
	want := fresh.highlight(raw)
	require.NotEmpty(t, want)
	for range 3 {
		require.Equal(t, want, kept.highlight(raw))
	}
	big := strings.Repeat("x", 1<<20)
	for i := range 40 {
		kept.known.tokens(an, big+string(rune('a'+i)))
	}
	require.LessOrEqual(t, kept.known.bytes, maxAnalyzedBytes)
}

// writeDuring is a shard that takes a write, once, as phase 2 begins.
type writeDuring struct {
	Shard
	write func()
}

func (w *writeDuring) ContentVersion() (uint64, bool) {
	return w.Shard.(VersionedShard).ContentVersion()
}

func (w *writeDuring) SearchShard(ctx context.Context, req *ShardRequest) (*ShardResult, error) {
	if w.write != nil {
		w.write()
		w.write = nil
	}
	return w.Shard.SearchShard(ctx, req)
}

// TestWriteDuringKeptStatistics: a write that lands while a search is
// scored with kept statistics makes the fan-out search again, afresh, so
// the answer is that of the new contents with their own statistics.
func TestWriteDuringKeptStatistics(t *testing.T) {
	ix := openWith(t, 1, skewedCorpus(300, 3))
	shard := &writeDuring{Shard: ix.Shards()[0]}
	f := NewFanout([]Shard{shard}, FanoutOptions{})
	plain := NewFanout(hideVersions(ix.Shards()), FanoutOptions{})
	req := Request{Query: "quokka zephyr", Size: new(50)}
	mustSearch(t, f, req)
	mustSearch(t, f, req)
	require.EqualValues(t, 1, f.Stats().StatsCached, "statistics kept")

	shard.write = func() {
		require.NoError(t, ix.Apply(context.Background(), []record.Record{{ID: "img-new", URL: "https://example.com/new.jpg", Title: "quokka quokka quokka zephyr"}}))
	}
	got := mustSearch(t, f, req)
	require.EqualValues(t, 1, f.Stats().StatsStale, "searched again")
	requireSameHits(t, mustSearch(t, plain, req), got, "after the write")
	require.Equal(t, "img-new", got.Hits[0].ID)
}
