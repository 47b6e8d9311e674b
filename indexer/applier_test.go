package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// stream is a partition's messages: n images, each upserted in several
// versions, some deleted at the end, one poison message.
func stream(t testing.TB, n int) []Message {
	t.Helper()
	var msgs []Message
	add := func(r record.Record) {
		require.NoError(t, r.Normalize())
		v, err := json.Marshal(r)
		require.NoError(t, err)
		msgs = append(msgs, Message{Topic: "t", Partition: 0, Offset: int64(len(msgs)), Key: []byte(r.ID), Value: v})
	}
	for v := range 3 {
		for i := range n {
			add(record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: fmt.Sprintf("version %d", v)})
		}
	}
	msgs = append(msgs, Message{Topic: "t", Partition: 0, Offset: int64(len(msgs)), Value: []byte(`{"url":`)})
	for i := 0; i < n; i += 5 {
		add(record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Op: record.OpDelete})
	}
	return msgs
}

// expect checks the index holds exactly what the stream leaves: every
// image not deleted, in its last version.
func expect(t *testing.T, ix *index.Index, n int) {
	t.Helper()
	res, err := ix.Search(context.Background(), &index.Request{Size: new(1000)})
	require.NoError(t, err)
	assert.EqualValues(t, n-(n+4)/5, res.Total)
	for _, h := range res.Hits {
		var r record.Record
		require.NoError(t, json.Unmarshal(h.Image, &r))
		assert.Equal(t, "version 2", r.Title, r.URL)
	}
}

func openIndex(t *testing.T, dir string) *index.Index {
	t.Helper()
	ix, err := index.Open(dir, index.Options{Shards: 4})
	require.NoError(t, err)
	return ix
}

func TestApply(t *testing.T) {
	ix := openIndex(t, t.TempDir())
	defer ix.Close()
	a := NewApplier(ix)
	msgs := stream(t, 40)
	off, err := a.Resume("t", 0)
	require.NoError(t, err)
	assert.Zero(t, off)
	var rejected int
	for i := 0; i < len(msgs); i += 17 {
		res, err := a.Apply(context.Background(), msgs[i:min(i+17, len(msgs))])
		require.NoError(t, err)
		rejected += len(res.Rejected)
	}
	assert.Equal(t, 1, rejected)
	expect(t, ix, 40)
	off, err = a.Resume("t", 0)
	require.NoError(t, err)
	assert.EqualValues(t, len(msgs), off)

	// Applying everything again changes nothing.
	res, err := a.Apply(context.Background(), msgs)
	require.NoError(t, err)
	assert.Zero(t, res.Applied)
	expect(t, ix, 40)

	// After Restart the partition starts again at 0, durably, and
	// re-applying it in order leaves the same contents.
	require.NoError(t, a.Restart(context.Background(), "t", 0))
	for _, ap := range []*Applier{a, NewApplier(ix)} {
		off, err = ap.Resume("t", 0)
		require.NoError(t, err)
		assert.Zero(t, off)
	}
	res, err = a.Apply(context.Background(), msgs)
	require.NoError(t, err)
	assert.Equal(t, len(msgs)-1, res.Applied)
	expect(t, ix, 40)
}

// TestApplyCrashAnywhere kills the writer at random points — after some
// shards of a batch were written and not others — restarts it from what
// the shards hold, and checks the result is exact every time.
func TestApplyCrashAnywhere(t *testing.T) {
	msgs := stream(t, 30)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 12 {
		dir := t.TempDir()
		ix := openIndex(t, dir)
		a := NewApplier(ix)
		pos := int64(0)
		for pos < int64(len(msgs)) {
			end := min(pos+int64(1+rng.IntN(25)), int64(len(msgs)))
			batch := msgs[pos:end]
			if rng.IntN(3) == 0 {
				// Die half-way: only some shards get their batch.
				crash := &partialIndex{ix: ix, keep: rng.IntN(4)}
				crash.applyPartly(t, batch)
				require.NoError(t, ix.Close())
				ix = openIndex(t, dir)
				a = NewApplier(ix)
				var err error
				pos, err = a.Resume("t", 0)
				require.NoError(t, err)
				continue
			}
			_, err := a.Apply(context.Background(), batch)
			require.NoError(t, err)
			pos = end
		}
		t.Run(fmt.Sprint(trial), func(t *testing.T) { expect(t, ix, 30) })
		require.NoError(t, ix.Close())
	}
}

// partialIndex writes a batch to the first keep shards only, as a process
// killed between two shards' batches would have.
type partialIndex struct {
	ix   *index.Index
	keep int
}

func (p *partialIndex) applyPartly(t *testing.T, batch []Message) {
	a := NewApplier(p.ix)
	n := p.ix.NumShards()
	have := make([]int64, n)
	for s := range n {
		off, err := a.stored(s, "t", 0)
		require.NoError(t, err)
		have[s] = off
	}
	shares := make([][]record.Record, n)
	for _, m := range batch {
		r, err := Map(m)
		if err != nil {
			continue
		}
		if s := p.ix.ShardOf(r.ID); m.Offset > have[s] {
			shares[s] = append(shares[s], r)
		}
	}
	last := batch[len(batch)-1].Offset
	for s := range p.keep {
		if have[s] < last {
			require.NoError(t, p.ix.ApplyShard(context.Background(), s, shares[s],
				map[string][]byte{internalKey("t", 0): []byte(fmt.Sprint(last))}))
		}
	}
}

func TestMap(t *testing.T) {
	_, err := Map(Message{Value: []byte(`not json`)})
	assert.ErrorIs(t, err, record.ErrInvalid)
	r, err := Map(Message{Value: []byte(`{"url":"https://e.com/a.jpg"}`)})
	require.NoError(t, err)
	assert.NotEmpty(t, r.ID)
}

// TestApplyOrigins: a shard log holds a router's messages, then the same
// messages sent again after a crash (from an earlier origin offset), then
// new ones; the re-sends are skipped, in one batch or across batches, and
// the index ends exactly as the origin stream leaves it.
func TestApplyOrigins(t *testing.T) {
	origin := stream(t, 30) // as read from picdex.images partition 2
	var log []Message
	send := func(from, to int) {
		for _, m := range origin[from:to] {
			if _, err := Map(m); err != nil {
				continue // the router dead-letters it
			}
			log = append(log, Message{Topic: "picdex.shards.1", Partition: 0, Offset: int64(len(log)), Key: m.Key, Value: m.Value,
				Origin: Origin{Topic: "picdex.images", Partition: 2, Offset: m.Offset}})
		}
	}
	send(0, 50)
	send(20, 60) // crashed after 50, restarted from the commit at 20
	send(35, len(origin))
	for _, size := range []int{7, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ix, err := index.Open(t.TempDir(), index.Options{Shards: 1})
			require.NoError(t, err)
			defer ix.Close()
			a := NewApplier(ix)
			var resent int
			for i := 0; i < len(log); i += size {
				res, err := a.Apply(context.Background(), log[i:min(i+size, len(log))])
				require.NoError(t, err)
				resent += res.Resent
			}
			assert.Equal(t, 30+25, resent)
			expect(t, ix, 30)
			// The marks are durable: a new Applier skips the log again.
			res, err := NewApplier(ix).Apply(context.Background(), []Message{{Topic: "picdex.shards.1", Partition: 0, Offset: int64(len(log)),
				Value: []byte(`{"url":"https://example.com/0.jpg"}`), Origin: Origin{Topic: "picdex.images", Partition: 2, Offset: 3}}})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Resent)
			// Restart forgets the origins with the offsets.
			require.NoError(t, a.Restart(context.Background(), "picdex.shards.1", 0))
			res, err = NewApplier(ix).Apply(context.Background(), log[:1])
			require.NoError(t, err)
			assert.Equal(t, 1, res.Applied)
		})
	}
}

func TestParseOrigin(t *testing.T) {
	o, err := ParseOrigin("picdex.images/3/42")
	require.NoError(t, err)
	assert.Equal(t, Origin{Topic: "picdex.images", Partition: 3, Offset: 42}, o)
	assert.Equal(t, "picdex.images/3/42", o.String())
	for _, bad := range []string{"", "a", "a/1", "/1/2", "a/x/2", "a/1/y", "a/-1/2", "a/1/-2"} {
		_, err := ParseOrigin(bad)
		assert.Error(t, err, bad)
	}
}
