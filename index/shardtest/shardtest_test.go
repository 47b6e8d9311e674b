package shardtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/shardtest"
)

// OpenLocal is the local implementation: the shards of an index.
func openLocal(t *testing.T, recs []record.Record, n int) []index.Shard {
	ix, err := index.Open(t.TempDir(), index.Options{Shards: n})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Apply(context.Background(), recs))
	return ix.Shards()
}

func TestLocalShards(t *testing.T) { shardtest.Run(t, openLocal) }
