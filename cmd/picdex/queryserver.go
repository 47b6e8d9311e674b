package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/cache"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/index/replica"
	"github.com/picdex/picdex/index/tier"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

var queryServerCmd = &command{
	name:     "query-server",
	synopsis: "serve the API over the shard servers of a cluster (stateless)",
	usage: "query-server --brokers B,... [--shard-servers HOST:PORT,...] [--addr HOST:PORT] [--topic T] [--api-key-file FILE] [--reindex-roots DIR,...]\n" +
		"             [--cache-entries N] [--cache-bytes N] [--hedge=false] [--searches N] [--api-keys FILE] [--require-search-key] [--rate-limit N] [--cors-origins LIST] [--max-conns N] [--max-conns-per-client N]",
	help: `
Query-server serves the public /v1 API and the web UI of a cluster and
holds no index. It reads the live generation from the picdex.cluster
topic, and the shard servers announced there (or only those in
--shard-servers, when given); every half second it reads every shard
server's info: which replicas of which shards it hosts and how far each
has applied its shard log. Each
search is fanned out to one replica of every shard of the live
generation, scored with global statistics and merged exactly as "picdex
serve" does in one process; a search runs wholly on one generation.

A shard call goes to a healthy, caught-up replica with the fewest calls
outstanding; a failed call is retried once on another replica; a call
slower than the shard's recent p95 is hedged (sent to a second replica,
the first answer wins); a replica failing 3 calls in a row is ejected for
a while. With every replica of a shard down, searches answer from the rest
and list the missing shard under "shards" (or 503 with
allow_partial=false). Results are cached (an LRU keyed by the request,
the generation and every shard's applied offset, so a write or a
generation switch is never answered from the cache), and identical
concurrent searches share one fan-out. At most --searches cheap searches
are fanned out at once (four times the cores by default); the others wait
their turn, first come first served, so that every shard server sees the
searches in one order, and get 429 overloaded if their deadline passes
while they wait.

POST /v1/images and DELETE /v1/images/{id} publish to the --topic for the
routers. Any number of query servers can run behind a load balancer that
checks /readyz (503 until every shard of the live generation has a
healthy, caught-up replica).

The shard servers' internal API is called with the key in --api-key-file
(or $PICDEX_API_KEY), which needs the search scope on the shard servers.

The admin API runs cluster reindex jobs in the query server, as "picdex
reindex --brokers" does (POST /v1/admin/reindex {"from": ..., "shards":
N}; GET /v1/admin/jobs/ID; POST /v1/admin/rollback): a source is this
cluster's records topic, kafka://BROKERS/TOPIC, or files and directories
on this machine under --reindex-roots (none by default; off loopback it
needs --api-keys). One job runs at a time in the cluster (409 otherwise);
a job cut off by the server's stop is resumed by starting it again.
` + securityHelp,
}

func init() { queryServerCmd.run = runQueryServer }

// queryServerGOGC is the query server's GOGC unless the environment sets
// one. It holds no index, so its live heap is a few tens of megabytes
// that every search's answers churn through: at the other commands' 200
// it collects every few milliseconds under load, which cost a tenth of
// its CPU (1M records, 16 connections: 0.72 ms a search, against 0.64–0.70
// at 800), for a heap that stays at some hundreds of megabytes.
const queryServerGOGC = 800

func runQueryServer(ctx context.Context, e *env, args []string) int {
	c := queryServerCmd
	fs := c.flags()
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (port 0 picks a free one)")
	brokers := fs.String("brokers", "", "Kafka `brokers` B,... (required)")
	topic := fs.String("topic", queue.DefaultTopic, "Kafka `topic` that POST /v1/images publishes to")
	partitions := fs.Int("partitions", 12, "partitions of the topic when it is created")
	var servers commaList
	fs.Var(&servers, "shard-servers", "shard servers `HOST:PORT,...` (default: the ones announced in picdex.cluster)")
	cacheEntries := fs.Int("cache-entries", 10000, "results kept in the result cache (0: no cache)")
	cacheBytes := fs.Int64("cache-bytes", 64<<20, "bytes the result cache may hold")
	hedge := fs.Bool("hedge", true, "hedge a shard call slower than the shard's recent p95 to a second replica")
	searches := fs.Int("searches", 0, "cheap searches fanned out at once, the others wait their turn until their deadline (0: four times the cores; -1: no limit)")
	keyFile := addAPIKeyFileFlag(fs)
	var reindexRoots commaList
	fs.Var(&reindexRoots, "reindex-roots", "directories `DIR,...` that POST /v1/admin/reindex may read file sources from (default: none)")
	sf := addSecurityFlags(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	ko := queue.KafkaOptions{Brokers: strings.Split(*brokers, ","), Topic: *topic, Partitions: *partitions, MaxAttempts: 3}
	if *brokers == "" {
		return c.usageError(e, fs, "--brokers is required")
	}
	if err := ko.Validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if *cacheEntries < 0 || *cacheBytes < 0 {
		return c.usageError(e, fs, "--cache-entries and --cache-bytes must not be negative")
	}
	key, err := clientKey(e, *keyFile)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(queryServerGOGC)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	apiOpts := api.Options{Logger: log}
	serverOpts, err := sf.apply(e, &apiOpts)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if len(reindexRoots) > 0 && apiOpts.Keys == nil && !loopbackListen(*addr) {
		return c.usageError(e, fs, "--reindex-roots lets admin calls make the server read files: listening on "+*addr+", it needs --api-keys (with an admin key)")
	}

	meta := &clusterMeta{brokers: ko.Brokers, ttl: 2 * time.Second}
	topts := tier.Options{ShardServers: servers, Live: meta.live, Client: remote.ClientOptions{APIKey: key},
		Replica: replica.Options{DisableHedging: !*hedge, Logger: log}, Fanout: index.FanoutOptions{Logger: log, Searches: *searches}, Logger: log}
	if len(servers) == 0 {
		topts.Discover = meta.servers
	}
	t, err := tier.New(topts)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	tctx, stopTier := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTier()
	go t.Run(tctx)

	prod, err := queue.OpenProducer(ko)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex query-server: %v\n", err)
		return 1
	}
	defer prod.Close()
	ing := kafkaIngester{p: prod}
	var searcher api.Searcher = t
	var rc *cache.Searcher
	if *cacheEntries > 0 {
		rc = cache.New(t, cache.Options{MaxEntries: *cacheEntries, MaxBytes: *cacheBytes, Version: t.Version})
		searcher = rc
	}
	apiOpts.Searcher, apiOpts.Ingester = searcher, ing
	apiOpts.Store = clusterStore{t: t, ing: ing}
	apiOpts.Admin = &clusterAdmin{ctx: ctx, brokers: ko.Brokers, topic: *topic, roots: reindexRoots, apiKey: key,
		jobs: map[string]*clusterJob{}}
	apiOpts.Ready = t.Ready
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newTierCollector(t, rc), newFanoutCollector(t.FanoutStats))
	apiOpts.Registerer, apiOpts.Metrics = reg, metricsHandler(reg)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex query-server: %v\n", err)
		return 1
	}
	srv := api.NewServer(api.New(apiOpts), serverOpts)
	ln = api.LimitListener(ln, srv, serverOpts)
	logAccess(log, apiOpts)
	shardServers := strings.Join(servers, ",")
	if len(servers) == 0 {
		shardServers = "announced in " + cluster.Topic
	}
	log.Info("picdex query-server", "url", "http://"+ln.Addr().String()+"/", "brokers", *brokers, "shard_servers", shardServers)
	return serveUntilDone(ctx, e, "query-server", log, srv, ln)
}

// clusterMeta reads the cluster's metadata (the live generation and the
// shard servers that announced themselves) at most once every ttl.
type clusterMeta struct {
	brokers []string
	ttl     time.Duration

	mu   sync.Mutex
	at   time.Time
	st   cluster.State
	err  error
	have bool
}

// load returns the state as last read, reading it again once it is
// older than ttl.
func (m *clusterMeta) load(ctx context.Context) (cluster.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.have && time.Since(m.at) < m.ttl {
		return m.st, m.err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cluster.Load(lctx, m.brokers)
	m.at, m.have, m.err = time.Now(), true, err
	if err == nil {
		m.st = st
	}
	return m.st, m.err
}

func (m *clusterMeta) live(ctx context.Context) (tier.Generation, error) {
	st, err := m.load(ctx)
	if err != nil {
		return tier.Generation{}, err
	}
	g, ok := st.LiveGeneration()
	if !ok {
		return tier.Generation{}, fmt.Errorf("%w (no router has created one)", tier.ErrNoGeneration)
	}
	return tier.Generation{ID: g.ID, Shards: g.Shards}, nil
}

func (m *clusterMeta) servers(ctx context.Context) ([]string, error) {
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(st.Servers))
	for _, s := range st.Servers {
		out = append(out, s.URL)
	}
	return out, nil
}

// clusterStore reads images from their shard's replicas and deletes them
// by publishing a delete for the routers.
type clusterStore struct {
	t   *tier.Tier
	ing kafkaIngester
}

func (s clusterStore) Get(ctx context.Context, id string) (json.RawMessage, error) {
	return s.t.Get(ctx, id)
}

func (s clusterStore) Delete(ctx context.Context, ids ...string) error {
	return queueDeletes(ctx, s.ing, ids)
}
