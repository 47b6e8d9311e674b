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

// Stats counts what a Consumer did.
type Stats struct {
	Consumed, Indexed, Skipped, DeadLettered atomic.Int64
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
	return &Consumer{a: a, opts: opts, dlq: dlq}, nil
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
		gen.Start(func(ctx context.Context) {
			if err := c.batches(ctx, gen, in); err != nil && ctx.Err() == nil {
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
		select {
		case in <- toMessage(topic, part, m):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// batches applies micro-batches of what the readers fetch — BatchRecords
// messages, or what came within BatchWait of the first — and commits the
// group offsets after each.
func (c *Consumer) batches(ctx context.Context, gen *kafka.Generation, in <-chan Message) error {
	for {
		var batch []Message
		select {
		case m := <-in:
			batch = append(batch, m)
		case <-ctx.Done():
			return ctx.Err()
		}
		wait := time.NewTimer(c.opts.BatchWait)
	fill:
		for len(batch) < c.opts.BatchRecords {
			select {
			case m := <-in:
				batch = append(batch, m)
			case <-wait.C:
				break fill
			case <-ctx.Done():
				wait.Stop()
				return ctx.Err()
			}
		}
		wait.Stop()
		if err := c.apply(ctx, batch); err != nil {
			return err
		}
		next := map[int]int64{}
		for _, m := range batch {
			next[m.Partition] = max(next[m.Partition], m.Offset+1)
		}
		if err := gen.CommitOffsets(map[string]map[int]int64{c.opts.Topic: next}); err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("committing group offsets", "err", err)
		}
	}
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

// apply dead-letters what cannot be indexed, then applies the batch,
// retrying transient failures with a growing back-off until ctx ends.
// Dead letters go first: should the process die between the two, they
// are written again (at least once) rather than lost.
func (c *Consumer) apply(ctx context.Context, batch []Message) error {
	c.Stats.Consumed.Add(int64(len(batch)))
	mapped := MapAll(batch)
	var dead []kafka.Message
	for _, m := range mapped {
		if m.Err != nil {
			dead = append(dead, kafka.Message{Key: m.Key, Value: m.Value, Headers: []kafka.Header{
				{Key: HeaderError, Value: []byte(m.Err.Error())},
				{Key: "picdex-source", Value: []byte(fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset))},
			}})
		}
	}
	backoff := newBackoff()
	for len(dead) > 0 {
		err := c.dlq.WriteMessages(ctx, dead...)
		if err == nil {
			c.Stats.DeadLettered.Add(int64(len(dead)))
			break
		}
		c.opts.Logger.Warn("writing dead letters", "err", err)
		if err := crawler.Sleep(ctx, backoff.next()); err != nil {
			return err
		}
	}
	backoff = newBackoff()
	for {
		res, err := c.a.ApplyMapped(ctx, mapped)
		if err == nil {
			c.Stats.Indexed.Add(int64(res.Applied))
			c.Stats.Skipped.Add(int64(res.Skipped))
			if c.opts.OnApplied != nil {
				c.opts.OnApplied(batch, time.Now())
			}
			return nil
		}
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return ctx.Err()
		}
		c.opts.Logger.Warn("applying a batch; retrying", "err", err)
		if err := crawler.Sleep(ctx, backoff.next()); err != nil {
			return err
		}
	}
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
