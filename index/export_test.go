package index

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestExportStored: every live document's stored record, once, after
// updates and deletes, also from an index of another mapping version,
// which Open refuses unless asked for OtherMapping.
func TestExportStored(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 3})
	require.NoError(t, err)
	recs := twinCorpus(300, 0, 7)
	require.NoError(t, ix.Apply(context.Background(), recs))
	changed := recs[5]
	changed.Title = "changed title"
	require.NoError(t, ix.Apply(context.Background(), []record.Record{changed}))
	require.NoError(t, ix.Apply(context.Background(), []record.Record{{ID: recs[7].ID, Op: record.OpDelete}}))
	require.NoError(t, ix.Close())

	// As an older picdex left it: another mapping version on disk.
	mf, err := readManifest(dir)
	require.NoError(t, err)
	mf.MappingVersion = MappingVersion - 1
	require.NoError(t, writeManifest(dir, mf))
	for i := range mf.Shards {
		s, err := openShard(filepath.Join(dir, fmt.Sprintf("shard-%03d", i)), true)
		require.NoError(t, err)
		require.NoError(t, s.idx.SetInternal(mappingVersionKey, []byte(strconv.Itoa(MappingVersion-1))))
		require.NoError(t, s.Close())
	}
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrMappingVersion)
	require.Contains(t, err.Error(), "picdex reindex --from live://")

	got := map[string]record.Record{}
	n, err := ExportStored(context.Background(), dir, func(raw json.RawMessage) error {
		r, err := record.Parse(raw)
		require.NoError(t, err)
		_, twice := got[r.ID]
		require.False(t, twice, "%s exported twice", r.ID)
		got[r.ID] = r
		return nil
	})
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
	}
	require.Equal(t, int64(len(ids)-1), n)
	require.Len(t, got, len(ids)-1)
	require.NotContains(t, got, recs[7].ID, "a deleted record")
	require.Equal(t, "changed title", got[changed.ID].Title, "the last version")

	old, err := Open(dir, Options{OtherMapping: true, IdleMerge: -1})
	require.NoError(t, err, "read as it is, for its offsets")
	require.NoError(t, old.Close())

	_, err = ExportStored(context.Background(), filepath.Join(t.TempDir(), "none"), func(json.RawMessage) error { return nil })
	require.Error(t, err)
}
