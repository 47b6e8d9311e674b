package indexer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

func versions(n, v int) []record.Record {
	var recs []record.Record
	for i := range n {
		recs = append(recs, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: fmt.Sprintf("version %d", v)})
	}
	return recs
}

func TestEmbedded(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testEmbedded(t, false) })
	t.Run("durable", func(t *testing.T) { testEmbedded(t, true) })
}

func testEmbedded(t *testing.T, durable bool) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := EmbeddedOptions{Capacity: 64, BatchRecords: 50, BatchWait: 5 * time.Millisecond}
	if durable {
		opts.Dir = filepath.Join(dir, "queue")
	}
	run := func(publish func(e *Embedded)) {
		ix := openIndex(t, dir)
		defer ix.Close()
		e, err := NewEmbedded(NewApplier(ix), opts)
		require.NoError(t, err)
		defer e.Close()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- e.Run(rctx) }()
		publish(e)
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		require.NoError(t, e.Queue().Drain(dctx))
		dcancel()
		cancel()
		require.NoError(t, <-done)
	}
	// Three versions through a queue of 64: Publish waits for room.
	run(func(e *Embedded) {
		for v := range 3 {
			require.NoError(t, e.Queue().Publish(ctx, versions(40, v)))
		}
	})
	// A restart continues the offsets; deletes come after the upserts.
	run(func(e *Embedded) {
		var dels []record.Record
		for i := 0; i < 40; i += 5 {
			dels = append(dels, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Op: record.OpDelete})
		}
		require.NoError(t, e.Queue().Publish(ctx, versions(40, 2)))
		require.NoError(t, e.Queue().Publish(ctx, dels))
	})
	ix := openIndex(t, dir)
	defer ix.Close()
	expect(t, ix, 40)
}

func TestEmbeddedBackPressure(t *testing.T) {
	ix := openIndex(t, t.TempDir())
	defer ix.Close()
	e, err := NewEmbedded(NewApplier(ix), EmbeddedOptions{Capacity: 10})
	require.NoError(t, err)
	require.NoError(t, e.Queue().Publish(context.Background(), versions(8, 0)))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = e.Queue().Publish(ctx, versions(5, 1))
	require.ErrorIs(t, err, context.DeadlineExceeded, "no consumer, no room")
	assert.Equal(t, 8, e.Queue().Pending(), "a batch that does not fit is not queued, not even in part")
	var lag int64
	for _, l := range e.Stats.Lag() {
		lag += l
	}
	assert.EqualValues(t, 8, lag, "the lag is the backlog of the partitions")
	assert.Len(t, e.Stats.Lag(), 4)
}
