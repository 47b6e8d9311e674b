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
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

var indexerCmd = &command{
	name:     "indexer",
	synopsis: "route records from Kafka to a generation's shard log, or consume them into one index",
	usage:    "indexer --brokers B,... [--data DIR] [--shards N] [--generation G] [--topic T] [--group G] [--batch N] [--batch-wait D] [--addr HOST:PORT]",
	help: `
Without --data, indexer is the router of a distributed index. It joins
the consumer group picdex-router.G (or --group) over TOPIC, parses,
validates and normalises each record, and produces it to partition
shard(id) of the shard log picdex.shards.G of generation G, with its
origin (TOPIC/partition/offset) in the picdex-origin header. A batch is
acknowledged by the shard log before the group offsets are committed, so
a router killed at any moment re-sends at most its last batches, and the
shard servers skip those by origin. G is the live generation (see the
compacted topic picdex.cluster), or --generation G. On a cluster with no
generation yet, the first router creates generation 1 with --shards N
shards (default 4) and its shard log of exactly N partitions; routers
started at once agree on one. Any number of routers share the work.
Without --generation (and --group) a router routes to every generation
that is routed to: the live one, the ones kept for rollback (so they stay
up to date), and a new one a reindex builds, each in its own group, and
it starts and stops those as generations are built and retired.

With --data, indexer joins the consumer group picdex-indexer (or --group)
and applies the partitions it is given to the index in DIR, in
micro-batches (--batch records or what arrives within --batch-wait). Each
shard stores the offsets it has applied in the same atomic batch as the
documents, so an indexer killed at any moment and restarted applies every
record exactly once. Members of one group split the partitions, each
indexing its share into its own DIR; an index that should hold every
record needs a group of its own.

Either way, records that can never be indexed go to TOPIC.dlq with the
reason in the picdex-error header, and an unreachable broker is retried,
not fatal.

With --addr it serves GET /metrics (Prometheus: records consumed,
indexed or routed, skipped and dead-lettered, batch latency, freshness,
lag per partition), /healthz and /readyz (503 while no broker is
reachable, or, for a router, before it knows its generation).

SIGINT or SIGTERM stops consuming (and closes the index).`,
}

func init() { indexerCmd.run = runIndexer }

// kafkaFlags are the consumer settings serve and indexer share.
type kafkaFlags struct {
	brokers, topic, group *string
	batch, partitions     *int
	wait                  *time.Duration
}

// addIdleMergeFlag adds --idle-merge, how long a shard waits without
// writes before it merges its segments.
func addIdleMergeFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("idle-merge", index.DefaultIdleMerge, "merge a shard's segments into one once no write has reached it for this `long` (0: never)")
}

// idleMergeOption is index.Options.IdleMerge for the flag's value.
func idleMergeOption(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("--idle-merge %s: want a duration of 0 (never) or more", d)
	case d == 0:
		return -1, nil
	}
	return d, nil
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
	data := fs.String("data", "", "index `directory` (none: run the router)")
	shards := fs.Int("shards", 0, "shards of a new index, or of generation 1 when the router creates it (0: 4, or as it exists)")
	generation := fs.Int("generation", 0, "router: the index `generation` to route for (0: the live one)")
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
	if *shards < 0 || *shards > 1024 || *generation < 0 {
		return c.usageError(e, fs, "--shards must be between 0 and 1024 and --generation must not be negative")
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if *data == "" {
		group := ""
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "group" {
				group = *kf.group
			}
		})
		return runRouter(ctx, e, log, kf, group, *shards, *generation, *addr)
	}
	if *generation != 0 {
		return c.usageError(e, fs, "--generation is for the router (without --data)")
	}
	unlock, err := lockData(*data)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
		return 1
	}
	defer unlock()
	ix, err := openLiveForWrites(*data, index.Options{Shards: *shards}, e.stderr)
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
		stop, err := serveStatus(log, *addr, &cons.Stats, cons.Ready, "not connected to Kafka")
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 1
		}
		defer stop()
	}
	runLogging(ctx, log, cons.Run, &cons.Stats, cons.Ready)
	return 0
}

// runLogging runs a consumer or router until it returns, logging its
// progress every ten seconds.
func runLogging(ctx context.Context, log *slog.Logger, run func(context.Context) error, s *indexer.Stats, ready func() bool) error {
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	logStats := func(msg string) {
		log.Info(msg, "ready", ready(), "consumed", s.Consumed.Load(), "indexed", s.Indexed.Load(), "routed", s.Routed.Load(),
			"skipped", s.Skipped.Load(), "dead_lettered", s.DeadLettered.Load())
	}
	for {
		select {
		case err := <-done:
			logStats("stopped")
			return err
		case <-tick.C:
			logStats("progress")
		}
	}
}

// serveStatus serves /metrics, /healthz and /readyz on addr until stop.
func serveStatus(log *slog.Logger, addr string, s *indexer.Stats, ready func() bool, notReady string) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(newRegistry(s, ready)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, `{"error":{"code":"unavailable","message":"`+notReady+`"}}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

// runRouter is picdex indexer without --data: bootstrap generation 1 if
// the cluster has none, then route.
func runRouter(ctx context.Context, e *env, log *slog.Logger, kf kafkaFlags, group string, shards, generation int, addr string) int {
	opts := indexer.RouterOptions{Brokers: []string{*kf.brokers}, Topic: *kf.topic, DLQTopic: *kf.topic + ".dlq", GroupID: group,
		Generation: generation, BatchRecords: *kf.batch, BatchWait: *kf.wait, Partitions: *kf.partitions, Logger: log}
	// One generation (--generation or --group), or every one routed to.
	var (
		run   func(context.Context) error
		stats *indexer.Stats
		ready func() bool
	)
	if generation != 0 || group != "" {
		r, err := indexer.NewRouter(opts)
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 2
		}
		run, stats, ready = r.Run, &r.Stats, r.Ready
	} else {
		rs, err := indexer.NewRouters(opts)
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 2
		}
		run, stats, ready = rs.Run, &rs.Stats, rs.Ready
	}
	if addr != "" {
		stop, err := serveStatus(log, addr, stats, ready, "not routing: Kafka unreachable or no generation")
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 1
		}
		defer stop()
	}
	if generation == 0 {
		if shards == 0 {
			shards = 4
		}
		if err := bootstrap(ctx, log, opts.Brokers, shards); err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
			return 1
		}
	}
	log.Info("picdex router", "brokers", *kf.brokers, "topic", *kf.topic, "generation", generation)
	if err := runLogging(ctx, log, run, stats, ready); err != nil {
		fmt.Fprintf(e.stderr, "picdex indexer: %v\n", err)
		return 1
	}
	return 0
}

// bootstrap makes generation 1 live unless one is, retrying while the
// brokers cannot be reached.
func bootstrap(ctx context.Context, log *slog.Logger, brokers []string, shards int) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		g, err := cluster.Bootstrap(ctx, brokers, shards)
		if err == nil {
			if g.Shards != shards {
				log.Info("the live generation has its own shard count", "generation", g.ID, "shards", g.Shards)
			}
			return nil
		}
		if errors.Is(err, cluster.ErrNotBootstrappable) {
			log.Warn("not bootstrapping: waiting for a generation to be made live", "err", err)
			return nil
		}
		log.Warn("bootstrapping the cluster; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
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
	api.Store
	ing api.Ingester
}

func (q queuedStore) Delete(ctx context.Context, ids ...string) error {
	return queueDeletes(ctx, q.ing, ids)
}

// queueDeletes hands ing a delete for each id, as POST /v1/images hands
// it records: deletes travel the same queue as upserts, in order.
func queueDeletes(ctx context.Context, ing api.Ingester, ids []string) error {
	recs := make([]record.Record, len(ids))
	for i, id := range ids {
		recs[i] = record.Record{ID: id, Op: record.OpDelete}
	}
	_, err := ing.Ingest(ctx, recs)
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
