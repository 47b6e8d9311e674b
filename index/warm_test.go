package index

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWarmBuildsColumns: an index opened with Warm builds the columns of
// every segment of every shard for the id and every sort, filter and
// facet field before it says it is warmed; one opened without builds
// none until a search needs them, and a Close during warming returns.
func TestWarmBuildsColumns(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 3})
	require.NoError(t, err)
	// One batch: one segment a shard, which no merge replaces after the
	// reopen, between the warming and the count.
	require.NoError(t, ix.Apply(context.Background(), skewedCorpus(600, 5)))
	require.NoError(t, ix.Close())

	built := func(ix *Index) (have, want int) {
		for _, s := range ix.shards {
			snap, err := s.snapshot()
			require.NoError(t, err)
			for _, ss := range snap.Segments() {
				sc := s.cols.entry(ss.Segment())
				sc.mu.Lock()
				for _, f := range warmFields {
					want++
					if sc.cols[f] != nil {
						have++
					}
				}
				sc.mu.Unlock()
			}
			snap.Close()
		}
		return have, want
	}

	cold, err := Open(dir, Options{})
	require.NoError(t, err)
	require.True(t, cold.Warmed(), "an index opened without Warm has nothing to wait for")
	have, want := built(cold)
	require.Zero(t, have, "columns built with Warm off")
	require.NotZero(t, want)
	require.NoError(t, cold.Close())

	warm, err := Open(dir, Options{Warm: true})
	require.NoError(t, err)
	<-warm.warmDone
	require.True(t, warm.Warmed())
	have, want = built(warm)
	require.Equal(t, want, have, "columns missing after warming")
	for _, s := range warm.shards {
		s.lenMu.Lock()
		require.NotEmpty(t, s.lenCache, "field lengths not computed")
		s.lenMu.Unlock()
	}
	res := mustSearch(t, warm, Request{Query: "harbour OR red", Facets: []string{"format"}, Sort: []string{"-taken_at"}})
	require.NotZero(t, res.Total)
	require.NoError(t, warm.Close())

	again, err := Open(dir, Options{Warm: true})
	require.NoError(t, err)
	require.NoError(t, again.Close(), "closing while warming")
}
