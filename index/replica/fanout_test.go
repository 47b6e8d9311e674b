package replica_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/cache"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/replica"
)

// TestFanoutOverReplicaSets: the unchanged fan-out over Sets of two
// identical replicas per shard answers exactly as one index does, with
// the phases of one search spread over both replicas, and behind the
// result cache too.
func TestFanoutOverReplicaSets(t *testing.T) {
	const shards = 2
	var recs []record.Record
	words := []string{"red bus", "river bridge", "old tower", "night market", "blue boat"}
	for i := range 60 {
		recs = append(recs, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i),
			Title: words[i%len(words)], Caption: words[(i/5)%len(words)] + " " + words[(i/2)%len(words)],
			Tags: []string{words[i%3]}, Width: 100 + i})
	}
	ctx := context.Background()
	var replicas []*index.Index
	for range 2 {
		ix, err := index.Open(t.TempDir(), index.Options{Shards: shards})
		require.NoError(t, err)
		t.Cleanup(func() { ix.Close() })
		require.NoError(t, ix.Apply(ctx, recs))
		replicas = append(replicas, ix)
	}
	var sets []index.Shard
	var byShard []*replica.Set
	for i := range shards {
		s := replica.NewSet(fmt.Sprintf("shard %d", i), replica.Options{})
		var ms []replica.Member
		for r, ix := range replicas {
			ms = append(ms, replica.Member{ID: fmt.Sprintf("server-%d", r), Shard: ix.Shards()[i], Healthy: true, CaughtUp: true})
		}
		require.NoError(t, s.Update(ms))
		sets = append(sets, s)
		byShard = append(byShard, s)
	}
	fan := index.NewFanout(sets, index.FanoutOptions{})
	cached := cache.New(fan, cache.Options{Version: func() string { return "g1" }})
	for _, req := range []*index.Request{
		{Query: "red bus"}, {Query: "bridge", Facets: []string{"tags"}}, {Query: "tow*", Sort: []string{"-width"}},
		{Filter: index.Filter{Tags: []string{"red bus"}}}, {Query: "river", Size: new(3), From: 2},
	} {
		want, err := replicas[0].Search(ctx, req)
		require.NoError(t, err)
		for _, s := range []index.Searcher{fan, cached, cached} {
			got, err := s.Search(ctx, req)
			require.NoError(t, err, "%s %+v", s, req)
			got.TookMS, want.TookMS = 0, 0
			got.Cost, want.Cost = index.Cost{}, index.Cost{}
			require.Equal(t, want, got, "%s %+v", s, req)
		}
	}
	for _, s := range byShard {
		for _, m := range s.Stats().Members {
			require.Positive(t, m.Calls, "every replica served some calls")
			require.Zero(t, m.Failures)
		}
	}
	_, err := cached.Search(ctx, &index.Request{Query: "((("})
	require.ErrorIs(t, err, index.ErrBadRequest)
}
