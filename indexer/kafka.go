package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/indexer/queue"
)

// HeaderError names why a dead-lettered message could not be indexed.
const HeaderError = "picdex-error"

// KafkaOptions configure a Consumer. A zero field takes its default.
type KafkaOptions struct {
	Brokers  []string
	Topic    string // default queue.DefaultTopic
	DLQTopic string // default queue.DefaultDLQTopic
	GroupID  string // default "picdex-indexer"
	// A micro-batch is BatchRecords messages of the member's partitions, or what
	// arrived within BatchWait of its first (defaults 5,000 and 200 ms).
	BatchRecords int
	BatchWait    time.Duration
	// Partitions of the topics when the consumer creates them (default 12).
	Partitions int
	Logger     *slog.Logger
	// OnApplied, when set, is called after each micro-batch is applied
	// (and so searchable), with the batch: for freshness measurements.
	OnApplied func(batch []Message, at time.Time)
}

// Validate fills in defaults and reports options that cannot work.
func (o *KafkaOptions) Validate() error {
	q := queue.KafkaOptions{Brokers: o.Brokers}
	if err := q.Validate(); err != nil {
		return err
	}
	o.Brokers = q.Brokers
	if o.Topic == "" {
		o.Topic = queue.DefaultTopic
	}
	if o.DLQTopic == "" {
		o.DLQTopic = queue.DefaultDLQTopic
	}
	if o.GroupID == "" {
		o.GroupID = "picdex-indexer"
	}
	if o.BatchRecords <= 0 {
		o.BatchRecords = 5000 // bleve indexes big batches best; BatchWait bounds the latency
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 200 * time.Millisecond
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Consumer is a member of the indexer's Kafka consumer group: it applies
// the partitions the group assigns it, micro-batch by micro-batch, with
// the exactly-once effect of Applier, dead-letters what can never be
// indexed, and commits the group offsets after each apply (for lag
// monitoring; resuming uses the offsets in the shards).
type Consumer struct {
	a     *Applier
	opts  KafkaOptions
	Stats Stats
	ready atomic.Bool
	dlq   *kafka.Writer
	b     *batcher
}

// NewConsumer returns a Consumer applying to a's index.
func NewConsumer(a *Applier, opts KafkaOptions) (*Consumer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	dlq := &kafka.Writer{
		Addr: kafka.TCP(opts.Brokers...), Topic: opts.DLQTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond, AllowAutoTopicCreation: true,
	}
	c := &Consumer{a: a, opts: opts, dlq: dlq}
	c.b = &batcher{a: a, stats: &c.Stats, records: opts.BatchRecords, wait: opts.BatchWait,
		logger: opts.Logger, onApplied: opts.OnApplied, deadLetter: c.deadLetter}
	return c, nil
}

// deadLetter writes what can never be indexed to the dead-letter topic,
// with the reason and the origin in headers, retrying until it is written.
func (c *Consumer) deadLetter(ctx context.Context, rejects []Mapped) error {
	dead := make([]kafka.Message, len(rejects))
	for i, m := range rejects {
		dead[i] = kafka.Message{Key: m.Key, Value: m.Value, Headers: []kafka.Header{
			{Key: HeaderError, Value: []byte(m.Err.Error())},
			{Key: "picdex-source", Value: []byte(fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset))},
		}}
	}
	backoff := newBackoff()
	for {
		err := c.dlq.WriteMessages(ctx, dead...)
		if err == nil {
			return nil
		}
		c.opts.Logger.Warn("writing dead letters", "err", err)
		if err := crawler.Sleep(ctx, backoff.next()); err != nil {
			return err
		}
	}
}

// Ready reports whether the consumer is connected and holds a generation.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Run consumes until ctx ends. An unreachable broker is retried with a
// growing back-off (Ready false meanwhile); it is not an error.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.dlq.Close()
	backoff := newBackoff()
	for ctx.Err() == nil {
		err := c.session(ctx)
		c.ready.Store(false)
		if ctx.Err() != nil {
			break
		}
		c.opts.Logger.Warn("kafka session ended; retrying", "err", err)
		if crawler.Sleep(ctx, backoff.next()) != nil {
			break
		}
	}
	return nil
}

// session creates the topics, joins the group and consumes generation
// after generation until an error.
func (c *Consumer) session(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := queue.EnsureTopic(tctx, c.opts.Brokers, c.opts.Topic, c.opts.Partitions, 0)
	if err == nil {
		err = queue.EnsureTopic(tctx, c.opts.Brokers, c.opts.DLQTopic, c.opts.Partitions, 0)
	}
	cancel()
	if err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: c.opts.GroupID, Brokers: c.opts.Brokers, Topics: []string{c.opts.Topic},
		StartOffset: kafka.FirstOffset, WatchPartitionChanges: true,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			return err
		}
		c.ready.Store(true)
		parts := gen.Assignments[c.opts.Topic]
		c.opts.Logger.Info("kafka generation", "id", gen.ID, "member", gen.MemberID, "partitions", len(parts))
		// One reader per partition feeds one batcher: a micro-batch spans
		// the member's partitions, so each shard gets one write per batch
		// however many partitions there are.
		in := make(chan Message, c.opts.BatchRecords)
		for _, p := range parts {
			gen.Start(func(ctx context.Context) {
				if err := c.read(ctx, p.ID, in); err != nil && ctx.Err() == nil {
					c.opts.Logger.Error("partition reader stopped", "partition", p.ID, "err", err)
				}
			})
		}
		commit := func(next map[int]int64) error {
			return gen.CommitOffsets(map[string]map[int]int64{c.opts.Topic: next})
		}
		gen.Start(func(ctx context.Context) {
			if err := c.b.run(ctx, in, commit); err != nil && ctx.Err() == nil {
				c.opts.Logger.Error("batcher stopped", "err", err)
			}
		})
	}
}

// read feeds one assigned partition's messages to in, from one past what
// the shards hold, until the generation ends.
func (c *Consumer) read(ctx context.Context, part int, in chan<- Message) error {
	topic := c.opts.Topic
	c.a.Forget(topic, part) // another member may have moved it on
	from, err := c.a.Resume(topic, part)
	if err != nil {
		return err
	}
	// A broker that cannot say where the partition ends now is asked
	// again, with back-off, for as long as the generation lasts.
	for backoff := newBackoff(); ; {
		checked, err := c.checkOffset(ctx, part, from)
		if err == nil {
			from = checked
			break
		}
		c.opts.Logger.Warn("reading the partition's offsets; retrying", "partition", part, "err", err)
		if err := crawler.Sleep(ctx, backoff.next()); err != nil {
			return err
		}
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.opts.Brokers, Topic: topic, Partition: part,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: c.opts.BatchWait,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		if lag := r.Lag(); lag >= 0 {
			c.Stats.SetLag(part, lag)
		}
		select {
		case in <- toMessage(topic, part, m):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// checkOffset compares from, where the shards say to resume, with the
// partition's log. Past its end, the offsets the shards hold belong to an
// earlier life of the topic (deleted and created again, or a log that
// lost its tail to an unclean leader election): reading on from there
// would silently skip every new message up to from. The shards then
// forget the partition and it is read again from its first offset —
// re-applying, in order, what is still in the log, which leaves every
// image as its last message says. Before its start (retention deleted
// messages never applied), those are gone; reading starts at the first
// offset left, with a warning.
func (c *Consumer) checkOffset(ctx context.Context, part int, from int64) (int64, error) {
	first, last, err := c.offsetRange(ctx, part)
	if err != nil {
		return 0, err
	}
	switch {
	case from > last:
		c.opts.Logger.Warn("the index holds offsets past the end of the partition: the topic was re-created or truncated; reading it again from the start",
			"topic", c.opts.Topic, "partition", part, "resume", from, "end", last)
		if err := c.a.Restart(ctx, c.opts.Topic, part); err != nil {
			return 0, err
		}
		return first, nil
	case from < first:
		c.opts.Logger.Warn("messages were deleted from the partition before they were indexed",
			"topic", c.opts.Topic, "partition", part, "lost", first-from, "resume", first)
		return first, nil
	}
	return from, nil
}

// offsetRange returns the first offset of a partition and the one past its
// last message.
func (c *Consumer) offsetRange(ctx context.Context, part int) (first, last int64, err error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	for _, b := range c.opts.Brokers {
		conn, err := kafka.DialLeader(tctx, "tcp", b, c.opts.Topic, part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		first, last, err = conn.ReadOffsets()
		conn.Close()
		if err == nil {
			return first, last, nil
		}
		errs = append(errs, err)
	}
	return 0, 0, fmt.Errorf("offsets of %s/%d: %w", c.opts.Topic, part, errors.Join(errs...))
}

func toMessage(topic string, part int, m kafka.Message) Message {
	msg := Message{Topic: topic, Partition: part, Offset: m.Offset, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		if h.Key == queue.HeaderProducedAt {
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				msg.ProducedAt = time.Unix(0, ns)
			}
		}
	}
	return msg
}

// backoff grows from 100 ms to 10 s, with jitter.
type backoff struct {
	mu sync.Mutex
	d  time.Duration
}

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.d + time.Duration(rand.Int64N(int64(b.d)/4+1))
	b.d = min(2*b.d, 10*time.Second)
	return d
}
