package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// queues runs f over a memory-only and a durable queue of three
// partitions.
func queues(t *testing.T, capacity int, f func(t *testing.T, m *Memory)) {
	for _, durable := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "durable"}[durable]
		t.Run(name, func(t *testing.T) {
			start := []int64{0, 0, 0}
			m := NewMemory(start, capacity)
			if durable {
				var err error
				m, err = OpenDurable(t.TempDir(), start, capacity)
				require.NoError(t, err)
			}
			defer m.Close()
			f(t, m)
		})
	}
}

// titles counts the queued messages by record title.
func titles(t *testing.T, m *Memory) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, items := range all(t, m) {
		for _, it := range items {
			var r record.Record
			require.NoError(t, json.Unmarshal(it.Value, &r))
			out[r.Title]++
		}
	}
	return out
}

// ackAll acknowledges everything queued.
func ackAll(t *testing.T, m *Memory) {
	t.Helper()
	for p, n := range m.Backlog() {
		require.NoError(t, m.Ack(p, m.Next(p)+n))
	}
}

// publishing starts Publish in the background; the channel gets its error.
func publishing(ctx context.Context, m *Memory, rs []record.Record) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Publish(ctx, rs) }()
	return done
}

// stillWaiting fails unless done stays silent for a while.
func stillWaiting(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while it should wait", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPublishCanceledPublishesNothing: a publisher that gives up while
// waiting for room leaves nothing behind, not the part that would fit.
func TestPublishCanceledPublishesNothing(t *testing.T) {
	queues(t, 10, func(t *testing.T, m *Memory) {
		ctx := context.Background()
		require.NoError(t, m.Publish(ctx, recs(0, 8, "first")))
		cctx, cancel := context.WithCancel(ctx)
		done := publishing(cctx, m, recs(100, 5, "given up"))
		stillWaiting(t, done, "a batch that does not fit")
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.Equal(t, 8, m.Pending())
		assert.Equal(t, map[string]int{"first": 8}, titles(t, m))

		ackAll(t, m)
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		require.NoError(t, m.Drain(dctx))
		assert.Zero(t, m.Pending())
		assert.Empty(t, titles(t, m), "the canceled batch never turns up")

		// An already canceled context publishes nothing even with room.
		require.ErrorIs(t, m.Publish(cctx, recs(200, 1, "late")), context.Canceled)
		assert.Zero(t, m.Pending())
	})
}

// TestPublishLargerThanCapacity: a batch over the capacity goes in whole
// once the queue is empty, and then holds back what comes after it.
func TestPublishLargerThanCapacity(t *testing.T) {
	queues(t, 10, func(t *testing.T, m *Memory) {
		ctx := context.Background()
		require.NoError(t, m.Publish(ctx, recs(0, 25, "big")), "an empty queue takes any batch")
		assert.Equal(t, map[string]int{"big": 25}, titles(t, m))
		ackAll(t, m)

		require.NoError(t, m.Publish(ctx, recs(100, 3, "small")))
		big := publishing(ctx, m, recs(200, 25, "big again"))
		stillWaiting(t, big, "a big batch behind a non-empty queue")
		ackAll(t, m)
		require.NoError(t, <-big)
		assert.Equal(t, map[string]int{"big again": 25}, titles(t, m))
		assert.Equal(t, 25, m.Pending())
	})
}

// TestPublishInOrder: publishers are admitted in the order they came, so a
// stream of small batches cannot starve a large one.
func TestPublishInOrder(t *testing.T) {
	queues(t, 10, func(t *testing.T, m *Memory) {
		ctx := context.Background()
		require.NoError(t, m.Publish(ctx, recs(0, 10, "full")))
		big := publishing(ctx, m, recs(100, 20, "big"))
		stillWaiting(t, big, "the big batch")
		small := publishing(ctx, m, recs(200, 1, "small"))
		stillWaiting(t, small, "the small batch")
		// Room for the small batch, but the big one is first in line.
		for p, n := range m.Backlog() {
			require.NoError(t, m.Ack(p, m.Next(p)+n/2))
		}
		stillWaiting(t, small, "the small batch behind the big one")
		ackAll(t, m)
		require.NoError(t, <-big)
		stillWaiting(t, small, "the small batch behind a full queue")
		ackAll(t, m)
		require.NoError(t, <-small)
		assert.Equal(t, map[string]int{"small": 1}, titles(t, m))
	})
}

// TestPublishClosed: a publisher waiting for room when the queue closes
// gets ErrClosed and publishes nothing.
func TestPublishClosed(t *testing.T) {
	queues(t, 5, func(t *testing.T, m *Memory) {
		ctx := context.Background()
		require.NoError(t, m.Publish(ctx, recs(0, 5, "x")))
		waiting := publishing(ctx, m, recs(10, 3, "y"))
		behind := publishing(ctx, m, recs(20, 3, "z"))
		stillWaiting(t, waiting, "a batch that does not fit")
		m.Close()
		require.ErrorIs(t, <-waiting, ErrClosed)
		require.ErrorIs(t, <-behind, ErrClosed)
		require.ErrorIs(t, m.Publish(ctx, recs(30, 1, "w")), ErrClosed)
	})
}

// TestPublishConcurrentAllOrNothing: publishers that give up at random
// moments, against a consumer acknowledging as it goes; every batch whose
// Publish returned nil is consumed whole, every other one not at all.
func TestPublishConcurrentAllOrNothing(t *testing.T) {
	queues(t, 40, func(t *testing.T, m *Memory) {
		ctx, stop := context.WithCancel(context.Background())
		seen := map[string]int{}
		var cwg sync.WaitGroup
		cwg.Go(func() {
			next := make([]int64, m.Partitions())
			for ctx.Err() == nil {
				for p := range m.Partitions() {
					rctx, cancel := context.WithTimeout(ctx, time.Millisecond)
					items, err := m.Read(rctx, p, next[p])
					cancel()
					if err != nil {
						continue
					}
					for _, it := range items {
						var r record.Record
						assert.NoError(t, json.Unmarshal(it.Value, &r))
						seen[r.Title]++
					}
					next[p] = items[len(items)-1].Offset + 1
					assert.NoError(t, m.Ack(p, next[p]))
				}
			}
		})
		var mu sync.Mutex
		published := map[string]int{}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for i := range 30 {
					title := fmt.Sprintf("w%d-%d", w, i)
					n := 1 + rng.IntN(60) // some over the capacity
					pctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(3000))*time.Microsecond)
					err := m.Publish(pctx, recs(w*100_000+i*100, n, title))
					cancel()
					if err == nil {
						mu.Lock()
						published[title] = n
						mu.Unlock()
					} else {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
					}
				}
			})
		}
		wg.Wait()
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		require.NoError(t, m.Drain(dctx))
		stop()
		cwg.Wait()
		assert.NotEmpty(t, published)
		assert.Equal(t, published, seen)
	})
}

// logs reads the n logs in dir as a restart would, before any recovery.
func logs(t *testing.T, dir string, n int) (items [][]Item, at [][]int64) {
	t.Helper()
	for p := range n {
		l, its, pos, err := openLog(dir, p)
		require.NoError(t, err)
		l.f.Close()
		items, at = append(items, its), append(at, pos)
	}
	return items, at
}

// TestDurableCrashMidBatch: a batch spans several partition logs; a
// process killed between two of their writes leaves some of its frames on
// disk. The next start replays none of that batch and all of the earlier
// ones — and tells such a batch from a whole one whose share in some
// partition was applied and emptied from its log.
func TestDurableCrashMidBatch(t *testing.T) {
	ctx := context.Background()
	const parts = 3
	// shares returns, for each partition, the index of batch b's first
	// frame in the log and how many it has.
	shares := func(items [][]Item, b uint64) (first, n []int) {
		first, n = make([]int, parts), make([]int, parts)
		for p, its := range items {
			first[p] = len(its)
			for i, it := range its {
				if it.batch == b {
					first[p] = min(first[p], i)
					n[p]++
				}
			}
		}
		return first, n
	}
	touched := func(n []int) (ps []int) {
		for p, k := range n {
			if k > 0 {
				ps = append(ps, p)
			}
		}
		return ps
	}
	cut := func(t *testing.T, dir string, p int, size int64) {
		require.NoError(t, os.Truncate(logPath(dir, p), size))
	}
	for _, c := range []struct {
		name string
		// applyShare: before the stop, the consumer applies all of the
		// first partition the last batch touched, its share included,
		// so that partition's log is emptied.
		applyShare bool
		// crash, when set, damages the logs of the stopped queue as a
		// kill during the write of the last batch would: then none of
		// that batch may come back.
		crash func(t *testing.T, dir string)
	}{
		{name: "written whole"},
		{name: "written whole, a share applied and emptied", applyShare: true},
		{name: "killed before the last partition", crash: func(t *testing.T, dir string) {
			items, at := logs(t, dir, parts)
			first, n := shares(items, 3)
			ps := touched(n)
			p := ps[len(ps)-1]
			cut(t, dir, p, at[p][first[p]])
		}},
		{name: "killed in the middle of a frame", crash: func(t *testing.T, dir string) {
			items, at := logs(t, dir, parts)
			first, n := shares(items, 3)
			ps := touched(n)
			p := ps[len(ps)-1]
			cut(t, dir, p, at[p][first[p]+n[p]-1]+5)
		}},
		{name: "killed in the first partition's last frame", crash: func(t *testing.T, dir string) {
			// Frames of the batch are left, none of them with its ends.
			items, at := logs(t, dir, parts)
			first, n := shares(items, 3)
			ps := touched(n)
			for _, p := range ps[1:] {
				cut(t, dir, p, at[p][first[p]])
			}
			p := ps[0]
			require.GreaterOrEqual(t, n[p], 2)
			cut(t, dir, p, at[p][first[p]+n[p]-1]+3)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			start := make([]int64, parts)
			m, err := OpenDurable(dir, start, 1000)
			require.NoError(t, err)
			for i, title := range []string{"a", "b", "c"} {
				require.NoError(t, m.Publish(ctx, recs(i*100, 30, title)))
			}
			before := all(t, m)
			applied := -1
			if c.applyShare {
				items, _ := logs(t, dir, parts)
				_, n := shares(items, 3)
				applied = touched(n)[0]
				start[applied] = m.Next(applied) + m.Backlog()[applied]
				require.NoError(t, m.Ack(applied, start[applied]))
				st, err := os.Stat(logPath(dir, applied))
				require.NoError(t, err)
				require.Zero(t, st.Size())
			}
			m.Close()
			if items, _ := logs(t, dir, parts); applied < 0 {
				_, n := shares(items, 3)
				require.GreaterOrEqual(t, len(touched(n)), 2, "the last batch spans partitions")
			}
			if c.crash != nil {
				c.crash(t, dir)
			}

			m, err = OpenDurable(dir, start, 1000)
			require.NoError(t, err)
			want := map[string]int{"a": 0, "b": 0, "c": 0}
			for p, items := range before {
				if p == applied {
					continue
				}
				for _, it := range items {
					var r record.Record
					require.NoError(t, json.Unmarshal(it.Value, &r))
					if r.Title != "c" || c.crash == nil {
						want[r.Title]++
					}
				}
			}
			for k, v := range want {
				if v == 0 {
					delete(want, k)
				}
			}
			assert.Equal(t, want, titles(t, m))
			assert.Equal(t, want["a"]+want["b"]+want["c"], m.Pending())

			// The queue goes on; a batch written after the cut is whole
			// after another restart, and the dropped one stays dropped.
			require.NoError(t, m.Publish(ctx, recs(1000, 30, "d")))
			m.Close()
			m, err = OpenDurable(dir, start, 1000)
			require.NoError(t, err)
			defer m.Close()
			want["d"] = 30
			assert.Equal(t, want, titles(t, m))
			for p, items := range all(t, m) {
				for i, it := range items {
					require.Equal(t, start[p]+int64(i), it.Offset, "offsets stay contiguous in partition %d", p)
				}
			}
		})
	}
}

// TestDurablePlainFrames: logs written before batches were recorded are
// read as they were; new batches follow them in the same file.
func TestDurablePlainFrames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var b []byte
	for i, r := range recs(0, 5, "old") {
		msg, err := Message(r, recordTime)
		require.NoError(t, err)
		b = appendPlainFrame(b, Item{Offset: int64(i), Key: msg.Key, Value: msg.Value, ProducedAt: recordTime})
	}
	require.NoError(t, os.WriteFile(logPath(dir, 0), b, 0o644))
	m, err := OpenDurable(dir, []int64{0}, 100)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"old": 5}, titles(t, m))
	require.NoError(t, m.Publish(ctx, recs(100, 3, "new")))
	m.Close()

	m, err = OpenDurable(dir, []int64{2}, 100)
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, map[string]int{"old": 3, "new": 3}, titles(t, m))
	items := all(t, m)[0]
	require.Len(t, items, 6)
	for i, it := range items {
		assert.EqualValues(t, 2+i, it.Offset)
	}
	assert.True(t, items[0].ProducedAt.Equal(recordTime))
}

// TestPublishWriteError: a batch whose write fails is not queued, and its
// room is given back.
func TestPublishWriteError(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenDurable(dir, []int64{0, 0}, 10)
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.logs[1].f.Close()) // every write to it fails
	err = m.Publish(context.Background(), recs(0, 10, "x"))
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrClosed))
	assert.Zero(t, m.Pending())
	assert.Empty(t, m.Backlog()[0])
	assert.Empty(t, m.Backlog()[1])
}
