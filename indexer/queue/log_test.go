package queue

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

func recs(from, n int, title string) []record.Record {
	var out []record.Record
	for i := from; i < from+n; i++ {
		out = append(out, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: title})
	}
	return out
}

var recordTime = time.Unix(1_700_000_000, 0)

// same compares messages by offset, key, value and production time.
func same(t *testing.T, want, got []Item) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Offset, got[i].Offset)
		assert.Equal(t, want[i].Key, got[i].Key)
		assert.Equal(t, want[i].Value, got[i].Value)
		assert.True(t, want[i].ProducedAt.Equal(got[i].ProducedAt))
	}
}

// all reads every queued message of every partition.
func all(t *testing.T, m *Memory) map[int][]Item {
	t.Helper()
	out := map[int][]Item{}
	for p := range m.Partitions() {
		if m.Backlog()[p] == 0 {
			continue
		}
		items, err := m.Read(context.Background(), p, m.Next(p))
		require.NoError(t, err)
		out[p] = items
	}
	return out
}

// TestDurable: what was published and not acknowledged when the process
// stopped — without draining, as after kill -9 — is queued again, at the
// same offsets, when the queue is opened again; offsets then go on.
func TestDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := OpenDurable(dir, []int64{0, 0, 0}, 1000)
	require.NoError(t, err)
	require.NoError(t, m.Publish(ctx, recs(0, 60, "first")))
	before := all(t, m)
	// The consumer applied partition 0 up to two before its end, and all
	// of partition 1.
	acked := []int64{int64(len(before[0]) - 2), int64(len(before[1])), 0}
	require.NoError(t, m.Ack(0, acked[0]))
	require.NoError(t, m.Ack(1, acked[1]))
	st, err := os.Stat(logPath(dir, 1))
	require.NoError(t, err)
	assert.Zero(t, st.Size(), "a log with everything acknowledged is emptied")
	m.Close() // no Drain

	m, err = OpenDurable(dir, acked, 1000)
	require.NoError(t, err)
	assert.Equal(t, 2+len(before[2]), m.Pending())
	after := all(t, m)
	same(t, before[0][len(before[0])-2:], after[0])
	assert.Empty(t, after[1])
	same(t, before[2], after[2])

	require.NoError(t, m.Publish(ctx, recs(0, 60, "second")))
	for p, items := range all(t, m) {
		for i, it := range items {
			assert.Equal(t, acked[p]+int64(i), it.Offset, "partition %d", p)
		}
	}
	m.Close()
}

// publishAndReopen publishes one more record to the one-partition queue
// m, closes it, opens dir again from offset start and returns what is
// queued.
func publishAndReopen(t *testing.T, m *Memory, dir string, start int64) []Item {
	t.Helper()
	require.NoError(t, m.Publish(context.Background(), recs(1000, 1, "more")))
	m.Close()
	m, err := OpenDurable(dir, []int64{start}, 1000)
	require.NoError(t, err)
	defer m.Close()
	return all(t, m)[0]
}

// TestDurableTornTail: a frame cut short or corrupted — the process died
// while writing it — ends the log; everything before it is kept, and the
// log takes new messages after it. (Ten batches of one record each: a
// torn frame takes its whole batch with it, see TestDurableCrashMidBatch.)
func TestDurableTornTail(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []struct {
		name string
		do   func(b []byte) []byte
	}{
		{"cut mid-frame", func(b []byte) []byte { return b[:len(b)-7] }},
		{"flipped byte in the last frame", func(b []byte) []byte { b[len(b)-3] ^= 0xff; return b }},
		{"garbage after the last frame", func(b []byte) []byte { return append(b, 0, 0, 0, 40, 1, 2, 3) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := OpenDurable(dir, []int64{0}, 100)
			require.NoError(t, err)
			for i := range 10 {
				require.NoError(t, m.Publish(ctx, recs(i, 1, "x")))
			}
			m.Close()
			b, err := os.ReadFile(logPath(dir, 0))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(logPath(dir, 0), damage.do(b), 0o644))

			m, err = OpenDurable(dir, []int64{0}, 100)
			require.NoError(t, err)
			want := 10
			if damage.name != "garbage after the last frame" {
				want = 9
			}
			assert.Equal(t, want, m.Pending())
			items := publishAndReopen(t, m, dir, 0)
			require.Len(t, items, want+1)
			assert.EqualValues(t, want, items[want].Offset)
		})
	}
}

// TestDurableCompaction: a log past its size limit whose front is
// acknowledged is rewritten with the unacknowledged messages only.
func TestDurableCompaction(t *testing.T) {
	defer func(v int64) { compactAt = v }(compactAt)
	compactAt = 2000
	ctx := context.Background()
	dir := t.TempDir()
	m, err := OpenDurable(dir, []int64{0}, 1000)
	require.NoError(t, err)
	require.NoError(t, m.Publish(ctx, recs(0, 100, "x")))
	require.NoError(t, m.Ack(0, 95))
	st, err := os.Stat(logPath(dir, 0))
	require.NoError(t, err)
	assert.Less(t, st.Size(), compactAt)
	items := publishAndReopen(t, m, dir, 95)
	require.Len(t, items, 6)
	assert.EqualValues(t, 95, items[0].Offset)
	assert.EqualValues(t, 100, items[5].Offset)
}

// TestDurableConcurrent: publishers racing each other and a consumer
// acknowledging as it goes; reopened, the logs hold exactly the messages
// not acknowledged, at contiguous offsets.
func TestDurableConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := []int64{0, 0, 0}
	m, err := OpenDurable(dir, start, 200)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				assert.NoError(t, m.Publish(ctx, recs(w*1000+i*3, 3, "x")))
			}
		})
	}
	// The consumer acknowledges all but the last few of each partition.
	acked := make([]int64, 3)
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for p := range 3 {
				if n := m.Backlog()[p]; n > 5 {
					acked[p] = m.Next(p) + n - 5
					assert.NoError(t, m.Ack(p, acked[p]))
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	cwg.Wait()
	left := m.Pending()
	m.Close()

	for p := range 3 {
		start[p] = acked[p]
	}
	m, err = OpenDurable(dir, start, 200)
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, left, m.Pending())
	for p, items := range all(t, m) {
		for i, it := range items {
			require.Equal(t, acked[p]+int64(i), it.Offset)
		}
	}
}

func TestDurablePartitionsMismatch(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenDurable(dir, []int64{0, 0, 0, 0}, 10)
	require.NoError(t, err)
	m.Close()
	_, err = OpenDurable(dir, []int64{0, 0}, 10)
	assert.ErrorContains(t, err, "more partitions")
}

// appendPlainFrame writes a frame as logs did before batches were
// recorded, for the tests of the upgrade path.
func appendPlainFrame(buf []byte, it Item) []byte {
	payload := binary.BigEndian.AppendUint64(nil, uint64(it.Offset))
	payload = binary.BigEndian.AppendUint64(payload, uint64(it.ProducedAt.UnixNano()))
	payload = binary.AppendUvarint(payload, uint64(len(it.Key)))
	payload = append(append(payload, it.Key...), it.Value...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, castagnoli))
	return append(buf, payload...)
}

// FuzzReadFrames: any bytes in a log open without a panic, and what they
// hold — batches and their ends included — is kept through a rewrite.
func FuzzReadFrames(f *testing.F) {
	var seed, plain []byte
	for i, r := range recs(0, 3, "seed") {
		msg, _ := Message(r, recordTime)
		it := Item{Offset: int64(i), Key: msg.Key, Value: msg.Value, ProducedAt: recordTime, batch: 7}
		if i == 2 {
			it.ends = []partEnd{{part: 0, end: 3}, {part: 3, end: 12}}
		}
		seed = appendFrame(seed, it)
		plain = appendPlainFrame(plain, it)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add(plain)
	f.Add(append(plain[:len(plain):len(plain)], seed...))
	f.Add([]byte{0, 0, 0, 17, 0, 0, 0, 0})
	f.Add([]byte{0x80, 0, 0, 19, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(logPath(dir, 0), b, 0o644))
		l, items, at, err := openLog(dir, 0)
		require.NoError(t, err)
		defer l.f.Close()
		require.LessOrEqual(t, l.size, int64(len(b)))
		require.Len(t, at, len(items))
		for i := 1; i < len(at); i++ {
			require.Less(t, at[i-1], at[i])
		}
		require.NoError(t, l.rewrite(items))
		l2, again, _, err := openLog(dir, 0)
		require.NoError(t, err)
		l2.f.Close()
		require.Equal(t, len(items), len(again))
		for i := range items {
			require.Equal(t, items[i].Offset, again[i].Offset)
			require.Equal(t, items[i].Key, again[i].Key)
			require.Equal(t, items[i].Value, again[i].Value)
			require.Equal(t, items[i].batch, again[i].batch)
			require.Equal(t, items[i].ends, again[i].ends)
		}
	})
}

// BenchmarkPublish publishes one record per call from parallel
// publishers, the shape of many small POST /v1/images requests, into a
// durable queue and, as the baseline, a memory-only one.
func BenchmarkPublish(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			start := []int64{0, 0, 0, 0}
			m := NewMemory(start, 1<<30)
			if durable {
				var err error
				if m, err = OpenDurable(b.TempDir(), start, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
			defer m.Close()
			r := recs(0, 1, "bench")
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := m.Publish(context.Background(), r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
