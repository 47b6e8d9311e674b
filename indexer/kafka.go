package indexer

import (
	"context"
	"log/slog"
	"time"

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
	batchDefaults(&o.BatchRecords, &o.BatchWait, &o.Logger, 200*time.Millisecond)
	if o.Partitions <= 0 {
		o.Partitions = 12
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
	m     *groupMember
}

// NewConsumer returns a Consumer applying to a's index.
func NewConsumer(a *Applier, opts KafkaOptions) (*Consumer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Consumer{a: a, opts: opts}
	c.m = &groupMember{brokers: opts.Brokers, topic: opts.Topic, dlqTopic: opts.DLQTopic, groupID: opts.GroupID,
		partitions: opts.Partitions, batchRecords: opts.BatchRecords, batchWait: opts.BatchWait,
		logger: opts.Logger, stats: &c.Stats, from: c.from,
		b: &batcher{sink: a.ApplyMapped, stats: &c.Stats, records: opts.BatchRecords, wait: opts.BatchWait,
			logger: opts.Logger, onApplied: opts.OnApplied}}
	c.m.init()
	return c, nil
}

// Ready reports whether the consumer is connected and holds a generation.
func (c *Consumer) Ready() bool { return c.m.ready.Load() }

// Run consumes until ctx ends. An unreachable broker is retried with a
// growing back-off (Ready false meanwhile); it is not an error.
func (c *Consumer) Run(ctx context.Context) error { return c.m.run(ctx) }

// from is one past what the shards hold of an assigned partition, checked
// against its log; the group's committed offset is only for monitoring.
func (c *Consumer) from(ctx context.Context, part int, _ int64, _ func(int64) error) (int64, error) {
	topic := c.opts.Topic
	c.a.Forget(topic, part) // another member may have moved it on
	from, err := c.a.Resume(topic, part)
	if err != nil {
		return 0, err
	}
	l := partitionLog{brokers: c.opts.Brokers, topic: topic, part: part, logger: c.opts.Logger}
	return l.resume(ctx, from, func(ctx context.Context) error { return c.a.Restart(ctx, topic, part) })
}
