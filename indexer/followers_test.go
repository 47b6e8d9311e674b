package indexer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

func titleOf(t *testing.T, ix *index.Index, url string) string {
	t.Helper()
	r := record.Record{URL: url}
	require.NoError(t, r.Normalize())
	raw, err := ix.Get(context.Background(), r.ID)
	if err != nil {
		return ""
	}
	var got record.Record
	require.NoError(t, json.Unmarshal(raw, &got))
	return got.Title
}

// TestFollowersRecordAndCatchUp: writes made while a generation is
// built are recorded, applied to it after its build (so they win over
// the build's older versions), and from the catch-up on it gets every
// batch; the queue resumes from the lowest position of all.
func TestFollowersRecordAndCatchUp(t *testing.T) {
	ctx := context.Background()
	live, err := index.Open(t.TempDir(), index.Options{Shards: 2})
	require.NoError(t, err)
	defer live.Close()
	f := NewFollowers(NewApplier(live))
	msg := func(off int64, url, title string) Mapped {
		v, _ := json.Marshal(record.Record{URL: url, Title: title})
		return MapAll([]Message{{Topic: EmbeddedTopic, Partition: 0, Offset: off, Key: []byte(url), Value: v}})[0]
	}
	_, err = f.ApplyMapped(ctx, []Mapped{msg(0, "https://e.com/a.jpg", "before")})
	require.NoError(t, err)

	built, err := index.Open(t.TempDir(), index.Options{Shards: 4})
	require.NoError(t, err)
	defer built.Close()
	log, err := CreatePendingLog(filepath.Join(t.TempDir(), "pending.jsonl"))
	require.NoError(t, err)
	defer log.Close()
	next, err := f.Record(log, EmbeddedTopic, 1)
	require.NoError(t, err)
	assert.Equal(t, map[int]int64{0: 1}, next)

	_, err = f.ApplyMapped(ctx, []Mapped{msg(1, "https://e.com/b.jpg", "during")})
	require.NoError(t, err)
	assert.EqualValues(t, 1, log.Count())
	// The build writes its (older) version of b, and a.
	b := record.Record{URL: "https://e.com/b.jpg", Title: "from the source"}
	a := record.Record{URL: "https://e.com/a.jpg", Title: "from the source"}
	require.NoError(t, built.Apply(ctx, []record.Record{a, b}))
	require.NoError(t, SeedOffsets(ctx, built, EmbeddedTopic, next))

	ba := NewApplier(built)
	require.NoError(t, f.CatchUp(ctx, log, ba))
	assert.Equal(t, "during", titleOf(t, built, "https://e.com/b.jpg"), "the write during the build wins")
	assert.Equal(t, "from the source", titleOf(t, built, "https://e.com/a.jpg"), "a write before the build is the source's to give")
	assert.Equal(t, 2, f.Len())

	_, err = f.ApplyMapped(ctx, []Mapped{msg(2, "https://e.com/c.jpg", "after")})
	require.NoError(t, err)
	assert.EqualValues(t, 1, log.Count(), "no more recording after the catch-up")
	assert.Equal(t, "after", titleOf(t, built, "https://e.com/c.jpg"))
	assert.Equal(t, "after", titleOf(t, live, "https://e.com/c.jpg"))
	off, err := f.Resume(EmbeddedTopic, 0)
	require.NoError(t, err)
	assert.EqualValues(t, 3, off)

	// Applied again (a retry after a failure), nothing changes twice.
	_, err = f.ApplyMapped(ctx, []Mapped{msg(1, "https://e.com/b.jpg", "during")})
	require.NoError(t, err)
	f.Remove(ba)
	assert.Equal(t, 1, f.Len())
}
