package indexer

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/indexer/backoff"
)

// batcher turns a stream of messages into applied micro-batches: the part
// the Kafka consumer, the embedded queue, the router and the replicas
// share.
type batcher struct {
	// sink writes a mapped batch on: an Applier's ApplyMapped, or a
	// router's produce to the shard log. It may be called again with the
	// same batch after an error.
	sink  func(ctx context.Context, batch []Mapped) (Result, error)
	stats *Stats
	// written counts Result.Applied (default stats.Indexed).
	written   *atomic.Int64
	records   int           // messages per batch at most
	wait      time.Duration // longest a batch waits to fill after its first message
	logger    *slog.Logger
	onApplied func([]Message, time.Time)
	// deadLetter keeps what can never be indexed somewhere it can be
	// looked at; it returns only once it has, or ctx ends.
	deadLetter func(ctx context.Context, rejects []Mapped) error
}

// batchDefaults fills in the batching options every reader of a stream
// takes: 5,000 records, wait (when zero), and a logger that drops all.
func batchDefaults(records *int, wait *time.Duration, logger **slog.Logger, defaultWait time.Duration) {
	if *records <= 0 {
		*records = 5000 // bleve indexes big batches best; the wait bounds the latency
	}
	if *wait <= 0 {
		*wait = defaultWait
	}
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
}

// run applies micro-batches of what arrives on in — records messages, or
// what came within wait of the first — and after each calls commit with
// the next offset of every partition in it.
//
// The wait counts from when the batch's first message was read
// (Message.Read), not from when the batcher takes it: messages read
// while the previous batch was being applied have waited already, and
// a batch that has waited its time goes at once with what has arrived.
// So a message waits at most wait plus one apply, not an apply, the
// wait and another apply.
func (b *batcher) run(ctx context.Context, in <-chan Message, commit func(next map[int]int64) error) error {
	for {
		var batch []Message
		select {
		case m := <-in:
			batch = append(batch, m)
		case <-ctx.Done():
			return ctx.Err()
		}
		left := b.wait
		if read := batch[0].Read; !read.IsZero() {
			left = b.wait - time.Since(read)
		}
		wait := time.NewTimer(max(left, 0))
	fill:
		for len(batch) < b.records {
			if left <= 0 {
				// Its time is up: what has arrived meanwhile, no more.
				select {
				case m := <-in:
					batch = append(batch, m)
					continue
				default:
					break fill
				}
			}
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
		if err := b.apply(ctx, batch); err != nil {
			return err
		}
		next := map[int]int64{}
		for _, m := range batch {
			next[m.Partition] = max(next[m.Partition], m.Offset+1)
		}
		if err := commit(next); err != nil && ctx.Err() == nil {
			b.logger.Warn("committing offsets", "err", err)
		}
	}
}

// apply dead-letters what cannot be indexed, then applies the batch,
// retrying transient failures with a growing back-off until ctx ends.
// Dead letters go first: should the process die between the two, they
// are written again (at least once) rather than lost.
func (b *batcher) apply(ctx context.Context, batch []Message) error {
	b.stats.Consumed.Add(int64(len(batch)))
	mapped := MapAll(batch)
	var rejects []Mapped
	for _, m := range mapped {
		if m.Err != nil {
			rejects = append(rejects, m)
		}
	}
	if len(rejects) > 0 {
		if err := b.deadLetter(ctx, rejects); err != nil {
			return err
		}
		b.stats.DeadLettered.Add(int64(len(rejects)))
	}
	wait := backoff.Default()
	for {
		start := time.Now()
		res, err := b.sink(ctx, mapped)
		if err == nil {
			written := b.written
			if written == nil {
				written = &b.stats.Indexed
			}
			written.Add(int64(res.Applied))
			b.stats.Skipped.Add(int64(res.Skipped))
			b.stats.Resent.Add(int64(res.Resent))
			b.stats.Resets.Add(int64(res.Resets))
			b.stats.observe(batch, start, time.Now())
			if b.onApplied != nil {
				b.onApplied(batch, time.Now())
			}
			return nil
		}
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return ctx.Err()
		}
		b.logger.Warn("applying a batch; retrying", "err", err)
		if err := backoff.Sleep(ctx, wait.Next()); err != nil {
			return err
		}
	}
}
