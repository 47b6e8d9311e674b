package indexer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/picdex/picdex/indexer/queue"
)

// EmbeddedTopic names the in-process queue in the offsets the shards keep.
const EmbeddedTopic = "picdex.embedded"

// EmbeddedPartitions is the default number of partitions of the
// in-process queue.
const EmbeddedPartitions = 4

// EmbeddedOptions configure an Embedded indexer. A zero field takes its
// default.
type EmbeddedOptions struct {
	Partitions   int           // default EmbeddedPartitions
	Capacity     int           // unacknowledged records before Publish blocks (default 50,000)
	BatchRecords int           // default 5,000
	BatchWait    time.Duration // default 100 ms
	// Dir, when set, makes the queue durable: every record is in a log in
	// Dir before Publish returns, and records published but not applied
	// when the process died are applied after the next start.
	Dir    string
	Logger *slog.Logger
}

// Embedded is the indexer over the in-process queue: the default of
// picdex serve, which needs no Kafka. It runs the same batcher, Applier
// and offsets as the Kafka consumer; records that cannot be indexed are
// logged (there is no dead-letter topic).
type Embedded struct {
	Stats  Stats
	q      *queue.Memory
	b      *batcher
	logger *slog.Logger
}

// NewEmbedded prepares an in-process queue whose offsets continue from
// what a's shards hold.
func NewEmbedded(a Sink, opts EmbeddedOptions) (*Embedded, error) {
	if opts.Partitions <= 0 {
		opts.Partitions = EmbeddedPartitions
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 50_000
	}
	batchDefaults(&opts.BatchRecords, &opts.BatchWait, &opts.Logger, 100*time.Millisecond)
	start := make([]int64, opts.Partitions)
	for p := range start {
		off, err := a.Resume(EmbeddedTopic, p)
		if err != nil {
			return nil, err
		}
		start[p] = off
	}
	var q *queue.Memory
	if opts.Dir == "" {
		q = queue.NewMemory(start, opts.Capacity)
	} else {
		var err error
		if q, err = queue.OpenDurable(opts.Dir, start, opts.Capacity); err != nil {
			return nil, err
		}
		if n := q.Pending(); n > 0 {
			opts.Logger.Info("applying records accepted before the last stop", "records", n)
		}
	}
	e := &Embedded{q: q, logger: opts.Logger}
	e.Stats.lagOf = e.q.Backlog
	e.b = &batcher{sink: a.ApplyMapped, stats: &e.Stats, records: opts.BatchRecords, wait: opts.BatchWait, logger: opts.Logger,
		deadLetter: func(_ context.Context, rejects []Mapped) error {
			for _, m := range rejects {
				opts.Logger.Warn("record cannot be indexed", "offset", m.Offset, "reason", m.Err)
			}
			return nil
		}}
	return e, nil
}

// Queue is where producers publish.
func (e *Embedded) Queue() *queue.Memory { return e.q }

// Run applies the queue until ctx ends.
func (e *Embedded) Run(ctx context.Context) error {
	in := make(chan Message, e.b.records)
	var wg sync.WaitGroup
	for p := range e.q.Partitions() {
		wg.Go(func() {
			from := e.q.Next(p) // the first message not applied
			for {
				items, err := e.q.Read(ctx, p, from)
				if err != nil {
					return
				}
				for _, it := range items {
					select {
					case in <- Message{Topic: EmbeddedTopic, Partition: p, Offset: it.Offset, Key: it.Key, Value: it.Value, ProducedAt: it.ProducedAt, Read: time.Now()}:
					case <-ctx.Done():
						return
					}
				}
				from = items[len(items)-1].Offset + 1
			}
		})
	}
	err := e.b.run(ctx, in, func(next map[int]int64) error {
		for p, off := range next {
			if err := e.q.Ack(p, off); err != nil {
				e.logger.Warn("queue log", "partition", p, "err", err)
			}
		}
		return nil
	})
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close closes the queue (and its logs); call it after Run returns.
func (e *Embedded) Close() { e.q.Close() }
