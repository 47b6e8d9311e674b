package index

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIdleMerge: a shard that no write reaches merges into one segment,
// answering as before; a small write afterwards is not worth another
// merge.
func TestIdleMerge(t *testing.T) {
	// bleve's own policy merges small segments at once: here it leaves
	// them apart.
	defer func(o map[string]any) { mergePlanOptions = o }(mergePlanOptions)
	mergePlanOptions = map[string]any{"MaxSegmentsPerTier": 1000, "SegmentsPerMergeTask": 1000, "FloorSegmentSize": 1, "FloorSegmentFileSize": 1}
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 1, IdleMerge: -1})
	require.NoError(t, err)
	segments := func() int {
		snap, err := ix.shards[0].snapshot()
		require.NoError(t, err)
		defer snap.Close()
		return len(snap.Segments())
	}
	ctx := context.Background()
	corpus := skewedCorpus(600, 9)
	for i := 0; i < len(corpus); i += 120 {
		require.NoError(t, ix.Apply(ctx, corpus[i:i+120]))
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	require.Greater(t, segments(), 1, "batches left apart")
	require.NoError(t, ix.Close())
	ix, err = Open(dir, Options{Shards: 1, IdleMerge: 300 * time.Millisecond})
	require.NoError(t, err)
	defer ix.Close()
	require.Greater(t, segments(), 1)
	queries := []Request{{Query: "bus river", Size: new(50)}, {Query: `"red bus"`}, {Facets: []string{"tags"}, Sort: []string{"-taken_at"}}}
	var before []*Result
	for _, q := range queries {
		before = append(before, mustSearch(t, ix, q))
	}
	// The merged segment is searched before the merge is counted (the
	// count comes once the segment is warm): wait for both.
	require.Eventually(t, func() bool { return segments() == 1 && ix.idleMerges.Load() >= 1 }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, int64(1), ix.idleMerges.Load())
	for i, q := range queries {
		after := mustSearch(t, ix, q)
		after.TookMS = before[i].TookMS
		require.Equal(t, before[i], after, "%+v", q)
	}

	// A write afterwards is searched as usual.
	require.NoError(t, ix.Delete(ctx, corpus[0].ID))
	require.Equal(t, before[2].Total-1, mustSearch(t, ix, queries[2]).Total)
}

func TestWorthMerging(t *testing.T) {
	for _, tc := range []struct {
		counts []uint64
		want   bool
	}{
		{nil, false},
		{[]uint64{1000}, false},
		{[]uint64{1000, 125}, true}, // an eighth beside the largest
		{[]uint64{1000, 100, 20}, false},
		{[]uint64{1000, 1, 1, 1, 1, 1, 1, 1}, true}, // eight segments
		{[]uint64{idleMergeMaxDocs, idleMergeMaxDocs}, false},
	} {
		require.Equal(t, tc.want, worthMerging(tc.counts), "%v", tc.counts)
	}
}
