package sink

import (
	"context"

	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
)

// Kafka publishes records to Kafka in batches. Flush returns once every
// record written is acknowledged by all in-sync replicas.
type Kafka struct {
	p     *queue.Producer
	batch []record.Record
	max   int
}

// NewKafka creates the topic if needed and returns a sink publishing to it.
func NewKafka(ctx context.Context, opts queue.KafkaOptions) (*Kafka, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	p, err := queue.NewProducer(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Kafka{p: p, max: opts.BatchSize}, nil
}

// Write adds r to the batch, publishing it when full; publishing blocks
// while the brokers are slow, which slows the crawl rather than growing
// memory.
func (k *Kafka) Write(ctx context.Context, r record.Record) error {
	k.batch = append(k.batch, r)
	if len(k.batch) >= k.max {
		return k.Flush(ctx)
	}
	return nil
}

// Flush publishes the batch. On an error the batch is kept, so a later
// Flush or Close tries it again.
func (k *Kafka) Flush(ctx context.Context) error {
	if len(k.batch) == 0 {
		return nil
	}
	if err := k.p.Publish(ctx, k.batch); err != nil {
		return err
	}
	k.batch = k.batch[:0]
	return nil
}

// Close publishes what is left and closes the producer.
func (k *Kafka) Close(ctx context.Context) error {
	err := k.Flush(ctx)
	if cerr := k.p.Close(); err == nil {
		err = cerr
	}
	return err
}
