package index

import (
	"context"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestFetchRepairsUTF8: a record stored raw with invalid UTF-8 in an
// unknown field, as versions before ingest repaired it stored them, is
// served as valid JSON.
func TestFetchRepairsUTF8(t *testing.T) {
	ctx := context.Background()
	ix, err := Open(t.TempDir(), Options{Shards: 1})
	require.NoError(t, err)
	defer ix.Close()
	r := record.Record{URL: "https://ex.test/old.jpg", Title: "old"}
	require.NoError(t, r.Normalize())
	raw := []byte(`{"id":"` + r.ID + `","url":"https://ex.test/old.jpg","title":"old","x":"a` + "\xff\xfe" + `"}`)
	require.NoError(t, ix.shards[0].apply(ctx, []op{{rec: &r, raw: raw}}, nil))

	got, err := ix.Get(ctx, r.ID)
	require.NoError(t, err)
	require.True(t, utf8.Valid(got), "%q", got)
	require.Equal(t, `{"id":"`+r.ID+`","url":"https://ex.test/old.jpg","title":"old","x":"a\ufffd\ufffd"}`, string(got))
}
