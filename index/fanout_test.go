package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// fakeShard misbehaves in one way, or delegates to a real shard.
type fakeShard struct {
	Shard
	name  string
	mode  string // "fail", "panic", "hang", "bad", or "" to delegate
	phase int    // fail only in this phase (1 stats, 2 search, 3 fetch); 0 all
}

func (f *fakeShard) String() string { return f.name }

func (f *fakeShard) misbehave(ctx context.Context, phase int) error {
	if f.phase != 0 && f.phase != phase {
		return nil
	}
	switch f.mode {
	case "fail":
		return errors.New("disk on fire")
	case "panic":
		panic("shard bug")
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	case "bad":
		return badParam("q", "rejected by shard")
	}
	return nil
}

func (f *fakeShard) TermStats(ctx context.Context, req *ShardRequest) (*TermStats, error) {
	if err := f.misbehave(ctx, 1); err != nil {
		return nil, err
	}
	if f.Shard == nil {
		return newTermStats(), nil
	}
	return f.Shard.TermStats(ctx, req)
}

func (f *fakeShard) SearchShard(ctx context.Context, req *ShardRequest) (*ShardResult, error) {
	if err := f.misbehave(ctx, 2); err != nil {
		return nil, err
	}
	if f.Shard == nil {
		return &ShardResult{}, nil
	}
	return f.Shard.SearchShard(ctx, req)
}

func (f *fakeShard) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	if err := f.misbehave(ctx, 3); err != nil {
		return nil, err
	}
	return f.Shard.Fetch(ctx, ids)
}

func TestFanoutPartialFailures(t *testing.T) {
	ix := openWith(t, 2, skewedCorpus(300, 2))
	full := mustSearch(t, ix, Request{Query: "bus", Size: new(100)})
	good := []Shard{&fakeShard{Shard: ix.shards[0], name: "s0"}, &fakeShard{Shard: ix.shards[1], name: "s1"}}
	for _, mode := range []string{"fail", "panic", "hang"} {
		for _, phase := range []int{1, 2} {
			bad := &fakeShard{name: "broken", mode: mode, phase: phase}
			f := NewFanout(append(append([]Shard{}, good...), bad), FanoutOptions{ShardTimeout: 200 * time.Millisecond})
			res, err := f.Search(context.Background(), &Request{Query: "bus", Size: new(100)})
			require.NoError(t, err, "%s in phase %d", mode, phase)
			require.Equal(t, 3, res.Shards.Total)
			require.Equal(t, 2, res.Shards.Successful)
			require.Equal(t, 1, res.Shards.Failed)
			require.Len(t, res.Shards.Failures, 1)
			require.Equal(t, "broken", res.Shards.Failures[0].Shard)
			require.Equal(t, full.Total, res.Total, "%s in phase %d: the healthy shards' hits are all there", mode, phase)
		}
	}
	// A shard failing to fetch its records loses its hits from the page,
	// and says so.
	flaky := &fakeShard{Shard: ix.shards[1], name: "flaky", mode: "fail", phase: 3}
	f := NewFanout([]Shard{good[0], flaky}, FanoutOptions{})
	res, err := f.Search(context.Background(), &Request{Query: "bus", Size: new(100)})
	require.NoError(t, err)
	require.Equal(t, 1, res.Shards.Failed)
	require.Contains(t, res.Shards.Failures[0].Reason, "fetch")
	require.Less(t, len(res.Hits), len(full.Hits))
	for _, h := range res.Hits {
		require.NotEmpty(t, h.Image)
	}

	// allow_partial=false: the same failure is an error, not a partial page.
	_, err = f.Search(context.Background(), &Request{Query: "bus", Size: new(100), AllowPartial: new(false)})
	require.ErrorIs(t, err, ErrPartial)
	res, err = f.Search(context.Background(), &Request{Query: "bus", Size: new(100), AllowPartial: new(true)})
	require.NoError(t, err)
	require.Equal(t, 1, res.Shards.Failed)

	// Every shard failing is an error, not an empty result.
	f = NewFanout([]Shard{&fakeShard{name: "a", mode: "fail"}, &fakeShard{name: "b", mode: "fail"}}, FanoutOptions{})
	_, err = f.Search(context.Background(), &Request{Query: "bus"})
	require.ErrorIs(t, err, ErrAllShardsFailed)
	// A shard that calls the request bad makes the whole request bad.
	f = NewFanout(append(append([]Shard{}, good...), &fakeShard{name: "c", mode: "bad"}), FanoutOptions{})
	_, err = f.Search(context.Background(), &Request{Query: "bus"})
	require.ErrorIs(t, err, ErrBadRequest)
	// A cancelled caller stops the search.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f = NewFanout([]Shard{&fakeShard{name: "h", mode: "hang"}}, FanoutOptions{})
	_, err = f.Search(ctx, &Request{Query: "bus"})
	require.Error(t, err)
}

// TestSearcherSuite runs the same checks against every Searcher
// implementation: the Index itself and a Fanout over its shards.
func TestSearcherSuite(t *testing.T) {
	corpus := skewedCorpus(400, 8)
	ix := openWith(t, 3, corpus)
	for name, s := range map[string]Searcher{
		"index":  ix,
		"fanout": NewFanout(ix.Shards(), FanoutOptions{MaxConcurrency: 1}),
	} {
		t.Run(name, func(t *testing.T) {
			res := mustSearch(t, s, Request{})
			require.EqualValues(t, len(corpus), res.Total, "empty query matches all")
			res = mustSearch(t, s, Request{Query: "zephyr", Size: new(5), Facets: []string{"format"}})
			require.Len(t, res.Hits, 5)
			require.NotEmpty(t, res.NextCursor)
			require.NotEmpty(t, res.Facets["format"])
			for i := 1; i < len(res.Hits); i++ {
				require.GreaterOrEqual(t, res.Hits[i-1].Score, res.Hits[i].Score)
			}
			_, err := s.Search(context.Background(), &Request{Query: "("})
			require.ErrorIs(t, err, ErrBadRequest)
			require.NotEmpty(t, s.String())
		})
	}
}

// TestInlineRecordsOfALopsidedPage: a page whose hits all come from one
// shard, more than that shard sends records for with phase 2, gets the
// rest in a fetch round, the same page as without records in phase 2.
func TestInlineRecordsOfALopsidedPage(t *testing.T) {
	ix, err := Open(t.TempDir(), Options{Shards: 4})
	require.NoError(t, err)
	defer ix.Close()
	var recs []record.Record
	for i := 0; len(recs) < 30; i++ {
		rec := record.Record{ID: fmt.Sprintf("img-%d", i), URL: fmt.Sprintf("https://example.org/%d.jpg", i), Title: "a zebra"}
		if ShardOf(rec.ID, 4) == 0 {
			recs = append(recs, rec)
		} else if i%3 == 0 {
			rec.Title = "a horse"
			recs = append(recs, rec)
		}
	}
	require.NoError(t, ix.Apply(context.Background(), recs))
	size := 12
	req := &Request{Query: "zebra", Size: &size}
	want, err := NewFanout(ix.Shards(), FanoutOptions{}).Search(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, want.Hits, size)
	require.Less(t, inlineShare(size, 4), size, "the test needs a page beyond one shard's share")
	got, err := NewFanout(ix.Shards(), FanoutOptions{InlineRecords: 100}).Search(context.Background(), req)
	require.NoError(t, err)
	want.TookMS, got.TookMS = 0, 0
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	require.Equal(t, string(wj), string(gj))
}

// TestBusyFanoutSameResults: with the cores busy, a search's shard calls
// and highlights run one after another on its own goroutine, and every
// answer is the same as when they run spread over goroutines.
func TestBusyFanoutSameResults(t *testing.T) {
	ix := openWith(t, 3, skewedCorpus(600, 9))
	require.True(t, ix.fan.local, "local shards run in process")
	queries := []Request{
		{Query: "beach"},
		{Query: "beach sunset city"},
		{Query: "+beach +sunset"},
		{Query: "bea*"},
		{Query: "title:beach", Facets: []string{"tags", "format", "width"}},
		{Query: "bus", Sort: []string{"-width", "_score"}, Size: new(30), From: 5},
		{Facets: []string{"license", "source"}},
	}
	for _, req := range queries {
		idle := mustSearch(t, ix, req)
		ix.fan.active.Add(1 << 20)
		require.True(t, ix.fan.busy())
		busy := mustSearch(t, ix, req)
		ix.fan.active.Add(-1 << 20)
		busy.TookMS = idle.TookMS
		require.Equal(t, idle, busy, "%+v", req)
	}
}

// TestInlineShareIsABinomialQuantile: a shard's share of a window is the
// 99.5th percentile of Binomial(window, 1/shards), never more than the
// window, and all of it on one shard.
func TestInlineShareIsABinomialQuantile(t *testing.T) {
	for _, c := range []struct{ window, shards, want int }{
		{10, 8, 4}, {10, 4, 6}, {10, 2, 9}, {24, 8, 8}, {48, 8, 12}, {100, 4, 37},
		{10, 1, 10}, {1, 8, 1}, {1000, 8, 153}, {1001, 8, 153}, {5000, 8, 686},
	} {
		require.Equal(t, c.want, inlineShare(c.window, c.shards), "%d hits over %d shards", c.window, c.shards)
	}
	// The share covers a shard's hits of the window in at least 99.5% of
	// random spreads.
	rng := rand.New(rand.NewPCG(1, 2))
	over := 0
	const trials = 20000
	for range trials {
		n := 0
		for range 10 {
			if rng.IntN(8) == 0 {
				n++
			}
		}
		if n > inlineShare(10, 8) {
			over++
		}
	}
	require.Less(t, float64(over)/trials, 0.0075)
}
