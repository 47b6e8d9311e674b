package mapreduce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

func kafkaBrokers(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func kafkaOpts(brokers []string, topic string, mappers int) KafkaOptions[string, int] {
	return KafkaOptions[string, int]{Brokers: brokers, Topic: topic, Mappers: mappers, Codec: JSONCodec[string, int](),
		Batch: 7, ProgressEvery: 50 * time.Millisecond}
}

// corpus is lines of words and their counts.
func corpus(n int) ([]string, map[string]int) {
	var lines []string
	want := map[string]int{}
	for i := range n {
		var ws []string
		for j := range 1 + i%9 {
			w := fmt.Sprintf("w%d", (i*7+j*13)%50)
			ws = append(ws, w)
			want[w]++
		}
		lines = append(lines, strings.Join(ws, " "))
	}
	return lines, want
}

func merged(counts []map[string]int) map[string]int {
	all := map[string]int{}
	for _, c := range counts {
		for k, v := range c {
			all[k] += v
		}
	}
	return all
}

func TestKafkaWordCount(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines, want := corpus(60)
	counts := make([]map[string]int, 3)
	var progress atomic.Int64
	opts := kafkaOpts(brokers, "wc", 2)
	opts.Progress = func(Stats) { progress.Add(1) }
	st, err := RunKafka(t.Context(), wordCount(lines, 3, counts), opts)
	require.NoError(t, err)
	require.Equal(t, want, merged(counts))
	require.Equal(t, 60, st.SplitsDone)
	total := 0
	for _, n := range want {
		total += n
	}
	require.Equal(t, uint64(total), st.Emitted)
	require.Len(t, st.ShuffleEnd, 3)
	require.Positive(t, progress.Load())

	// The job is done: running it again maps nothing and reduces the
	// same pairs from the shuffle.
	var maps atomic.Int64
	job := wordCount(lines, 3, counts)
	m := job.Map
	job.Map = func(ctx context.Context, s string, out *Emitter[int]) error { maps.Add(1); return m(ctx, s, out) }
	_, err = RunKafka(t.Context(), job, opts)
	require.NoError(t, err)
	require.Equal(t, want, merged(counts))
	require.Zero(t, maps.Load())
}

// A member that dies halfway through a split leaves it uncommitted:
// another member maps it again, and the reduce tasks take each pair once.
func TestKafkaMemberDiesMidSplit(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines, want := corpus(16)
	counts := make([]map[string]int, 2)
	job := wordCount(lines, 2, counts)
	count := job.Map
	type workerKey struct{}
	started, died := make(chan struct{}), make(chan struct{})
	var once sync.Once
	job.Map = func(ctx context.Context, s string, out *Emitter[int]) error {
		if ctx.Value(workerKey{}) != nil {
			// The worker emits a little of its first split, then hangs.
			for _, w := range strings.Fields(s)[:1] {
				if err := out.Emit(w, 1); err != nil {
					return err
				}
			}
			once.Do(func() { close(started) })
			<-ctx.Done()
			return ctx.Err()
		}
		select { // the job's own member waits until the worker is gone
		case <-died:
		case <-time.After(20 * time.Second):
		}
		return count(ctx, s, out)
	}
	opts := kafkaOpts(brokers, "dies", 1)
	opts.Batch = 1 // the worker's pairs reach the shuffle before it dies
	res := make(chan error, 1)
	go func() { _, err := RunKafka(t.Context(), job, opts); res <- err }()

	wctx, kill := context.WithCancel(context.WithValue(t.Context(), workerKey{}, true))
	defer kill()
	wdone := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // the topics exist by now
		wdone <- MapKafka(wctx, job, opts)
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker got no split")
	}
	kill()
	require.NoError(t, <-wdone)
	close(died)
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the job did not finish")
	}
	require.Equal(t, want, merged(counts))
}

func TestKafkaFailingMapper(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines, _ := corpus(10)
	job := wordCount(lines, 2, make([]map[string]int, 2))
	count := job.Map
	job.Map = func(ctx context.Context, s string, out *Emitter[int]) error {
		if s == lines[4] {
			return errors.New("disk on fire")
		}
		return count(ctx, s, out)
	}
	_, err := RunKafka(t.Context(), job, kafkaOpts(brokers, "fails", 2))
	require.ErrorContains(t, err, "split 4: disk on fire")
}

func TestKafkaBadInputLimit(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines := []string{"a b", "bad", "c", "bad", "d", "bad"}
	job := wordCount(lines, 1, make([]map[string]int, 1))
	count := job.Map
	job.Map = func(ctx context.Context, s string, out *Emitter[int]) error {
		if s == "bad" {
			return out.Bad(errors.New("a bad line"))
		}
		return count(ctx, s, out)
	}
	job.MaxBadInputs = 2
	_, err := RunKafka(t.Context(), job, kafkaOpts(brokers, "bad", 2))
	var bad *BadInputError
	require.ErrorAs(t, err, &bad)
	require.Equal(t, uint64(3), bad.Count)
	require.Contains(t, bad.Error(), "a bad line")

	job.Name, job.MaxBadInputs = "bad-3", 3
	counts := make([]map[string]int, 1)
	job.Reduce = wordCount(lines, 1, counts).Reduce
	st, err := RunKafka(t.Context(), job, kafkaOpts(brokers, "bad3", 2))
	require.NoError(t, err)
	require.Equal(t, uint64(3), st.Bad)
	require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, counts[0])
}

// A job cancelled midway returns promptly; run again under its topic it
// maps only what was not mapped and the result is exact.
func TestKafkaCancelAndResume(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines, want := corpus(40)
	counts := make([]map[string]int, 4)
	job := wordCount(lines, 4, counts)
	count := job.Map
	var mapped sync.Map
	ctx, cancel := context.WithCancel(t.Context())
	var n atomic.Int64
	job.Map = func(c context.Context, s string, out *Emitter[int]) error {
		if n.Add(1) == 10 {
			cancel()
			<-c.Done()
			return c.Err()
		}
		if err := count(c, s, out); err != nil {
			return err
		}
		mapped.Store(s, true)
		return nil
	}
	start := time.Now()
	_, err := RunKafka(ctx, job, kafkaOpts(brokers, "resume", 1))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 30*time.Second)

	again := map[string]int{}
	var mu sync.Mutex
	job.Map = func(c context.Context, s string, out *Emitter[int]) error {
		mu.Lock()
		again[s]++
		mu.Unlock()
		return count(c, s, out)
	}
	st, err := RunKafka(t.Context(), job, kafkaOpts(brokers, "resume", 2))
	require.NoError(t, err)
	require.Equal(t, want, merged(counts))
	require.Equal(t, 40, st.SplitsDone)
	redone := 0
	for s := range maps.Keys(again) {
		if _, ok := mapped.Load(s); ok {
			redone++
		}
	}
	require.LessOrEqual(t, redone, 2, "splits mapped before the cancel are not mapped again (bar one in flight)")
}

// With no Reduce the shuffle is the output: RunKafka says where it ends.
func TestKafkaShuffleAsOutput(t *testing.T) {
	brokers := kafkaBrokers(t)
	lines, want := corpus(12)
	job := wordCount(lines, 2, nil)
	job.Reduce = nil
	opts := kafkaOpts(brokers, "out", 2)
	opts.Shuffle = "out-pairs"
	st, err := RunKafka(t.Context(), job, opts)
	require.NoError(t, err)
	total := 0
	for _, n := range want {
		total += n
	}
	require.Equal(t, int64(total), st.ShuffleEnd[0]+st.ShuffleEnd[1])
}

func TestParsePairHeader(t *testing.T) {
	topic, split, seq, err := ParsePairHeader("job.x.splits/12/345")
	require.NoError(t, err)
	require.Equal(t, "job.x.splits", topic)
	require.Equal(t, 12, split)
	require.Equal(t, uint64(345), seq)
	for _, bad := range []string{"", "a", "a/1", "/1/2", "a/-1/2", "a/1/-2", "a/x/2"} {
		_, _, _, err := ParsePairHeader(bad)
		require.Error(t, err, bad)
	}
}

// FuzzParsePairHeader: any header value is parsed or refused, and what is
// parsed prints back as it was read.
func FuzzParsePairHeader(f *testing.F) {
	for _, s := range []string{"job.splits/0/0", "a/12/345", "a/b/1/2", "/1/2", "a//2", "a/1/", "a/-1/2", "a/1/18446744073709551616", "a/01/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		topic, split, seq, err := ParsePairHeader(v)
		if err != nil {
			return
		}
		if topic == "" || split < 0 {
			t.Fatalf("%q: topic %q split %d", v, topic, split)
		}
		back := fmt.Sprintf("%s/%d/%d", topic, split, seq)
		if t2, s2, q2, err := ParsePairHeader(back); err != nil || t2 != topic || s2 != split || q2 != seq {
			t.Fatalf("%q -> %q does not read back: %v", v, back, err)
		}
	})
}
