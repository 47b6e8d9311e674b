package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/indexer/backoff"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// ReplicaOptions configure a Replica. A zero field takes its default.
type ReplicaOptions struct {
	Brokers    []string
	Generation int          // required
	Shard      int          // the partition of the generation's shard log
	Index      *index.Index // exactly one shard, opened (and closed) by the caller
	// A micro-batch is BatchRecords messages, or what arrived within
	// BatchWait of its first (defaults 5,000 and 200 ms).
	BatchRecords int
	BatchWait    time.Duration
	Logger       *slog.Logger
	// OnApplied, when set, is called after each micro-batch is applied
	// (and so searchable), with the batch.
	OnApplied func(batch []Message, at time.Time)
	// ProbeEvery is how often the replica asks the broker for the end of
	// its partition when no message arrives, so that its lag stays true
	// and Contact tells when the broker last answered (default 1s).
	ProbeEvery time.Duration
}

// Validate fills in defaults and reports options that cannot work.
func (o *ReplicaOptions) Validate() error {
	q := queue.KafkaOptions{Brokers: o.Brokers}
	if err := q.Validate(); err != nil {
		return err
	}
	o.Brokers = q.Brokers
	switch {
	case o.Generation < 1:
		return fmt.Errorf("replica: generation %d: want 1 or more", o.Generation)
	case o.Shard < 0:
		return fmt.Errorf("replica: shard %d: must not be negative", o.Shard)
	case o.Index == nil:
		return errors.New("replica: no index")
	case o.Index.NumShards() != 1:
		return fmt.Errorf("replica: the index has %d shards, want 1", o.Index.NumShards())
	}
	batchDefaults(&o.BatchRecords, &o.BatchWait, &o.Logger, 200*time.Millisecond)
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = time.Second
	}
	return nil
}

// Replica keeps a one-shard index equal to its partition of a
// generation's shard log. It reads the partition directly (every
// replica of a shard reads all of it, so they converge without talking
// to each other), from one past the offset stored in the shard, and
// applies micro-batches with Applier's exactly-once effect; a router's
// re-sends are skipped by their origin offsets.
type Replica struct {
	Stats Stats
	opts  ReplicaOptions
	a     *Applier
	b     *batcher
	log   partitionLog

	applied, highWater atomic.Int64
	ready              atomic.Bool
	contact            atomic.Int64 // unix nanoseconds; 0: never
}

// NewReplica returns a Replica; Run starts it.
func NewReplica(opts ReplicaOptions) (*Replica, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Replica{opts: opts, a: NewApplier(opts.Index),
		log: partitionLog{brokers: opts.Brokers, topic: cluster.ShardTopic(opts.Generation), part: opts.Shard, logger: opts.Logger}}
	r.b = &batcher{sink: r.a.ApplyMapped, stats: &r.Stats, records: opts.BatchRecords, wait: opts.BatchWait,
		logger: opts.Logger, onApplied: opts.OnApplied,
		deadLetter: func(_ context.Context, rejects []Mapped) error {
			for _, m := range rejects {
				opts.Logger.Warn("shard-log message cannot be indexed", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", m.Err)
			}
			return nil
		}}
	return r, nil
}

// Applied is one past the last shard-log offset the replica has applied
// (0 before Run has read the shard).
func (r *Replica) Applied() int64 { return r.applied.Load() }

// HighWater is one past the last offset of the partition, as last seen.
func (r *Replica) HighWater() int64 { return r.highWater.Load() }

// Lag is how many offsets of the partition the replica has yet to apply.
func (r *Replica) Lag() int64 { return max(r.HighWater()-r.Applied(), 0) }

// Ready reports whether the replica has caught up with its partition at
// least once since it started.
func (r *Replica) Ready() bool { return r.ready.Load() }

// Contact is when the broker last told the replica the end of its
// partition (a fetch or a probe); the zero time if it never has. A
// replica cut off from Kafka keeps its last lag, which then says less
// and less: Contact tells how old it is.
func (r *Replica) Contact() time.Time {
	if ns := r.contact.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// sawEnd records the partition's end as the broker just gave it.
func (r *Replica) sawEnd(hw int64) {
	r.highWater.Store(hw)
	r.contact.Store(time.Now().UnixNano())
}

// String names the replica's partition.
func (r *Replica) String() string { return fmt.Sprintf("replica %s/%d", r.log.topic, r.log.part) }

// Run applies the partition until ctx ends. An unreachable broker or a
// missing topic is retried with a growing back-off; it is not an error.
func (r *Replica) Run(ctx context.Context) error {
	wait := backoff.Default()
	for ctx.Err() == nil {
		err := r.session(ctx)
		if ctx.Err() != nil {
			break
		}
		r.opts.Logger.Warn("shard log session ended; retrying", "replica", r.String(), "err", err)
		if backoff.Sleep(ctx, wait.Next()) != nil {
			break
		}
	}
	return nil
}

func (r *Replica) caughtUp() {
	if r.Applied() >= r.HighWater() {
		r.ready.Store(true)
	}
}

// probe asks the broker for the partition's end every ProbeEvery until
// ctx ends, so an idle replica's lag and Contact stay current and one
// cut off from Kafka shows it. Failures are not errors: the reader's own
// fetches decide whether the session goes on.
func (r *Replica) probe(ctx context.Context) {
	t := time.NewTicker(r.opts.ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.opts.ProbeEvery+time.Second)
		_, last, err := r.log.offsetRange(pctx)
		cancel()
		if err == nil && last >= r.HighWater() {
			r.sawEnd(last)
			r.caughtUp()
		}
	}
}

// session reads the partition from what the shard holds until an error.
func (r *Replica) session(ctx context.Context) error {
	topic, part := r.log.topic, r.log.part
	r.a.Forget(topic, part)
	from, err := r.a.Resume(topic, part)
	if err != nil {
		return err
	}
	if from, err = r.log.resume(ctx, from, func(ctx context.Context) error { return r.a.Restart(ctx, topic, part) }); err != nil {
		return err
	}
	_, last, err := r.log.offsetRange(ctx)
	if err != nil {
		return err
	}
	r.applied.Store(from)
	r.sawEnd(last)
	r.caughtUp()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make(chan Message, r.opts.BatchRecords)
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		defer cancel()
		readErr = r.log.read(ctx, from, r.opts.BatchWait, in, func(hw, next int64) {
			r.sawEnd(hw)
			r.Stats.SetLag(part, max(hw-next, 0))
		})
	})
	wg.Go(func() { r.probe(ctx) })
	err = r.b.run(ctx, in, func(next map[int]int64) error {
		r.applied.Store(next[part])
		r.caughtUp()
		return nil
	})
	cancel()
	wg.Wait()
	return errors.Join(err, readErr)
}
