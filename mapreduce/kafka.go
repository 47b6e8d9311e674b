package mapreduce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/indexer/queue"
)

// PairHeader is the header of every shuffle message RunKafka writes:
// "TOPIC.splits/SPLIT/SEQ", the pair's split and its number in the
// split, in the topic/partition/offset form of a message's origin. A
// reader of the shuffle keeps, per split, the highest number it has
// taken and skips the rest: a map task that ran again after its member
// died sends the same pairs, in the same order, again.
const PairHeader = "mapreduce-pair"

// Codec turns a job's splits and values into message bytes and back.
type Codec[S, V any] struct {
	EncodeSplit func(S) ([]byte, error)
	DecodeSplit func([]byte) (S, error)
	EncodeValue func(V) ([]byte, error)
	DecodeValue func([]byte) (V, error)
}

// JSONCodec encodes splits and values as JSON.
func JSONCodec[S, V any]() Codec[S, V] {
	return Codec[S, V]{
		EncodeSplit: func(s S) ([]byte, error) { return json.Marshal(s) },
		DecodeSplit: func(b []byte) (s S, err error) { return s, json.Unmarshal(b, &s) },
		EncodeValue: func(v V) ([]byte, error) { return json.Marshal(v) },
		DecodeValue: func(b []byte) (v V, err error) { return v, json.Unmarshal(b, &v) },
	}
}

// KafkaOptions configure RunKafka.
type KafkaOptions[S, V any] struct {
	Brokers []string
	// Topic names the job: its splits are handed out through the topic
	// Topic+".splits" to the consumer group Topic+".map", and the map
	// tasks report to Topic+".status". Running a job again under the same
	// Topic resumes it: the splits already mapped are not mapped again.
	Topic string
	// Shuffle is the topic the pairs go to, with exactly Job.Partitions
	// partitions (created so when it does not exist): pair by pair, the
	// input of the reduce tasks. Default Topic+".shuffle".
	Shuffle string
	// ShuffleConfig is set on the shuffle topic when RunKafka creates it
	// (e.g. cleanup.policy=compact).
	ShuffleConfig []kafka.ConfigEntry
	// Mappers is how many map tasks this process runs at once, each a
	// member of the group; 0 means one per CPU. Members in other
	// processes (MapKafka) share the splits with them.
	Mappers int
	Codec   Codec[S, V]
	// Batch is how many pairs a map task sends to Kafka at once
	// (default 1,000): it waits for their acknowledgement before it
	// emits more (back-pressure).
	Batch int
	// Buffer is how many pairs wait for each reduce task (default 1,024).
	Buffer int
	// Progress is called as in LocalOptions.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

func (o *KafkaOptions[S, V]) validate(partitions int) error {
	switch {
	case len(o.Brokers) == 0:
		return errors.New("mapreduce: no Kafka brokers")
	case o.Topic == "" || len(o.Topic) > 200:
		return fmt.Errorf("mapreduce: job topic %q: want 1 to 200 characters", o.Topic)
	case o.Codec.EncodeSplit == nil || o.Codec.DecodeSplit == nil || o.Codec.EncodeValue == nil || o.Codec.DecodeValue == nil:
		return errors.New("mapreduce: the Kafka runner needs a complete Codec")
	case o.Mappers < 0 || o.Mappers > 4096 || o.Batch < 0 || o.Batch > 1<<20 || o.Buffer < 0 || o.Buffer > 1<<20 || o.ProgressEvery < 0:
		return fmt.Errorf("mapreduce: mappers %d, batch %d, buffer %d, progress every %s: out of range", o.Mappers, o.Batch, o.Buffer, o.ProgressEvery)
	case partitions < 1 || partitions > MaxPartitions:
		return fmt.Errorf("mapreduce: %d partitions, want 1 to %d", partitions, MaxPartitions)
	}
	if o.Shuffle == "" {
		o.Shuffle = o.Topic + ".shuffle"
	}
	if o.Mappers == 0 {
		o.Mappers = runtime.GOMAXPROCS(0)
	}
	if o.Batch == 0 {
		o.Batch = 1000
	}
	if o.Buffer == 0 {
		o.Buffer = 1024
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	return nil
}

func (o *KafkaOptions[S, V]) splitsTopic() string { return o.Topic + ".splits" }
func (o *KafkaOptions[S, V]) statusTopic() string { return o.Topic + ".status" }

// maxSplitPartitions bounds the splits topic: a member of the map group
// is given whole partitions, so up to this many map tasks run at once.
const maxSplitPartitions = 256

// status is a report in the status topic.
type status struct {
	Kind    string   `json:"kind"` // "submitted", "done" or "failed"
	Splits  int      `json:"splits,omitempty"`
	Split   int      `json:"split"`
	Pairs   []uint64 `json:"pairs,omitempty"` // per partition
	Bad     uint64   `json:"bad,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// KafkaStats is the outcome of RunKafka: the stats, and the end offset
// of every shuffle partition once every split was mapped, up to which a
// reader of the shuffle outside the job has its whole input.
type KafkaStats struct {
	Stats
	ShuffleEnd []int64
}

// RunKafka runs job with Kafka in between its tasks: the splits go into
// the topic Topic.splits, and map tasks, members of a consumer group over
// it here and in any process running MapKafka for the same job, take
// them; each emitted pair goes to its partition of the shuffle topic;
// each reduce task reads its partition from the start. A map task's split
// is committed in the group only after its pairs and its report are
// acknowledged, so a member that dies has its split mapped again by
// another, and the reduce tasks skip the pairs they already took (see
// PairHeader): each pair reaches Reduce once.
//
// job.Reduce may be nil: the shuffle topic is then the job's output, read
// by others (picdex's shard servers), and RunKafka returns once every
// split is mapped, with the offsets its readers must reach.
//
// The bad-input limit counts the reports of every split. A map task's
// error fails the job, as does a report of one from another process.
func RunKafka[S, V any](ctx context.Context, job *Job[S, V], opts KafkaOptions[S, V]) (KafkaStats, error) {
	if job.Map == nil {
		return KafkaStats{}, fmt.Errorf("mapreduce: job %q has no map function", job.Name)
	}
	if err := opts.validate(job.Partitions); err != nil {
		return KafkaStats{}, err
	}
	k := &kafkaRun[S, V]{job: job, opts: opts, start: time.Now(), done: map[int]status{}}
	var cancel context.CancelCauseFunc
	k.ctx, cancel = context.WithCancelCause(ctx)
	defer cancel(nil)
	k.fail = cancel
	if err := k.ensureTopics(); err != nil {
		return KafkaStats{}, err
	}
	next, err := k.readStatus()
	if err != nil {
		return KafkaStats{}, err
	}
	if !k.submitted {
		if err := k.submit(); err != nil {
			return KafkaStats{}, err
		}
	}
	if err := k.check(); err != nil {
		return k.result(), err
	}

	mapCtx, stopMappers := context.WithCancel(k.ctx)
	defer stopMappers()
	allMapped := make(chan struct{})
	var wg sync.WaitGroup
	unmapped := len(k.done) < len(job.Splits)
	wg.Go(func() { k.followStatus(next, allMapped, stopMappers) })
	var mappers sync.WaitGroup
	if unmapped {
		w := shuffleWriter(opts.Brokers, opts.Shuffle, job, opts.Batch)
		defer closeWriter(w)
		for range opts.Mappers {
			mappers.Go(func() {
				if err := mapMember(mapCtx, job, &opts, w); err != nil && mapCtx.Err() == nil {
					k.fail(err)
				}
			})
		}
	}
	if job.Reduce != nil {
		k.reduce(allMapped)
	}
	progressDone := make(chan struct{})
	if opts.Progress != nil {
		wg.Go(func() { every(progressDone, opts.ProgressEvery, k.progress) })
	}
	select {
	case <-allMapped:
	case <-k.ctx.Done():
	}
	stopMappers()
	mappers.Wait()
	if job.Reduce != nil {
		k.reducers.Wait()
	}
	close(progressDone)
	cancel(errJobReturned)
	wg.Wait()
	if opts.Progress != nil {
		k.progress()
	}
	if err := context.Cause(k.ctx); err != nil && !errors.Is(err, errJobReturned) {
		return k.result(), err
	}
	return k.result(), nil
}

// errKafka marks a failure to send pairs: of the brokers, not of the map
// task.
var errKafka = errors.New("Kafka")

// errJobReturned ends a job's goroutines once it is complete.
var errJobReturned = errors.New("mapreduce: job returned")

// kafkaRun is one RunKafka's state.
type kafkaRun[S, V any] struct {
	job   *Job[S, V]
	opts  KafkaOptions[S, V]
	ctx   context.Context
	fail  context.CancelCauseFunc
	start time.Time

	mu         sync.Mutex
	submitted  bool
	done       map[int]status // split -> its first "done" report
	failed     *status
	shuffleEnd []int64
	reducers   sync.WaitGroup
	taken      atomic.Uint64 // pairs handed to Reduce
}

func (k *kafkaRun[S, V]) ensureTopics() error {
	tctx, cancel := context.WithTimeout(k.ctx, 30*time.Second)
	defer cancel()
	sp := min(max(len(k.job.Splits), 1), maxSplitPartitions)
	if _, err := queue.EnsureTopicConfig(tctx, k.opts.Brokers, kafka.TopicConfig{Topic: k.opts.splitsTopic(), NumPartitions: sp}); err != nil {
		return err
	}
	if _, err := queue.EnsureTopicConfig(tctx, k.opts.Brokers, kafka.TopicConfig{Topic: k.opts.statusTopic(), NumPartitions: 1}); err != nil {
		return err
	}
	n, err := queue.EnsureTopicConfig(tctx, k.opts.Brokers, kafka.TopicConfig{Topic: k.opts.Shuffle, NumPartitions: k.job.Partitions,
		ConfigEntries: k.opts.ShuffleConfig})
	if err != nil {
		return err
	}
	if n != k.job.Partitions {
		return fmt.Errorf("mapreduce: job %q: shuffle topic %s has %d partitions, the job %d", k.job.Name, k.opts.Shuffle, n, k.job.Partitions)
	}
	return nil
}

// readStatus reads the status topic as far as it goes now (a resumed
// job's reports) and returns the offset to follow it from.
func (k *kafkaRun[S, V]) readStatus() (int64, error) {
	first, last, err := PartitionOffsets(k.ctx, k.opts.Brokers, k.opts.statusTopic(), 0)
	if err != nil {
		return 0, err
	}
	if last <= first {
		return first, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.opts.Brokers, Topic: k.opts.statusTopic(), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	r.SetOffset(first)
	for {
		rctx, cancel := context.WithTimeout(k.ctx, 30*time.Second)
		m, err := r.FetchMessage(rctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("mapreduce: job %q: reading its status: %w", k.job.Name, err)
		}
		k.note(m.Value)
		if m.Offset+1 >= last {
			return m.Offset + 1, nil
		}
	}
}

// note takes in one report.
func (k *kafkaRun[S, V]) note(b []byte) {
	var s status
	if json.Unmarshal(b, &s) != nil {
		return // not a report of this job
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch s.Kind {
	case "submitted":
		if s.Splits == len(k.job.Splits) {
			k.submitted = true
		}
	case "done":
		if _, ok := k.done[s.Split]; !ok && s.Split >= 0 && s.Split < len(k.job.Splits) {
			k.done[s.Split] = s
		}
	case "failed":
		if k.failed == nil {
			k.failed = &s
		}
	}
}

// check fails the job on a failed map task or too many bad inputs.
func (k *kafkaRun[S, V]) check() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var bad uint64
	var reasons []string
	count := func(s status) {
		bad += s.Bad
		for _, r := range s.Reasons {
			if len(reasons) < maxReasons {
				reasons = append(reasons, fmt.Sprintf("split %d: %s", s.Split, r))
			}
		}
	}
	for i := range len(k.job.Splits) {
		if s, ok := k.done[i]; ok {
			count(s)
		}
	}
	if k.failed != nil {
		count(*k.failed)
	}
	if lim := k.job.MaxBadInputs; lim >= 0 && bad > uint64(lim) {
		return &BadInputError{Job: k.job.Name, Limit: lim, Count: bad, Reasons: reasons}
	}
	if k.failed != nil {
		return fmt.Errorf("mapreduce: job %q: map task of split %d: %s", k.job.Name, k.failed.Split, k.failed.Error)
	}
	return nil
}

// submit hands the splits out: split i to partition i mod P of the
// splits topic, then the report that they all are there. A job submitted
// twice (its first submitter died in between) maps some splits twice;
// the reduce tasks skip the repeated pairs.
func (k *kafkaRun[S, V]) submit() error {
	msgs := make([]kafka.Message, len(k.job.Splits))
	for i, s := range k.job.Splits {
		b, err := k.opts.Codec.EncodeSplit(s)
		if err != nil {
			return fmt.Errorf("mapreduce: job %q: split %d: %w", k.job.Name, i, err)
		}
		msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: b}
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.opts.Brokers...), Topic: k.opts.splitsTopic(), RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, parts ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return parts[i%len(parts)]
		}), BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer closeWriter(w)
	if err := w.WriteMessages(k.ctx, msgs...); err != nil {
		return fmt.Errorf("mapreduce: job %q: handing out its splits: %w", k.job.Name, err)
	}
	if err := writeStatus(k.ctx, k.opts.Brokers, k.opts.statusTopic(), status{Kind: "submitted", Splits: len(msgs)}); err != nil {
		return err
	}
	k.submitted = true
	return nil
}

// followStatus reads the reports as they come, from offset from, until
// every split is mapped (then it closes allMapped) or the job ends.
func (k *kafkaRun[S, V]) followStatus(from int64, allMapped chan<- struct{}, stopMappers func()) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.opts.Brokers, Topic: k.opts.statusTopic(), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	r.SetOffset(from)
	for {
		if err := k.check(); err != nil {
			k.fail(err)
			return
		}
		k.mu.Lock()
		mapped := len(k.done) == len(k.job.Splits)
		k.mu.Unlock()
		if mapped {
			stopMappers()
			ends, err := shuffleEnds(k.ctx, k.opts.Brokers, k.opts.Shuffle, k.job.Partitions)
			if err != nil {
				if k.ctx.Err() == nil {
					k.fail(err)
				}
				return
			}
			k.mu.Lock()
			k.shuffleEnd = ends
			k.mu.Unlock()
			close(allMapped)
			return
		}
		m, err := r.FetchMessage(k.ctx)
		if err != nil {
			if k.ctx.Err() == nil {
				k.fail(fmt.Errorf("mapreduce: job %q: reading its status: %w", k.job.Name, err))
			}
			return
		}
		k.note(m.Value)
	}
}

// shuffleEnds returns every shuffle partition's end offset, retrying
// while the brokers cannot be reached.
func shuffleEnds(ctx context.Context, brokers []string, topic string, n int) ([]int64, error) {
	ends := make([]int64, n)
	for p := range n {
		_, last, err := PartitionOffsets(ctx, brokers, topic, p)
		if err != nil {
			return nil, err
		}
		ends[p] = last
	}
	return ends, nil
}

// reduce runs one reduce task per shuffle partition, each reading it from
// the start until the end it had once every split was mapped.
func (k *kafkaRun[S, V]) reduce(allMapped <-chan struct{}) {
	for p := range k.job.Partitions {
		in := make(chan Pair[V], k.opts.Buffer)
		k.reducers.Go(func() { reduceTask(k.ctx, k.job, p, in, k.fail) })
		k.reducers.Go(func() {
			defer close(in)
			if err := k.readPartition(p, in, allMapped); err != nil && k.ctx.Err() == nil {
				k.fail(fmt.Errorf("mapreduce: job %q: reading shuffle partition %d: %w", k.job.Name, p, err))
			}
		})
	}
}

// readPartition feeds partition p's pairs to in, each once, until the
// partition's end once every split is mapped.
func (k *kafkaRun[S, V]) readPartition(p int, in chan<- Pair[V], allMapped <-chan struct{}) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.opts.Brokers, Topic: k.opts.Shuffle, Partition: p,
		MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return err
	}
	held := map[int]uint64{} // split -> pairs of it taken
	end := int64(-1)
	var next int64
	for {
		if end < 0 {
			select {
			case <-allMapped:
				k.mu.Lock()
				end = k.shuffleEnd[p]
				k.mu.Unlock()
			default:
			}
		}
		if end >= 0 && next >= end {
			return nil
		}
		fctx, cancel := k.ctx, context.CancelFunc(func() {})
		if end < 0 {
			// Until the end is known, look up now and then whether it is.
			fctx, cancel = context.WithTimeout(k.ctx, 250*time.Millisecond)
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if k.ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			return err
		}
		next = m.Offset + 1
		split, seq, ok := pairOrigin(m.Headers, k.opts.splitsTopic())
		if !ok {
			return fmt.Errorf("offset %d: no %s header of this job", m.Offset, PairHeader)
		}
		if seq < held[split] {
			continue // a map task that ran again sent it before
		}
		held[split] = seq + 1
		v, err := k.opts.Codec.DecodeValue(m.Value)
		if err != nil {
			return fmt.Errorf("offset %d: %w", m.Offset, err)
		}
		select {
		case in <- Pair[V]{Key: string(m.Key), Value: v, Split: split, Seq: seq}:
			k.taken.Add(1)
		case <-k.ctx.Done():
			return nil
		}
	}
}

// pairOrigin reads a shuffle message's PairHeader.
func pairOrigin(hs []kafka.Header, splitsTopic string) (split int, seq uint64, ok bool) {
	for _, h := range hs {
		if h.Key != PairHeader {
			continue
		}
		topic, split, seq, err := ParsePairHeader(string(h.Value))
		return split, seq, err == nil && topic == splitsTopic
	}
	return 0, 0, false
}

// ParsePairHeader reads a PairHeader value.
func ParsePairHeader(v string) (topic string, split int, seq uint64, err error) {
	bad := fmt.Errorf("pair header %q: want TOPIC/SPLIT/SEQ", v)
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return "", 0, 0, bad
	}
	j := strings.LastIndexByte(v[:i], '/')
	if j <= 0 {
		return "", 0, 0, bad
	}
	split, err1 := strconv.Atoi(v[j+1 : i])
	seq, err2 := strconv.ParseUint(v[i+1:], 10, 64)
	if err1 != nil || err2 != nil || split < 0 {
		return "", 0, 0, bad
	}
	return v[:j], split, seq, nil
}

func (k *kafkaRun[S, V]) result() KafkaStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := KafkaStats{Stats: Stats{Splits: len(k.job.Splits), SplitsDone: len(k.done),
		Partitions: make([]uint64, k.job.Partitions), Elapsed: time.Since(k.start)}, ShuffleEnd: slices.Clone(k.shuffleEnd)}
	for _, s := range k.done {
		st.Bad += s.Bad
		for p, n := range s.Pairs {
			if p < len(st.Partitions) {
				st.Partitions[p] += n
				st.Emitted += n
			}
		}
	}
	if k.job.Reduce != nil {
		if taken := k.taken.Load(); taken < st.Emitted {
			st.Pending = st.Emitted - taken
		}
	}
	return st
}

func (k *kafkaRun[S, V]) progress() {
	if err := guard(func() error { k.opts.Progress(k.result().Stats); return nil }); err != nil {
		k.fail(fmt.Errorf("mapreduce: job %q: progress: %w", k.job.Name, err))
	}
}

// MapKafka joins the map tasks of the job RunKafka runs under
// opts.Topic from another process: it maps splits until ctx ends. The
// job here needs Map, Partitions, Partition and MaxBadInputs as RunKafka
// has them, not the Splits, which come through the topic.
func MapKafka[S, V any](ctx context.Context, job *Job[S, V], opts KafkaOptions[S, V]) error {
	if job.Map == nil {
		return fmt.Errorf("mapreduce: job %q has no map function", job.Name)
	}
	if err := opts.validate(job.Partitions); err != nil {
		return err
	}
	w := shuffleWriter(opts.Brokers, opts.Shuffle, job, opts.Batch)
	defer closeWriter(w)
	var wg sync.WaitGroup
	errs := make([]error, opts.Mappers)
	for i := range opts.Mappers {
		wg.Go(func() { errs[i] = mapMember(ctx, job, &opts, w) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// shuffleWriter writes pairs to their partitions of the shuffle topic.
func shuffleWriter[S, V any](brokers []string, topic string, job *Job[S, V], batch int) *kafka.Writer {
	part := job.Partition
	if part == nil {
		part = HashPartition
	}
	return &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, Compression: kafka.Snappy,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, parts ...int) int {
			return parts[part(string(m.Key), len(parts))]
		}),
		// A batch of the writer (preallocated whole) is what one map
		// task sends at once to one partition at most.
		BatchSize: batch, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond, WriteTimeout: 30 * time.Second,
		Transport: &kafka.Transport{}}
}

// mapMember is one member of the map group: it maps the splits it is
// given until ctx ends.
func mapMember[S, V any](ctx context.Context, job *Job[S, V], opts *KafkaOptions[S, V], w *kafka.Writer) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: opts.Brokers, GroupID: opts.Topic + ".map", Topic: opts.splitsTopic(),
		StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond, QueueCapacity: 1,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 500 * time.Millisecond, WatchPartitionChanges: true})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mapreduce: job %q: taking a split: %w", job.Name, err)
		}
		i, err := strconv.Atoi(string(m.Key))
		if err != nil || i < 0 {
			return fmt.Errorf("mapreduce: job %q: split message %d/%d has key %q", job.Name, m.Partition, m.Offset, m.Key)
		}
		rep, err := mapTask(ctx, job, opts, w, i, m.Value)
		if ctx.Err() != nil {
			return nil // cut short: the split stays uncommitted for another member
		}
		if err != nil {
			// Kafka failed, not the map task: no report that would fail
			// the job for good; the split stays uncommitted, and the job
			// run again maps it.
			return err
		}
		if err := writeStatus(ctx, opts.Brokers, opts.statusTopic(), rep); err != nil {
			return err
		}
		if rep.Kind == "failed" {
			return nil // the job fails; RunKafka says why
		}
		// A commit lost to a rebalance has the split mapped once more by
		// its next owner: harmless, as its pairs are skipped, so it is no
		// reason to stop.
		_ = r.CommitMessages(ctx, m)
	}
}

// mapTask maps split i and returns its report.
func mapTask[S, V any](ctx context.Context, job *Job[S, V], opts *KafkaOptions[S, V], w *kafka.Writer, i int, b []byte) (status, error) {
	t := &kafkaTask[S, V]{ctx: ctx, job: job, opts: opts, w: w, split: i, pairs: make([]uint64, job.Partitions)}
	t.part = job.Partition
	if t.part == nil {
		t.part = HashPartition
	}
	err := guard(func() error {
		s, err := opts.Codec.DecodeSplit(b)
		if err != nil {
			return fmt.Errorf("decoding the split: %w", err)
		}
		if err := job.Map(ctx, s, &Emitter[V]{r: t, split: i}); err != nil {
			return err
		}
		return t.flush()
	})
	if errors.Is(err, errKafka) {
		return status{}, err
	}
	if err != nil {
		return status{Kind: "failed", Split: i, Error: err.Error(), Bad: t.bad, Reasons: t.reasons}, nil
	}
	return status{Kind: "done", Split: i, Pairs: t.pairs, Bad: t.bad, Reasons: t.reasons}, nil
}

// kafkaTask is the shuffle of one map task in RunKafka.
type kafkaTask[S, V any] struct {
	ctx     context.Context
	job     *Job[S, V]
	opts    *KafkaOptions[S, V]
	w       *kafka.Writer
	part    func(string, int) int
	split   int
	buf     []kafka.Message
	pairs   []uint64
	bad     uint64
	reasons []string
}

func (t *kafkaTask[S, V]) send(p Pair[V]) error {
	n := t.job.Partitions
	part := t.part(p.Key, n)
	if part < 0 || part >= n {
		return fmt.Errorf("mapreduce: job %q: key %q partitioned to %d of %d", t.job.Name, p.Key, part, n)
	}
	v, err := t.opts.Codec.EncodeValue(p.Value)
	if err != nil {
		return fmt.Errorf("mapreduce: job %q: encoding the value of %q: %w", t.job.Name, p.Key, err)
	}
	t.buf = append(t.buf, kafka.Message{Key: []byte(p.Key), Value: v, Headers: []kafka.Header{
		{Key: PairHeader, Value: []byte(t.opts.splitsTopic() + "/" + strconv.Itoa(p.Split) + "/" + strconv.FormatUint(p.Seq, 10))}}})
	t.pairs[part]++
	if len(t.buf) >= t.opts.Batch {
		return t.flush()
	}
	return nil
}

// flush sends the buffered pairs and waits until Kafka has them all.
func (t *kafkaTask[S, V]) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	if err := t.w.WriteMessages(t.ctx, t.buf...); err != nil {
		return fmt.Errorf("mapreduce: job %q: sending pairs: %w: %w", t.job.Name, errKafka, err)
	}
	t.buf = t.buf[:0]
	return nil
}

func (t *kafkaTask[S, V]) badInput(split int, reason error) error {
	t.bad++
	if len(t.reasons) < maxReasons {
		t.reasons = append(t.reasons, reason.Error())
	}
	if lim := t.job.MaxBadInputs; lim >= 0 && t.bad > uint64(lim) {
		return &BadInputError{Job: t.job.Name, Limit: lim, Count: t.bad, Reasons: slices.Clone(t.reasons)}
	}
	return nil
}

// closeWriter closes w and the connections of its own transport, which
// closing the writer leaves open.
func closeWriter(w *kafka.Writer) {
	w.Close()
	if t, ok := w.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// writeStatus appends a report to the status topic.
func writeStatus(ctx context.Context, brokers []string, topic string, s status) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer closeWriter(w)
	if err := w.WriteMessages(ctx, kafka.Message{Value: b}); err != nil {
		return fmt.Errorf("mapreduce: reporting on split %d: %w", s.Split, err)
	}
	return nil
}

// PartitionOffsets returns the first and the end offset of a partition,
// asking each broker in turn, within ten seconds; a cancel of ctx ends a
// read in progress.
func PartitionOffsets(ctx context.Context, brokers []string, topic string, part int) (first, last int64, err error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	for _, b := range brokers {
		conn, err := kafka.DialLeader(tctx, "tcp", b, topic, part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		deadline, _ := tctx.Deadline()
		conn.SetDeadline(deadline)
		stop := context.AfterFunc(tctx, func() { conn.Close() })
		first, last, err = conn.ReadOffsets()
		stop()
		conn.Close()
		if err == nil {
			return first, last, nil
		}
		errs = append(errs, err)
	}
	return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, part, errors.Join(errs...))
}
