package mapreduce

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wordCount is the job that counts the words of its lines, each
// partition into its own map.
func wordCount(lines []string, partitions int, counts []map[string]int) *Job[string, int] {
	return &Job[string, int]{
		Name:       "wordcount",
		Splits:     lines,
		Partitions: partitions,
		Map: func(ctx context.Context, line string, out *Emitter[int]) error {
			for _, w := range strings.Fields(line) {
				if err := out.Emit(w, 1); err != nil {
					return err
				}
			}
			return nil
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			counts[p] = map[string]int{}
			for kv := range in {
				counts[p][kv.Key] += kv.Value
			}
			return nil
		},
	}
}

func TestWordCount(t *testing.T) {
	var lines []string
	want := map[string]int{}
	for i := range 500 {
		var ws []string
		for j := range i%17 + 1 {
			w := fmt.Sprintf("w%d", (i*7+j*13)%101)
			ws = append(ws, w)
			want[w]++
		}
		lines = append(lines, strings.Join(ws, " "))
	}
	for _, partitions := range []int{1, 4, 7} {
		counts := make([]map[string]int, partitions)
		var last Stats
		st, err := RunLocal(context.Background(), wordCount(lines, partitions, counts),
			LocalOptions{Mappers: 3, Buffer: 8, Progress: func(s Stats) { last = s }})
		require.NoError(t, err)
		got := map[string]int{}
		for p, c := range counts {
			for w, n := range c {
				require.Equal(t, p, HashPartition(w, partitions), "%q reduced in partition %d", w, p)
				got[w] += n
			}
		}
		require.Equal(t, want, got)
		require.Equal(t, len(lines), st.Splits)
		require.Equal(t, len(lines), st.SplitsDone)
		require.Zero(t, st.Pending)
		total := 0
		for _, n := range want {
			total += n
		}
		require.Equal(t, uint64(total), st.Emitted)
		sum := uint64(0)
		for _, n := range st.Partitions {
			sum += n
		}
		require.Equal(t, st.Emitted, sum)
		require.Equal(t, st.Emitted, last.Emitted, "the last progress is the final stats")
	}
}

// TestPairsKeepTheirSplitsOrder: a reduce task sees each split's pairs
// in the order they were emitted, numbered from 0.
func TestPairsKeepTheirSplitsOrder(t *testing.T) {
	splits := make([]int, 40)
	for i := range splits {
		splits[i] = i
	}
	var mu sync.Mutex
	next := map[int]uint64{}
	job := &Job[int, int]{
		Splits: splits, Partitions: 3,
		Map: func(ctx context.Context, s int, out *Emitter[int]) error {
			for k := range 300 {
				if err := out.Emit(fmt.Sprint(k%9), k); err != nil {
					return err
				}
			}
			return nil
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			last := map[int]int{}
			for kv := range in {
				if prev, ok := last[kv.Split]; ok && kv.Value <= prev {
					return fmt.Errorf("split %d: %d after %d", kv.Split, kv.Value, prev)
				}
				last[kv.Split] = kv.Value
				mu.Lock()
				if kv.Seq != uint64(kv.Value) {
					mu.Unlock()
					return fmt.Errorf("split %d: value %d numbered %d", kv.Split, kv.Value, kv.Seq)
				}
				next[kv.Split]++
				mu.Unlock()
			}
			return nil
		},
	}
	_, err := RunLocal(context.Background(), job, LocalOptions{Mappers: 4, Buffer: 2})
	require.NoError(t, err)
	for _, s := range splits {
		require.Equal(t, uint64(300), next[s])
	}
}

// TestSkewedShuffleIsBounded: nine pairs in ten go to one key, whose
// reduce task is slow; the map tasks wait for it, and the pairs in
// flight never pass the buffers.
func TestSkewedShuffleIsBounded(t *testing.T) {
	const (
		partitions = 4
		buffer     = 16
		mappers    = 4
		perSplit   = 5000
	)
	splits := make([]int, 12)
	var emitted, taken atomic.Int64
	var worst atomic.Int64
	job := &Job[int, []byte]{
		Splits: splits, Partitions: partitions,
		Map: func(ctx context.Context, _ int, out *Emitter[[]byte]) error {
			for k := range perSplit {
				key := "hot"
				if k%10 == 0 {
					key = fmt.Sprint("cold", k)
				}
				if err := out.Emit(key, make([]byte, 1024)); err != nil {
					return err
				}
				emitted.Add(1)
			}
			return nil
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[[]byte]) error {
			for kv := range in {
				if kv.Key == "hot" && taken.Load()%64 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
				taken.Add(1)
				// Pairs emitted but not yet taken: at most every buffer,
				// plus one each map task holds, plus those the reducers
				// hold. Emitted is read first: taken can only have grown
				// since, so the difference never overstates what was in
				// flight (reading them the other way round did, on a busy
				// machine).
				e := emitted.Load()
				if f := e - taken.Load(); f > worst.Load() {
					worst.Store(f)
				}
			}
			return nil
		},
	}
	st, err := RunLocal(context.Background(), job, LocalOptions{Mappers: mappers, Buffer: buffer})
	require.NoError(t, err)
	require.Equal(t, uint64(len(splits)*perSplit), st.Emitted)
	hot := st.Partitions[HashPartition("hot", partitions)]
	require.GreaterOrEqual(t, hot, uint64(len(splits)*perSplit*9/10))
	require.LessOrEqual(t, worst.Load(), int64(partitions*buffer+mappers+partitions), "pairs in flight")
}

// settled waits for the goroutines to come back to n or fewer.
func settled(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > n; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("goroutines: %d, before: %d", runtime.NumGoroutine(), n)
		}
	}
}

func TestFailingMapperFailsTheJob(t *testing.T) {
	before := runtime.NumGoroutine()
	boom := errors.New("disk on fire")
	splits := make([]int, 50)
	for i := range splits {
		splits[i] = i
	}
	var mapped atomic.Int64
	job := &Job[int, int]{
		Name: "failing", Splits: splits, Partitions: 2,
		Map: func(ctx context.Context, s int, out *Emitter[int]) error {
			if s == 7 {
				return boom
			}
			mapped.Add(1)
			for k := range 1000 {
				if err := out.Emit(fmt.Sprint(k), k); err != nil {
					return err
				}
			}
			return nil
		},
		// A reducer that stops at the job's end without draining.
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case _, ok := <-in:
					if !ok {
						return nil
					}
					time.Sleep(time.Microsecond)
				}
			}
		},
	}
	_, err := RunLocal(context.Background(), job, LocalOptions{Mappers: 2, Buffer: 4})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, `job "failing": map task of split 7`)
	require.Less(t, mapped.Load(), int64(len(splits)), "the job stopped early")
	settled(t, before)

	// A panic is a task's error too, in map and in reduce.
	job.Map = func(ctx context.Context, s int, out *Emitter[int]) error { panic("mapper bug") }
	_, err = RunLocal(context.Background(), job, LocalOptions{})
	require.ErrorContains(t, err, "panic: mapper bug")
	job.Map = func(ctx context.Context, s int, out *Emitter[int]) error { return out.Emit("k", 1) }
	job.Reduce = func(ctx context.Context, p int, in <-chan Pair[int]) error { panic("reducer bug") }
	_, err = RunLocal(context.Background(), job, LocalOptions{})
	require.ErrorContains(t, err, "panic: reducer bug")
	settled(t, before)
}

func TestFailingReducerStopsTheMappers(t *testing.T) {
	before := runtime.NumGoroutine()
	full := errors.New("shard full")
	job := &Job[int, int]{
		Splits: make([]int, 8), Partitions: 2,
		Map: func(ctx context.Context, _ int, out *Emitter[int]) error {
			for k := 0; ; k++ { // never ends by itself
				if err := out.Emit(fmt.Sprint(k), k); err != nil {
					return err
				}
			}
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			n := 0
			for range in {
				if n++; p == 1 && n == 1000 {
					return full
				}
			}
			return nil
		},
	}
	_, err := RunLocal(context.Background(), job, LocalOptions{Mappers: 3})
	require.ErrorIs(t, err, full)
	require.ErrorContains(t, err, "reduce task 1")
	settled(t, before)
}

func TestCancelMidJob(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reduced atomic.Int64
	job := &Job[int, int]{
		Splits: make([]int, 4), Partitions: 3,
		Map: func(ctx context.Context, _ int, out *Emitter[int]) error {
			for k := 0; ; k++ {
				if err := out.Emit(fmt.Sprint(k), k); err != nil {
					return err
				}
			}
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			for range in {
				if reduced.Add(1) == 20000 {
					cancel()
				}
			}
			return nil
		},
	}
	done := make(chan error, 1)
	go func() {
		_, err := RunLocal(ctx, job, LocalOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not end after its context")
	}
	settled(t, before)
}

func TestBadInputLimit(t *testing.T) {
	lines := []string{"a b", "BAD", "c", "BAD", "d e f", "BAD"}
	job := func(limit int) *Job[string, int] {
		return &Job[string, int]{
			Name: "strict", Splits: lines, Partitions: 2, MaxBadInputs: limit,
			Map: func(ctx context.Context, line string, out *Emitter[int]) error {
				if line == "BAD" {
					return out.Bad(fmt.Errorf("line %q is not words", line))
				}
				for _, w := range strings.Fields(line) {
					if err := out.Emit(w, 1); err != nil {
						return err
					}
				}
				return nil
			},
			Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
				for range in {
				}
				return nil
			},
		}
	}
	for _, limit := range []int{3, -1} {
		st, err := RunLocal(context.Background(), job(limit), LocalOptions{Mappers: 1})
		require.NoError(t, err, "limit %d", limit)
		require.Equal(t, uint64(3), st.Bad)
		require.Equal(t, uint64(6), st.Emitted)
	}
	st, err := RunLocal(context.Background(), job(2), LocalOptions{Mappers: 1})
	require.ErrorIs(t, err, ErrTooManyBadInputs)
	var be *BadInputError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 2, be.Limit)
	require.Equal(t, uint64(3), be.Count)
	require.Len(t, be.Reasons, 3)
	require.Contains(t, be.Reasons[0], `split 1: line "BAD" is not words`)
	require.Equal(t, uint64(3), st.Bad)
	require.ErrorContains(t, err, `job "strict" met 3 bad inputs, more than its limit of 2`)
}

func TestJobAndOptionsValidate(t *testing.T) {
	noop := func(ctx context.Context, p int, in <-chan Pair[int]) error { return nil }
	mapper := func(ctx context.Context, s int, out *Emitter[int]) error { return nil }
	for _, j := range []*Job[int, int]{
		{Reduce: noop, Partitions: 1},
		{Map: mapper, Partitions: 1},
		{Map: mapper, Reduce: noop},
		{Map: mapper, Reduce: noop, Partitions: MaxPartitions + 1},
	} {
		_, err := RunLocal(context.Background(), j, LocalOptions{})
		require.Error(t, err)
	}
	ok := &Job[int, int]{Map: mapper, Reduce: noop, Partitions: 1}
	for _, o := range []LocalOptions{{Mappers: -1}, {Buffer: -1}, {Buffer: 1 << 21}, {ProgressEvery: -time.Second}} {
		_, err := RunLocal(context.Background(), ok, o)
		require.Error(t, err, "%+v", o)
	}
	// No splits: the reduce tasks see their input closed at once.
	st, err := RunLocal(context.Background(), ok, LocalOptions{})
	require.NoError(t, err)
	require.Zero(t, st.Emitted)
	// A partitioner out of range fails the job, not the process.
	ok.Splits = []int{1}
	ok.Map = func(ctx context.Context, s int, out *Emitter[int]) error { return out.Emit("k", 1) }
	ok.Partition = func(string, int) int { return 5 }
	_, err = RunLocal(context.Background(), ok, LocalOptions{})
	require.ErrorContains(t, err, `partitioned to 5 of 1`)
}

func TestHashPartitionSpreadsAndMovesLittle(t *testing.T) {
	const keys = 20000
	for _, n := range []int{1, 4, 16} {
		counts := make([]int, n)
		moved := 0
		for k := range keys {
			key := fmt.Sprint("img-", k)
			p := HashPartition(key, n)
			require.True(t, p >= 0 && p < n)
			counts[p]++
			if HashPartition(key, n+1) != p {
				moved++
			}
		}
		for _, c := range counts {
			require.InDelta(t, keys/n, c, float64(keys/n)/5, "partitions of %d: %v", n, counts)
		}
		// Growing to n+1 moves about a 1/(n+1) share.
		require.InDelta(t, keys/(n+1), moved, float64(keys/(n+1))/5, "n=%d", n)
	}
}

// TestEndedJobTakesNoMore: once the job has failed, Emit fails at once,
// even while the reduce tasks still drain their input; a reduce task that
// returns before its input ends fails the job rather than hanging it; a
// panicking progress callback fails the job, not the process.
func TestEndedJobTakesNoMore(t *testing.T) {
	before := runtime.NumGoroutine()
	stop := errors.New("stop")
	var after atomic.Int64
	job := &Job[int, int]{
		Splits: []int{0}, Partitions: 1,
		Map: func(ctx context.Context, _ int, out *Emitter[int]) error {
			for k := range 3000 {
				if k == 100 {
					if err := out.Bad(stop); err != nil {
						// The limit is 0: the job has failed here.
						for range 100 {
							if out.Emit("k", k) == nil {
								after.Add(1)
							}
						}
						return err
					}
				}
				if err := out.Emit("k", k); err != nil {
					return err
				}
			}
			return nil
		},
		Reduce: func(ctx context.Context, p int, in <-chan Pair[int]) error {
			for range in {
			}
			return nil
		},
	}
	_, err := RunLocal(context.Background(), job, LocalOptions{Buffer: 1 << 16})
	require.ErrorIs(t, err, ErrTooManyBadInputs)
	require.Zero(t, after.Load(), "pairs taken after the job failed")

	job.Map = func(ctx context.Context, _ int, out *Emitter[int]) error {
		for k := range 100 {
			if err := out.Emit("k", k); err != nil {
				return err
			}
		}
		return nil
	}
	job.Reduce = func(ctx context.Context, p int, in <-chan Pair[int]) error {
		<-in
		return nil // too early
	}
	_, err = RunLocal(context.Background(), job, LocalOptions{Buffer: 4})
	require.ErrorContains(t, err, "reduce task 0: returned before its input ended")

	job.Reduce = func(ctx context.Context, p int, in <-chan Pair[int]) error {
		for range in {
		}
		return nil
	}
	_, err = RunLocal(context.Background(), job, LocalOptions{Progress: func(Stats) { panic("report bug") }})
	require.ErrorContains(t, err, "progress: panic: report bug")
	settled(t, before)
}
