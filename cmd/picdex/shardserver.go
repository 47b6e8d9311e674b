package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/indexer"
	"github.com/picdex/picdex/indexer/backoff"
	"github.com/picdex/picdex/indexer/cluster"
)

var shardServerCmd = &command{
	name:     "shard-server",
	synopsis: "host replicas of index shards, fed from their shard logs",
	usage:    "shard-server --brokers B,... --shards LIST [--data DIR] [--addr HOST:PORT] [--generation G] [--name NAME] [--advertise URL] [--batch N] [--batch-wait D] [--searches N] [--idle-merge D] [--api-keys FILE] [--rate-limit N]",
	help: `
Shard-server hosts one replica of each shard in LIST (e.g. 0,3) of an
index generation (--generation, default the live one, waited for until
a router has created it). Each replica is an index of its own under
DIR/g<G>/shard-<S>; it reads partition S of the shard log
picdex.shards.<G> directly (every replica reads the whole partition, no
consumer group) from one past the offset stored in it, and applies it in
micro-batches with the exactly-once effect: the shard-log offset and,
per origin partition of picdex.images, the highest origin offset applied
are stored in the same atomic batch as the documents, so a re-send by a
router that crashed is skipped and a shard server killed at any moment
loses nothing and applies nothing twice. Replicas of one shard converge
to identical contents without talking to each other.

It serves the internal shard API that query servers call: term
statistics, shard search, fetch and get by id under
/internal/v1/generations/G/shards/S/, and /internal/v1/info (its
replicas, their applied offset, high-water mark, lag and documents), plus
/healthz, /readyz (503 until every replica has caught up once) and
/metrics. With --api-keys (or $PICDEX_API_KEYS) every internal call needs
a key with the search scope.

It announces itself in picdex.cluster under --name with the URL query
servers reach it at (--advertise; by default http:// and the listen
address, with this machine's host name when the address names no host),
so a query server started without --shard-servers finds it; a clean stop
withdraws the announcement. One killed stays listed, unhealthy to the
query servers, until a server of the same name starts again.

SIGINT or SIGTERM stops serving, stops the replicas and closes them.`,
}

func init() { shardServerCmd.run = runShardServer }

// hostedReplica is one replica a shard server hosts.
type hostedReplica struct {
	gen  cluster.Generation
	ix   *index.Index
	rep  *indexer.Replica
	done chan struct{}
}

func runShardServer(ctx context.Context, e *env, args []string) int {
	c := shardServerCmd
	fs := c.flags()
	data := fs.String("data", "./data", "`directory` of the replicas")
	addr := fs.String("addr", "127.0.0.1:9090", "listen `address` (port 0 picks a free one)")
	brokers := fs.String("brokers", "", "Kafka `brokers` B,... (required)")
	var shardList commaList
	fs.Var(&shardList, "shards", "shards to host, a `LIST` such as 0,3 (required)")
	generation := fs.Int("generation", 0, "generation `G` to host (0: the live one)")
	name := fs.String("name", "", "this server's name in /internal/v1/info and picdex.cluster (default: host:port of --advertise)")
	advertise := fs.String("advertise", "", "the `URL` query servers reach this server at (default: from --addr)")
	batch := fs.Int("batch", 5000, "records per micro-batch")
	wait := fs.Duration("batch-wait", 200*time.Millisecond, "longest a micro-batch waits to fill")
	idleMerge := addIdleMergeFlag(fs)
	searches := fs.Int("searches", 0, "search calls run at once, the others wait their turn until their deadline (0: twice the cores; -1: no limit)")
	sf := addSecurityFlags(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	idle, err := idleMergeOption(*idleMerge)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if *brokers == "" {
		return c.usageError(e, fs, "--brokers is required")
	}
	shards, err := parseShardList(shardList)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if *generation < 0 || *batch < 1 || *wait <= 0 {
		return c.usageError(e, fs, "--generation must not be negative, --batch and --batch-wait must be positive")
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	var apiOpts api.Options
	serverOpts, err := sf.apply(e, &apiOpts)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	bl := strings.Split(*brokers, ",")

	// Listen once there is a generation to serve: until then a query
	// server's poll or a load balancer's check is refused at once
	// rather than left waiting.
	gen, err := waitGeneration(ctx, bl, *generation, log)
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(e.stderr, "picdex shard-server: %v\n", err)
		return 1
	}
	if gen.MappingVersion != index.MappingVersion {
		// Its shard logs would be applied with another analysis than
		// the one the generation's other replicas use: the scores and
		// matches would differ by which replica answers.
		fmt.Fprintf(e.stderr, "picdex shard-server: %v: generation %d has mapping version %d, this picdex builds %d; run the picdex that built it, or reindex into a new generation\n",
			index.ErrMappingVersion, gen.ID, gen.MappingVersion, index.MappingVersion)
		return 1
	}
	for _, s := range shards {
		if s >= gen.Shards {
			return c.usageError(e, fs, fmt.Sprintf("--shards: generation %d has shards 0 to %d, not %d", gen.ID, gen.Shards-1, s))
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex shard-server: %v\n", err)
		return 1
	}
	self, err := advertised(*advertise, ln.Addr())
	if err != nil {
		ln.Close()
		return c.usageError(e, fs, err.Error())
	}
	if *name == "" {
		u, _ := url.Parse(self)
		*name = u.Host
	}
	announcement := cluster.Server{Name: *name, URL: self, Started: time.Now().UTC()}
	if err := announcement.Validate(); err != nil {
		ln.Close()
		return c.usageError(e, fs, err.Error())
	}

	rctx, stopReplicas := context.WithCancel(context.WithoutCancel(ctx))
	hosted := map[[2]int]*hostedReplica{}
	defer func() {
		stopReplicas()
		for _, h := range hosted {
			<-h.done
			if err := h.ix.Close(); err != nil {
				log.Error("closing replica", "shard", h.rep.String(), "err", err)
			}
		}
	}()
	for _, s := range shards {
		dir := filepath.Join(*data, "g"+strconv.Itoa(gen.ID), "shard-"+strconv.Itoa(s))
		ix, err := index.Open(dir, index.Options{Shards: 1, Fanout: index.FanoutOptions{Logger: log}, Warm: true, IdleMerge: idle})
		if err != nil {
			ln.Close()
			fmt.Fprintf(e.stderr, "picdex shard-server: %v\n", err)
			return 1
		}
		rep, err := indexer.NewReplica(indexer.ReplicaOptions{
			Brokers: bl, Generation: gen.ID, Shard: s, Index: ix, BatchRecords: *batch, BatchWait: *wait, Logger: log,
		})
		if err != nil {
			ix.Close()
			ln.Close()
			return c.usageError(e, fs, err.Error())
		}
		h := &hostedReplica{gen: gen, ix: ix, rep: rep, done: make(chan struct{})}
		hosted[[2]int{gen.ID, s}] = h
		go func() { defer close(h.done); rep.Run(rctx) }()
	}

	info := func(ctx context.Context) remote.Info {
		out := remote.Info{Node: *name}
		keys := make([][2]int, 0, len(hosted))
		for k := range hosted {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		for _, k := range keys {
			h := hosted[k]
			st, _ := h.ix.Stats(ctx)
			warmed := h.ix.Warmed()
			out.Replicas = append(out.Replicas, remote.ReplicaInfo{
				Generation: k[0], Shard: k[1], Shards: h.gen.Shards, MappingVersion: h.gen.MappingVersion,
				Applied: h.rep.Applied(), HighWater: h.rep.HighWater(), Lag: h.rep.Lag(), Docs: st.Docs,
				Ready: h.rep.Ready() && warmed, Warming: !warmed,
				ContactAgeMs: contactAge(h.rep.Contact()),
			})
		}
		return out
	}
	var waited atomic.Uint64 // search calls that waited for their turn
	handler, err := remote.NewHandler(remote.HandlerOptions{
		Lookup: func(g, s int) (index.Shard, bool) {
			h, ok := hosted[[2]int{g, s}]
			if !ok {
				return nil, false
			}
			return appliedShard{Shard: h.ix.Shards()[0], rep: h.rep}, true
		},
		Info: info, Logger: log, Searches: *searches, Waited: &waited,
		// No shard call outlives a graceful stop, which then closes the
		// replicas under it.
		MaxTimeout: shutdownGrace,
	})
	if err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "picdex shard-server: %v\n", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newReplicaCollector(hosted), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "picdex_shard_search_waited_total",
		Help: "Search and term-statistics calls that waited for their turn (--searches).",
	}, func() float64 { return float64(waited.Load()) }))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(reg))
	internal := handler
	if apiOpts.Keys != nil {
		g := &api.Guard{Keys: apiOpts.Keys, Need: func(*http.Request) api.Scope { return api.ScopeSearch },
			Exempt: func(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }}
		internal = g.Handler(handler)
	}
	mux.Handle("/", internal)
	srv := api.NewServer(mux, serverOpts)
	ln = api.LimitListener(ln, srv, serverOpts)
	log.Info("picdex shard-server", "url", "http://"+ln.Addr().String()+"/", "advertised", self, "name", *name, "generation", gen.ID, "shards", shardList.String(), "data", *data)
	store := cluster.NewKafka(bl)
	actx, stopAnnouncing := context.WithCancel(ctx)
	announced := make(chan bool, 1)
	go func() { announced <- announce(actx, store, announcement, log) }()
	rc := serveUntilDone(ctx, e, "shard-server", log, srv, ln)
	stopAnnouncing()
	if <-announced {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		if err := store.Withdraw(wctx, *name); err != nil {
			log.Warn("withdrawing the announcement from picdex.cluster", "err", err)
		}
		cancel()
	}
	return rc
}

// announce records s in the cluster's metadata, retrying with back-off
// while Kafka cannot take it, until ctx ends; it reports whether it did.
func announce(ctx context.Context, store cluster.Store, s cluster.Server, log *slog.Logger) bool {
	for wait := backoff.Default(); ; {
		err := store.Announce(ctx, s)
		if err == nil {
			log.Info("announced in picdex.cluster", "name", s.Name, "url", s.URL)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("announcing in picdex.cluster; retrying", "err", err)
		if backoff.Sleep(ctx, wait.Next()) != nil {
			return false
		}
	}
}

// advertised is the URL query servers are told to reach the server at:
// flag when given, else http:// and the listen address, with the
// machine's host name in place of an unspecified address.
func advertised(flag string, ln net.Addr) (string, error) {
	if flag != "" {
		return strings.TrimRight(flag, "/"), nil
	}
	host, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("--advertise is needed: %v", err)
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// appliedShard is a replica's shard that tells the internal API how far
// its shard log is applied.
type appliedShard struct {
	index.Shard
	rep *indexer.Replica
}

func (s appliedShard) Applied() int64 { return s.rep.Applied() }

// parseShardList parses --shards: distinct shard numbers.
func parseShardList(l commaList) ([]int, error) {
	if len(l) == 0 {
		return nil, fmt.Errorf("--shards is required")
	}
	var out []int
	for _, v := range l {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 1<<16 {
			return nil, fmt.Errorf("--shards: %q is not a shard number", v)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("--shards: shard %d given twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// waitGeneration returns generation g of the cluster, or the live one
// for 0, waiting (with back-off) until it exists.
func waitGeneration(ctx context.Context, brokers []string, g int, log *slog.Logger) (cluster.Generation, error) {
	var logged sync.Once
	for d := 200 * time.Millisecond; ; d = min(2*d, 5*time.Second) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := cluster.Load(lctx, brokers)
		cancel()
		want := g
		if err == nil && want == 0 {
			want = st.Live
		}
		if gen, ok := st.Generations[want]; err == nil && want != 0 && ok {
			return gen, nil
		}
		logged.Do(func() {
			log.Info("waiting for the generation to exist (a router creates the first one)", "generation", g, "err", err)
		})
		select {
		case <-ctx.Done():
			return cluster.Generation{}, ctx.Err()
		case <-time.After(d):
		}
	}
}

// contactAge is how many milliseconds ago t was; -1 for the zero time.
func contactAge(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return time.Since(t).Milliseconds()
}
