package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer"
	"github.com/picdex/picdex/indexer/queue"
)

var indexerCmd = &command{
	name:     "indexer",
	synopsis: "consume records from Kafka into an index, as a consumer-group member",
	usage:    "indexer --brokers B,... [--data DIR] [--shards N] [--topic T] [--group G] [--batch N] [--batch-wait D] [--addr HOST:PORT]",
	help: `
Indexer joins the Kafka consumer group and applies the partitions it is
given to the index in DIR, in micro-batches (--batch records or what
arrives within --batch-wait). Each shard stores the offsets it has applied
in the same atomic batch as the documents, so an indexer killed at any
moment and restarted applies every record exactly once. Records that can
never be indexed go to TOPIC.dlq with the reason in the picdex-error
header. An unreachable broker is retried, not fatal. Members of one group
split the partitions, each indexing its share into its own DIR; when one
stops, the others take its partitions over. An index that should hold
every record needs a group of its own.

With --addr it serves GET /metrics (Prometheus: records consumed, indexed,
skipped and dead-lettered, batch latency, freshness, lag per partition),
/healthz and /readyz (503 while no broker is reachable).

SIGINT or SIGTERM stops consuming and closes the index.`,
}

func init() { indexerCmd.run = runIndexer }

// kafkaFlags are the consumer settings serve and indexer share.
type kafkaFlags struct {
	brokers, topic, group *string
	batch, partitions     *int
	wait                  *time.Duration
}

func addKafkaFlags(fs *flag.FlagSet, brokersUsage string) kafkaFlags {
	return kafkaFlags{
		brokers:    fs.String("brokers", "", brokersUsage),
		topic:      fs.String("topic", queue.DefaultTopic, "Kafka `topic` of records (its dead-letter topic is TOPIC.dlq)"),
		group:      fs.String("group", "picdex-indexer", "Kafka consumer `group`"),
		batch:      fs.Int("batch", 5000, "records per micro-batch"),
		wait:       fs.Duration("batch-wait", 200*time.Millisecond, "longest a micro-batch waits to fill"),
		partitions: fs.Int("partitions", 12, "partitions of the topics when they are created"),
	}
}

func (k kafkaFlags) options(log *slog.Logger) indexer.KafkaOptions {
	return indexer.KafkaOptions{
		Brokers: []string{*k.brokers}, Topic: *k.topic, DLQTopic: *k.topic + ".dlq", GroupID: *k.group,
		BatchRecords: *k.batch, BatchWait: *k.wait, Partitions: *k.partitions, Logger: log,
	}
}

func (k kafkaFlags) validate() error {
	if *k.batch < 1 || *k.batch > 1_000_000 {
		return fmt.Errorf("--batch %d: must be between 1 and 1000000", *k.batch)
	}
	if *k.wait <= 0 || *k.partitions < 1 {
		return errors.New("--batch-wait and --partitions must be positive")
	}
	o := indexer.KafkaOptions{Brokers: []string{*k.brokers}}
	return o.Validate()
}

func runIndexer(ctx context.Context, e *env, args []string) int {
	c := indexerCmd
	fs := c.flags()
	data := fs.String("data", "./data", "index `directory`")
	shards := fs.Int("shards", 0, "number of shards of a new index (0: 4, or as on disk for an existing one)")
	kf := addKafkaFlags(fs, "Kafka `brokers` B,... (required)")
	addr := fs.String("addr", "", "serve /metrics, /healthz and /readyz on this `address`")
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	if err := kf.validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	ix, err := index.Open(*data, index.Options{Shards: *shards})
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
		return 1
	}
	defer func() {
		if err := ix.Close(); err != nil {
			log.Error("closing index", "err", err)
		}
	}()
	cons, err := indexer.NewConsumer(indexer.NewApplier(ix), kf.options(log))
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	log.Info("picdex indexer", "brokers", *kf.brokers, "topic", *kf.topic, "group", *kf.group, "data", *data, "shards", ix.NumShards())
	if *addr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler(newRegistry(&cons.Stats, cons.Ready)))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !cons.Ready() {
				http.Error(w, `{"error":{"code":"unavailable","message":"not connected to Kafka"}}`, http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, `{"status":"ready"}`)
		})
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 1
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	done := make(chan struct{})
	go func() { cons.Run(ctx); close(done) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			logStats(log, cons, "stopped")
			return 0
		case <-tick.C:
			logStats(log, cons, "progress")
		}
	}
}

func logStats(log *slog.Logger, c *indexer.Consumer, msg string) {
	log.Info(msg, "ready", c.Ready(), "consumed", c.Stats.Consumed.Load(), "indexed", c.Stats.Indexed.Load(),
		"skipped", c.Stats.Skipped.Load(), "dead_lettered", c.Stats.DeadLettered.Load())
}

// memIngester queues what POST /v1/images accepts for the embedded
// indexer; a full queue makes the request wait (back-pressure). The queue
// takes a batch whole or not at all: a client that gives up while waiting
// leaves nothing of its batch behind.
// A request waits at most queueWaitTimeout for room: an indexer that has
// stopped applying must not hold every writer's connection for good.
type memIngester struct {
	q       *queue.Memory
	timeout time.Duration // default queueWaitTimeout
}

const queueWaitTimeout = time.Minute

func (m memIngester) Ingest(ctx context.Context, recs []record.Record) (int, error) {
	timeout := m.timeout
	if timeout <= 0 {
		timeout = queueWaitTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := m.q.Publish(wctx, recs)
	switch {
	case err == nil:
		return len(recs), nil
	case errors.Is(err, queue.ErrClosed), ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		// Shutting down, or no room within the wait: nothing was queued.
		return 0, fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return 0, err
}

// queuedStore sends deletes through the queue, behind the upserts of the
// same image queued before them, so that they apply in order.
type queuedStore struct {
	api.IndexBackend
	ing api.Ingester
}

func (q queuedStore) Delete(ctx context.Context, ids ...string) error {
	recs := make([]record.Record, len(ids))
	for i, id := range ids {
		recs[i] = record.Record{ID: id, Op: record.OpDelete}
	}
	_, err := q.ing.Ingest(ctx, recs)
	return err
}

// kafkaPublishTimeout bounds the publishing of one accepted batch.
const kafkaPublishTimeout = time.Minute

// kafkaIngester publishes what POST /v1/images accepts; the consumer
// applies it.
//
// Kafka (kafka-go has no transactions) cannot make a batch that spans
// partitions atomic, so this does what can be done. Every record is
// validated before the first is sent, and once sending has started it
// runs on a context detached from the request, bounded by timeout: a
// client that goes away does not cut a batch short. A broker failing
// mid-batch still can leave part of the batch published; that is answered
// 503, and sending the same batch again is safe, because an upsert or a
// delete by id applied twice leaves the index as applying it once does.
type kafkaIngester struct {
	p       *queue.Producer
	timeout time.Duration // default kafkaPublishTimeout
}

func (k kafkaIngester) Ingest(ctx context.Context, recs []record.Record) (int, error) {
	timeout := k.timeout
	if timeout <= 0 {
		timeout = kafkaPublishTimeout
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := k.p.Publish(pctx, recs); err != nil {
		if errors.Is(err, record.ErrInvalid) {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return len(recs), nil
}
