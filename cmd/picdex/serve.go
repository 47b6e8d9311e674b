package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex"
	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/indexer"
	"github.com/picdex/picdex/indexer/queue"
)

var serveCmd = &command{
	name:     "serve",
	synopsis: "run the HTTP API and web UI over a local index",
	usage: "serve [--data DIR] [--addr HOST:PORT] [--shards N] [--searches N] [--idle-merge D] [--brokers B,... [--topic T] [--group G]]\n" +
		"             [--api-keys FILE] [--require-search-key] [--rate-limit N] [--cors-origins LIST] [--max-conns N] [--max-conns-per-client N]",
	help: `
Serve opens (or creates) the index in DIR and serves the search API, the web
UI and the health probes on ADDR. A new, empty index is loaded with the
bundled demo corpus first, so the UI has something to show (not with
--brokers: an index fed from Kafka holds what the topic holds). POST /v1/images
and DELETE /v1/images/{id} queue records for the indexer running in the
same process: an in-process queue with the same offsets, acknowledgements
and back-pressure as Kafka, which logs every record to DIR/queue before
answering 202, so records accepted and not yet applied when the process
dies are applied after the next start. A graceful stop applies them first.

With --brokers, POST /v1/images publishes to Kafka instead and an indexer
in the same process (a member of --group) applies the topic to the index,
exactly as "picdex indexer" does; /readyz answers 503 while no broker is
reachable, and the server keeps running and retrying. Members of one group
split the partitions between them: give every server that should hold all
records its own --group.

A shard that no write has reached for --idle-merge (30s) merges its
segments into one, which makes searches cheaper; 0 turns that off.

SIGINT or SIGTERM stops accepting connections, lets requests in flight
finish (up to 15s) and closes the index.
` + securityHelp,
}

func init() { serveCmd.run = runServe }

const shutdownGrace = 15 * time.Second

func runServe(ctx context.Context, e *env, args []string) int {
	c := serveCmd
	fs := c.flags()
	data := fs.String("data", "./data", "index `directory`")
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (port 0 picks a free one)")
	shards := fs.Int("shards", 0, "number of shards of a new index (0: 4, or as on disk for an existing one)")
	searches := fs.Int("searches", 0, "cheap searches run at once, the others wait their turn until their deadline (0: twice the cores; -1: no limit)")
	idleMerge := addIdleMergeFlag(fs)
	var reindexRoots commaList
	fs.Var(&reindexRoots, "reindex-roots", "directories `DIR,...` that POST /v1/admin/reindex may read sources from (default: none)")
	kf := addKafkaFlags(fs, "ingest through Kafka `brokers` B,...")
	sf := addSecurityFlags(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if *kf.brokers != "" {
		if err := kf.validate(); err != nil {
			return c.usageError(e, fs, err.Error())
		}
	}
	apiOpts := api.Options{Logger: log}
	serverOpts, err := sf.apply(e, &apiOpts)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}

	if len(reindexRoots) > 0 && apiOpts.Keys == nil && !loopbackListen(*addr) {
		return c.usageError(e, fs, "--reindex-roots lets admin calls make the server read files: listening on "+*addr+", it needs --api-keys (with an admin key)")
	}
	idle, err := idleMergeOption(*idleMerge)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	fresh := isEmptyDir(*data)
	unlock, err := lockData(*data)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
		return 1
	}
	defer unlock()
	gens, err := indexer.OpenGenerations(*data, indexer.GenerationsOptions{Shards: *shards, Logger: log, Roots: reindexRoots,
		Index: index.Options{Shards: *shards, Fanout: index.FanoutOptions{Logger: log, Searches: *searches}, Warm: true, IdleMerge: idle}})
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
		return 1
	}
	defer func() {
		if err := gens.Close(); err != nil {
			log.Error("closing index", "err", err)
		}
	}()
	cur := gens.Current()
	// The demo corpus only for the embedded default: an index fed from
	// Kafka holds what the topic holds, nothing else.
	if fresh && *kf.brokers == "" {
		ix, _, release := cur.Acquire()
		err := loadDemo(ctx, ix, log)
		release()
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex serve: loading the demo corpus: %v\n", err)
			return 1
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
		return 1
	}
	backend := liveBackend{cur}
	apiOpts.Searcher, apiOpts.Store = backend, backend
	liveIx, _, release := cur.Acquire()
	release()
	cctx, stopIndexer := context.WithCancel(context.WithoutCancel(ctx))
	indexerDone := make(chan struct{})
	var drain func(context.Context) error
	var reg *prometheus.Registry // the indexer's metrics, the runtime's and the API's
	if *kf.brokers != "" {
		ko := kf.options(log)
		// Fed by Kafka, the live generation alone follows the consumer
		// group's partitions; a reindex of it is a cluster's (see
		// Cluster), and no generation is kept that would miss writes.
		if err := gens.Unfollowed(); err != nil {
			stopIndexer()
			fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
			return 1
		}
		cons, err := indexer.NewConsumer(indexer.NewApplier(liveIx), ko)
		if err != nil {
			stopIndexer()
			fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
			return 1
		}
		prod, err := queue.OpenProducer(queue.KafkaOptions{Brokers: ko.Brokers, Topic: ko.Topic, Partitions: ko.Partitions, MaxAttempts: 3})
		if err != nil {
			stopIndexer()
			fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
			return 1
		}
		defer prod.Close()
		go func() { cons.Run(cctx); close(indexerDone) }()
		ing := kafkaIngester{p: prod}
		apiOpts.Ingester = ing
		apiOpts.Store = queuedStore{Store: backend, ing: ing}
		reg = newRegistry(&cons.Stats, cons.Ready)
		apiOpts.Ready = func(context.Context) error {
			if !cons.Ready() {
				return errors.New("not connected to Kafka")
			}
			return nil
		}
		log.Info("ingesting through Kafka", "brokers", *kf.brokers, "topic", ko.Topic, "group", ko.GroupID)
	} else {
		emb, err := indexer.NewEmbedded(gens.Sink(), indexer.EmbeddedOptions{Dir: filepath.Join(*data, "queue"), Logger: log})
		if err != nil {
			stopIndexer()
			fmt.Fprintf(e.stderr, "picdex serve: %v\n", err)
			return 1
		}
		go func() { emb.Run(cctx); emb.Close(); close(indexerDone) }()
		ing := memIngester{q: emb.Queue()}
		apiOpts.Ingester = ing
		apiOpts.Store = queuedStore{Store: backend, ing: ing}
		apiOpts.Admin = gens
		drain = emb.Queue().Drain
		reg = newRegistry(&emb.Stats, func() bool { return true })
	}
	reg.MustRegister(newFanoutCollector(func() index.FanoutStats {
		ix, _, release := cur.Acquire()
		defer release()
		return ix.FanoutStats()
	}))
	apiOpts.Registerer, apiOpts.Metrics = reg, metricsHandler(reg)
	// Not ready while the index warms its caches: a load balancer sends
	// no searches that would wait for them.
	kafkaReady := apiOpts.Ready
	apiOpts.Ready = func(ctx context.Context) error {
		ix, _, release := cur.Acquire()
		warmed := ix.Warmed()
		release()
		if !warmed {
			return errors.New("warming the index's caches")
		}
		if kafkaReady != nil {
			return kafkaReady(ctx)
		}
		return nil
	}
	// After the HTTP server stops: apply what the embedded queue holds,
	// then stop the indexer, before the index closes.
	defer func() {
		if drain != nil {
			dctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			if err := drain(dctx); err != nil {
				log.Warn("records still queued at shutdown were not indexed", "err", err)
			}
			cancel()
		}
		stopIndexer()
		<-indexerDone
	}()
	srv := api.NewServer(api.New(apiOpts), serverOpts)
	ln = api.LimitListener(ln, srv, serverOpts)
	logAccess(log, apiOpts)
	log.Info("picdex serving", "url", "http://"+ln.Addr().String()+"/", "data", *data, "generation", cur.Generation(), "shards", liveIx.NumShards())

	return serveUntilDone(ctx, e, "serve", log, srv, ln)
}

// serveUntilDone serves srv on ln until ctx ends, then shuts it down,
// letting requests in flight finish for up to shutdownGrace.
func serveUntilDone(ctx context.Context, e *env, name string, log *slog.Logger, srv *http.Server, ln net.Listener) int {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(e.stderr, "picdex %s: %v\n", name, err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at shutdown", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("server", "err", err)
	}
	return 0
}

// isEmptyDir reports whether dir is absent or holds nothing, i.e. the index
// Open is about to create is new.
func isEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	for _, en := range entries {
		if en.Name() != generation.LockName {
			return false
		}
	}
	return true
}

// loadDemo applies the bundled demo corpus.
func loadDemo(ctx context.Context, ix *index.Index, log *slog.Logger) error {
	st, err := ix.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Docs > 0 {
		return nil
	}
	start := time.Now()
	var report strings.Builder
	l := newLoader(ix, 1000, &report)
	if err := l.load(ctx, "demo.jsonl", bytes.NewReader(picdex.DemoJSONL)); err != nil {
		return err
	}
	if err := l.flush(ctx); err != nil {
		return err
	}
	if l.stats.rejected > 0 {
		log.Warn("demo corpus has invalid records", "rejected", l.stats.rejected, "first", strings.SplitN(report.String(), "\n", 2)[0])
	}
	log.Info("loaded the demo corpus", "records", l.stats.indexed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// liveBackend searches and reads the live generation: each call wholly
// on the one live when it starts.
type liveBackend struct{ cur *generation.Current }

func (b liveBackend) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	ix, _, release := b.cur.Acquire()
	defer release()
	return ix.Search(ctx, req)
}

func (b liveBackend) Get(ctx context.Context, id string) (json.RawMessage, error) {
	ix, _, release := b.cur.Acquire()
	defer release()
	return ix.Get(ctx, id)
}

func (b liveBackend) Delete(ctx context.Context, ids ...string) error {
	ix, _, release := b.cur.Acquire()
	defer release()
	return ix.Delete(ctx, ids...)
}

// loopbackListen reports whether addr listens on the loopback interface
// only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
