package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/api/apibench"
	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// Targets of the cluster suite (issue 12).
const (
	clusterServeTarget = 0.7                   // cluster QPS ÷ serve QPS, at least
	clusterP99Target   = 50 * time.Millisecond // cluster p99, below
	clusterBleveTarget = 1.5                   // cluster QPS ÷ bleve QPS, at least
	freshnessTarget    = time.Second           // produce-to-searchable p99, below
	freshnessRate      = 1000                  // records a second
	freshnessEvery     = 50 * time.Millisecond // one batch of freshnessRate/20 records
	freshnessPoll      = 25 * time.Millisecond // how often the pending batches are searched
	clusterPartitions  = 8                     // of picdex.images
	childGrace         = 30 * time.Second      // SIGTERM to SIGKILL
	childReady         = 2 * time.Minute       // start to /readyz
	freshnessLate      = 10 * time.Second      // longest a batch is waited for after the last is produced
	warmUpAtMost       = 20 * time.Second      // per system, before the rounds: its caches filled, as a running server's are
	publishChunk       = 5000                  // records per Publish of the bulk load
	workloadName       = "loadgen's mixed mix with place searches (apibench MixedGeo)"
	bleveWorkloadNote  = "bleve: the closest query of each (query string for q, match on tags/camera.make, the exact phash for similar, lat/lon ranges for near and bbox, terms facets but no date histogram; see apibench.BleveSearchHandler)"
	clusterDefaultN    = 1_000_000
	clusterDefaultConc = 16
)

// clusterBenchOptions describe a run of the cluster suite.
type clusterBenchOptions struct {
	Binary    string // the picdex binary whose processes are measured
	Dir       string // scratch parent (default: system temp)
	N         int
	Shards    int
	Repeat    int
	Conns     int
	Seed      int64
	Duration  time.Duration // one round per system
	Freshness time.Duration // how long records are produced at freshnessRate
	IdleMerge time.Duration // --idle-merge of serve and the shard servers
}

func (o clusterBenchOptions) validate() error {
	switch {
	case o.Binary == "":
		return errors.New("no picdex binary to run")
	case o.N < 1 || o.N > 10_000_000:
		return fmt.Errorf("--n %d: want 1..10000000", o.N)
	case o.Shards < 2 || o.Shards > 256:
		return fmt.Errorf("--shards %d: the cluster suite splits the shards over two shard servers, want 2..256", o.Shards)
	case o.Repeat < 1 || o.Conns < 1 || o.Conns > 1000:
		return errors.New("--repeat must be positive and --conns 1..1000")
	case o.Duration <= 0 || o.Freshness <= 0 || o.IdleMerge < 0:
		return errors.New("--duration and --freshness must be positive, the idle merge not negative")
	}
	return nil
}

// benchSystem is one server the rounds drive.
type benchSystem struct {
	name          string
	url           string
	procs         []*child // the processes that serve it, whose CPU time is counted
	qps, p50, p99 []float64
	cpu           [][]float64 // per process, per round: CPU seconds per search
	failed        int
}

// cpuNow is the CPU time each of s's processes has used so far; nil
// where it cannot be read.
func (s *benchSystem) cpuNow() []time.Duration {
	out := make([]time.Duration, len(s.procs))
	for i, c := range s.procs {
		t, ok := c.cpu()
		if !ok {
			return nil
		}
		out[i] = t
	}
	return out
}

// addCPU records the CPU time per search of a round of searches that
// began at before.
func (s *benchSystem) addCPU(before []time.Duration, searches int) {
	after := s.cpuNow()
	if before == nil || after == nil || searches == 0 {
		return
	}
	if s.cpu == nil {
		s.cpu = make([][]float64, len(s.procs))
	}
	for i := range s.procs {
		s.cpu[i] = append(s.cpu[i], (after[i]-before[i]).Seconds()/float64(searches))
	}
}

// cpuMedians are the median CPU time per search of each process and of
// their sum (false when it was not measured).
func (s *benchSystem) cpuMedians() (each []time.Duration, total time.Duration, ok bool) {
	if len(s.cpu) == 0 || len(s.cpu[0]) == 0 {
		return nil, 0, false
	}
	sums := make([]float64, len(s.cpu[0]))
	for i := range s.cpu {
		each = append(each, time.Duration(indexbench.Median(s.cpu[i])*float64(time.Second)))
		for r, v := range s.cpu[i] {
			sums[r] += v
		}
	}
	return each, time.Duration(indexbench.Median(sums) * float64(time.Second)), true
}

func (s *benchSystem) add(r *apibench.Report) {
	s.qps = append(s.qps, r.PerSecond())
	s.p50 = append(s.p50, float64(r.All.P50))
	s.p99 = append(s.p99, float64(r.All.P99))
	s.failed += failures(r)
}

func failures(r *apibench.Report) int { return r.Transport + r.Requests - r.ByStatus[http.StatusOK] }

func (s *benchSystem) medians() (qps float64, p50, p99 time.Duration) {
	return indexbench.Median(s.qps), time.Duration(indexbench.Median(s.p50)), time.Duration(indexbench.Median(s.p99))
}

// clusterBench runs the cluster suite: a cluster of picdex processes on a
// broker in this process, one `picdex serve` and plain bleve, the same
// records and searches.
func clusterBench(ctx context.Context, w io.Writer, o clusterBenchOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	began := time.Now()
	scratch, err := os.MkdirTemp(o.Dir, "picdex-clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	var children []*child
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop(childGrace)
		}
	}()
	spawn := func(name string, args ...string) (*child, error) {
		addr, err := loopbackAddr()
		if err != nil {
			return nil, err
		}
		c := newChild(o.Binary, name, addr, append(args, "--addr", addr)...)
		if err := c.start(); err != nil {
			return nil, err
		}
		children = append(children, c)
		return c, nil
	}

	t0 := time.Now()
	recs, err := indexbench.SynthCorpus(ctx, o.N, o.Seed)
	if err != nil {
		return err
	}
	want := distinctIDs(recs)
	vocab := apibench.NewVocabulary(recs)
	fmt.Fprintf(w, "\ncluster: %d gen records (seed %d, %d distinct ids, made in %s), %d shards; %d connections of %s for %s a round, %d interleaved rounds\n",
		len(recs), o.Seed, want, time.Since(t0).Round(time.Millisecond), o.Shards, o.Conns, workloadName, o.Duration, o.Repeat)

	// The cluster: a broker here, the roles as children.
	broker, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = cluster.Bootstrap(bctx, brokers, o.Shards)
	if err == nil {
		err = queue.EnsureTopic(bctx, brokers, queue.DefaultTopic, clusterPartitions, 1)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("creating the cluster's topics: %w", err)
	}
	b := strings.Join(brokers, ",")
	router, err := spawn("router", "indexer", "--brokers", b, "--partitions", strconv.Itoa(clusterPartitions))
	if err != nil {
		return err
	}
	halves := [2][]string{}
	for s := range o.Shards {
		h := s * 2 / o.Shards
		halves[h] = append(halves[h], strconv.Itoa(s))
	}
	var shardServers []*child
	for i, h := range halves {
		ss, err := spawn(fmt.Sprintf("shard-server-%d", i), "shard-server", "--brokers", b, "--shards", strings.Join(h, ","),
			"--data", filepath.Join(scratch, fmt.Sprintf("ss%d", i)), "--name", fmt.Sprintf("ss%d", i), "--idle-merge", o.IdleMerge.String())
		if err != nil {
			return err
		}
		shardServers = append(shardServers, ss)
	}
	queryServer := func(name string, flags ...string) (*child, error) {
		args := append([]string{"query-server", "--brokers", b, "--partitions", strconv.Itoa(clusterPartitions),
			"--shard-servers", shardServers[0].addr + "," + shardServers[1].addr}, flags...)
		return spawn(name, args...)
	}
	qs, err := queryServer("query-server", "--cache-entries", "0")
	if err != nil {
		return err
	}
	for _, c := range []*child{router, shardServers[0], shardServers[1], qs} {
		if err := c.waitReady(ctx, childReady); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "  kfake broker %s; router; shard servers ss0 (shards %s) and ss1 (shards %s), one replica each; query server (result cache off)\n",
		b, strings.Join(halves[0], ","), strings.Join(halves[1], ","))

	// Ingest through the cluster, timed until every shard server has
	// applied every record.
	if err := ingest(ctx, w, brokers, recs, want, shardServers); err != nil {
		return err
	}

	// One process over the same records: a bulk load, then serve.
	data := filepath.Join(scratch, "serve")
	took, err := bulkIndex(ctx, o, scratch, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  serve: picdex index of the same records into %d shards in %s (%.0f records/s)\n", o.Shards, took.Round(time.Millisecond), float64(o.N)/took.Seconds())
	srv, err := spawn("serve", "serve", "--data", data, "--idle-merge", o.IdleMerge.String())
	if err != nil {
		return err
	}
	if err := srv.waitReady(ctx, childReady); err != nil {
		return err
	}

	// Plain bleve, in this process.
	t0 = time.Now()
	bleveDir := filepath.Join(scratch, "bleve")
	// Bounded, but generously: bleve loads about 2,000 records a second.
	lctx, cancel := context.WithTimeout(ctx, time.Duration(len(recs)/100)*time.Second+5*time.Minute)
	err = indexbench.LoadBleveDefault(lctx, bleveDir, recs)
	cancel()
	if err != nil {
		return fmt.Errorf("loading bleve: %w", err)
	}
	bl, err := bleve.Open(bleveDir)
	if err != nil {
		return err
	}
	defer bl.Close()
	took = time.Since(t0)
	fmt.Fprintf(w, "  bleve: default mapping, 1,000-record batches, loaded in %s (%.0f records/s), served in this process\n", took.Round(time.Millisecond), float64(len(recs))/took.Seconds())
	recs = nil
	blURL, stopBleve, err := apibench.Listen(apibench.BleveSearchHandler(bl))
	if err != nil {
		return err
	}
	defer stopBleve()

	systems := []*benchSystem{
		{name: "cluster", url: strings.TrimSuffix(qs.url(""), "/"), procs: []*child{qs, shardServers[0], shardServers[1], router}},
		{name: "serve", url: strings.TrimSuffix(srv.url(""), "/"), procs: []*child{srv}},
		{name: "bleve", url: blURL}, // in this process, beside the load: not counted
	}
	client := apibench.NewClient(o.Conns)
	load := func(base string, d time.Duration, seed uint64) (*apibench.Report, error) {
		r, err := apibench.Load{BaseURL: base, Clients: o.Conns, Duration: d, Workload: vocab.MixedGeo(), Seed: seed}.Run(ctx, client)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err() // the load ended early, not its round
		}
		return r, err
	}
	// Every system's segments merged as far as scorch takes them, and
	// picdex's shards once idle (index.DefaultIdleMerge), so no round
	// shares the CPU with another system's background merges.
	fmt.Fprintf(w, "  waited %s for the indexes' merges to settle\n",
		indexbench.Settle(ctx, scratch, o.IdleMerge+min(max(o.IdleMerge, 3*time.Second), 10*time.Second), 10*time.Minute).Round(time.Second))
	for _, s := range systems {
		if _, err := load(s.url, min(warmUpAtMost, o.Duration), uint64(o.Seed)); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "  %s\n", bleveWorkloadNote)
	for rep := range o.Repeat {
		line := fmt.Sprintf("  round %d:", rep+1)
		for k := range systems {
			s := systems[(k+rep)%len(systems)] // rotate who goes first
			before := s.cpuNow()
			r, err := load(s.url, o.Duration, uint64(o.Seed)+uint64(rep)+1)
			if err != nil {
				return err
			}
			s.add(r)
			s.addCPU(before, r.Requests)
			line += fmt.Sprintf(" %s %.0f/s p50 %s p99 %s failed %d;", s.name, r.PerSecond(), msText(r.All.P50), msText(r.All.P99), failures(r))
		}
		fmt.Fprintln(w, strings.TrimSuffix(line, ";"))
	}
	for _, s := range systems {
		q, p50, p99 := s.medians()
		fmt.Fprintf(w, "  %-7s median %6.0f QPS, p50 %s, p99 %s; failed %d\n", s.name, q, msText(p50), msText(p99), s.failed)
	}
	// On a machine short of cores the searches per second follow the
	// CPU time a search costs, which another load on the machine sways
	// less than it sways the rate: the ratio of those is the figure to
	// read beside the rate's when the rounds disagree.
	if each, total, ok := systems[0].cpuMedians(); ok {
		if _, stotal, ok := systems[1].cpuMedians(); ok {
			fmt.Fprintf(w, "  CPU per search (median of the rounds): cluster %s (query server %s, shard servers %s and %s, router %s), serve %s; serve / cluster %.2f×\n",
				usText(total), usText(each[0]), usText(each[1]), usText(each[2]), usText(each[3]), usText(stotal), stotal.Seconds()/total.Seconds())
		}
	}
	cq, _, cp99 := systems[0].medians()
	sq, _, _ := systems[1].medians()
	bq, _, _ := systems[2].medians()
	failed := systems[0].failed + systems[1].failed + systems[2].failed
	fmt.Fprintf(w, "  cluster / serve QPS %.2f× (target ≥ %.1f×) %s; cluster p99 %s (target < %s) %s; cluster / bleve QPS %.2f× (target ≥ %.1f×) %s; failed %d (target 0) %s\n",
		cq/sq, clusterServeTarget, indexbench.PassFail(cq/sq >= clusterServeTarget), msText(cp99), msText(clusterP99Target), indexbench.PassFail(cp99 < clusterP99Target),
		cq/bq, clusterBleveTarget, indexbench.PassFail(cq/bq >= clusterBleveTarget), failed, indexbench.PassFail(failed == 0))

	// One round through a query server with its result cache on.
	cached, err := queryServer("query-server-cached")
	if err != nil {
		return err
	}
	if err := cached.waitReady(ctx, childReady); err != nil {
		return err
	}
	curl := strings.TrimSuffix(cached.url(""), "/")
	if _, err := load(curl, min(warmUpAtMost, o.Duration), uint64(o.Seed)); err != nil {
		return err
	}
	r, err := load(curl, o.Duration, uint64(o.Seed)+1)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  cluster with the result cache on (one round, not in the comparison): %.0f QPS, p50 %s, p99 %s; failed %d (%.2f× the cache-off median)\n",
		r.PerSecond(), msText(r.All.P50), msText(r.All.P99), failures(r), r.PerSecond()/cq)
	cached.stop(childGrace)

	if err := slowReplica(ctx, w, o, spawn, b, shardServers, strings.Join(halves[0], ","), vocab); err != nil {
		return err
	}
	if err := freshness(ctx, w, o, brokers, qs, shardServers); err != nil {
		return err
	}
	fmt.Fprintf(w, "  cluster suite took %s\n", time.Since(began).Round(time.Second))
	return nil
}

// distinctIDs normalises recs (as the router will) and counts their ids.
func distinctIDs(recs []record.Record) int {
	seen := make(map[string]struct{}, len(recs))
	for i := range recs {
		if recs[i].Normalize() == nil {
			seen[recs[i].ID] = struct{}{}
		}
	}
	return len(seen)
}

// ingest publishes recs to picdex.images and waits until the shard
// servers hold want documents.
func ingest(ctx context.Context, w io.Writer, brokers []string, recs []record.Record, want int, servers []*child) error {
	prod, err := queue.NewProducer(ctx, queue.KafkaOptions{Brokers: brokers, Partitions: clusterPartitions, BatchSize: publishChunk})
	if err != nil {
		return err
	}
	defer prod.Close()
	start := time.Now()
	for i := 0; i < len(recs); i += publishChunk {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := prod.Publish(pctx, recs[i:min(i+publishChunk, len(recs))])
		cancel()
		if err != nil {
			return err
		}
	}
	produced := time.Since(start)
	fmt.Fprintf(w, "  produced %d records to %s in %s (%.0f records/s)\n", len(recs), queue.DefaultTopic, produced.Round(time.Millisecond), float64(len(recs))/produced.Seconds())
	// Generous, but bounded: 500 records a second and two minutes.
	deadline := start.Add(time.Duration(want/500)*time.Second + 2*time.Minute)
	nextNote := start.Add(time.Minute)
	for {
		docs, lag, err := appliedDocs(ctx, servers)
		if err == nil && docs >= uint64(want) && lag == 0 {
			took := time.Since(start)
			fmt.Fprintf(w, "  cluster: every record applied by both shard servers %s after the first was produced (%.0f records/s through router and shard log)\n",
				took.Round(time.Millisecond), float64(want)/took.Seconds())
			return nil
		}
		for _, s := range servers {
			select {
			case <-s.exited():
				return fmt.Errorf("%s exited during the load:\n%s", s.name, tail(s.log(), 3000))
			default:
			}
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("the shard servers hold %d of %d records %s after the load began (lag %d, %v)", docs, want, now.Sub(start).Round(time.Second), lag, err)
		}
		if now.After(nextNote) {
			fmt.Fprintf(w, "  … %d of %d applied after %s\n", docs, want, now.Sub(start).Round(time.Second))
			nextNote = now.Add(time.Minute)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// appliedDocs sums the documents and lag the shard servers report.
func appliedDocs(ctx context.Context, servers []*child) (docs uint64, lag int64, err error) {
	for _, s := range servers {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		in, ierr := remote.FetchInfo(ictx, nil, s.url(""), "")
		cancel()
		if ierr != nil {
			return docs, lag, ierr
		}
		for _, r := range in.Replicas {
			docs += r.Docs
			lag += r.Lag
		}
	}
	return docs, lag, nil
}

// bulkIndex writes the corpus as gen does and loads it with picdex index.
func bulkIndex(ctx context.Context, o clusterBenchOptions, scratch, data string) (time.Duration, error) {
	feed := filepath.Join(scratch, "gen.jsonl")
	f, err := os.Create(feed)
	if err != nil {
		return 0, err
	}
	_, err = synth.Write(ctx, f, synth.Options{N: o.N, Seed: o.Seed})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	defer os.Remove(feed)
	ictx, cancel := context.WithTimeout(ctx, time.Duration(o.N/200)*time.Second+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, o.Binary, "index", "--data", data, "--shards", strconv.Itoa(o.Shards), feed)
	cmd.SysProcAttr = childAttr()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("picdex index: %w\n%s", err, tail(string(out), 3000))
	}
	return time.Since(start), nil
}

// freshBatch is one batch of the freshness run: records whose titles
// and only tag carry token, published at at.
type freshBatch struct {
	token string
	n     int
	at    time.Time
}

// freshnessAtOnce bounds the pending batches one search of the
// freshness run asks about.
const freshnessAtOnce = 64

// freshness produces records at freshnessRate for o.Freshness through
// the router, and measures each batch's time from publishing to every
// record of it being found through the query server, and to every
// shard holding its records (by the shard servers' info).
//
// Each search asks about every pending batch at once (up to
// freshnessAtOnce, oldest first) and counts them by tag, so a batch is
// looked for on every tick however many are pending: with a search per
// batch, a few batches a tick, the searches fell behind the batches when
// a search took longer than a tick's share, and a late batch held up the
// checks of those after it, which the figures then counted as their
// latency.
func freshness(ctx context.Context, w io.Writer, o clusterBenchOptions, brokers []string, qs *child, servers []*child) error {
	per := int(freshnessRate * freshnessEvery / time.Second)
	batches := int(o.Freshness / freshnessEvery)
	recs, err := indexbench.SynthCorpus(ctx, per*batches, o.Seed+1)
	if err != nil {
		return err
	}
	// What each batch adds to each shard, counted up: batch k is applied
	// when every shard holds its base plus held[k].
	held := make([][]uint64, batches)
	for k := range batches {
		held[k] = make([]uint64, o.Shards)
		if k > 0 {
			copy(held[k], held[k-1])
		}
		token := freshToken(k)
		for i := k * per; i < (k+1)*per; i++ {
			recs[i].ID = fmt.Sprintf("fresh-%d-%d", k, i-k*per)
			recs[i].Title = token + " " + recs[i].Title
			recs[i].Tags = []string{token}
			held[k][index.ShardOf(recs[i].ID, o.Shards)]++
		}
	}
	prod, err := queue.NewProducer(ctx, queue.KafkaOptions{Brokers: brokers, Partitions: clusterPartitions, Linger: time.Millisecond})
	if err != nil {
		return err
	}
	defer prod.Close()
	pending := make(chan freshBatch, batches)
	type outcome struct {
		lat      []time.Duration
		missed   int
		searches int
		err      error
	}
	polled := make(chan outcome, 1)
	go func() {
		var out outcome
		var queue []freshBatch
		var ended time.Time
		open := true
		tick := time.NewTicker(freshnessPoll)
		defer tick.Stop()
		for {
			for drained := false; open && !drained; {
				select {
				case fb, ok := <-pending:
					if !ok {
						open, ended = false, time.Now()
					} else {
						queue = append(queue, fb)
					}
				default:
					drained = true
				}
			}
			if !open && (len(queue) == 0 || time.Since(ended) > freshnessLate) {
				out.missed = len(queue)
				polled <- out
				return
			}
			if len(queue) > 0 {
				ask := queue[:min(len(queue), freshnessAtOnce)]
				terms := make([]string, len(ask))
				for i, fb := range ask {
					terms[i] = "tags:" + fb.token
				}
				sent := time.Now()
				found, err := searchTagCounts(ctx, qs.url(fmt.Sprintf("/v1/search?size=0&facet=tags:%d&q=%s", len(ask), url.QueryEscape(strings.Join(terms, " ")))))
				if err != nil {
					out.err = err
					polled <- out
					return
				}
				out.searches++
				queue = slices.DeleteFunc(queue, func(fb freshBatch) bool {
					if found[fb.token] < fb.n {
						return false
					}
					out.lat = append(out.lat, sent.Sub(fb.at))
					return true
				})
			}
			select {
			case <-ctx.Done():
				out.err = ctx.Err()
				polled <- out
				return
			case <-tick.C:
			}
		}
	}()
	// Meanwhile the shard servers' documents per shard, from their info.
	base, err := shardDocs(ctx, servers, o.Shards)
	if err != nil {
		return err
	}
	appliedCh := make(chan []time.Duration, 1)
	stopInfo := make(chan struct{})
	published := make(chan time.Time, batches)
	go func() {
		var lat []time.Duration
		var publishedAt []time.Time
		tick := time.NewTicker(freshnessPoll)
		defer tick.Stop()
		for {
			select {
			case <-stopInfo:
				appliedCh <- lat
				return
			case <-tick.C:
			}
			for drained := false; !drained; {
				select {
				case at := <-published:
					publishedAt = append(publishedAt, at)
				default:
					drained = true
				}
			}
			docs, err := shardDocs(ctx, servers, o.Shards)
			if err != nil {
				continue
			}
			now := time.Now()
			for k := len(lat); k < len(publishedAt) && holdsAll(docs, base, held[k]); k++ {
				lat = append(lat, now.Sub(publishedAt[k]))
			}
			if len(lat) == batches {
				<-stopInfo
				appliedCh <- lat
				return
			}
		}
	}()
	start := time.Now()
	tick := time.NewTicker(freshnessEvery)
	for k := range batches {
		at := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := prod.Publish(pctx, recs[k*per:(k+1)*per])
		cancel()
		if err != nil {
			close(pending)
			<-polled
			tick.Stop()
			return err
		}
		pending <- freshBatch{token: freshToken(k), n: per, at: at}
		published <- at
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	rate := float64(per*batches) / time.Since(start).Seconds()
	tick.Stop()
	close(pending)
	out := <-polled
	close(stopInfo)
	applied := indexbench.Summarize(<-appliedCh)
	if out.err != nil {
		return out.err
	}
	lat := indexbench.Summarize(out.lat)
	fmt.Fprintf(w, "  freshness: %d records at %.0f/s for %s through router and shard log, batches of %d, searched for through the query server every %s (every pending batch in one search, %d searches): produce → searchable p50 %s, p99 %s, max %s (target p99 < %s) %s; %d of %d batches not found within %s\n",
		per*batches, rate, o.Freshness, per, freshnessPoll, out.searches, msText(lat.P50), msText(lat.P99), msText(lat.Max), msText(freshnessTarget),
		indexbench.PassFail(out.missed == 0 && lat.P99 < freshnessTarget), out.missed, batches, freshnessLate)
	fmt.Fprintf(w, "  freshness by the shard servers' info (a batch applied when every shard holds its records; %d of %d batches seen): produce → applied p50 %s, p99 %s, max %s\n",
		applied.N, batches, msText(applied.P50), msText(applied.P99), msText(applied.Max))
	return nil
}

// shardDocs returns the documents of each of the generation's shards
// that the servers report (the most any replica of it holds).
func shardDocs(ctx context.Context, servers []*child, shards int) ([]uint64, error) {
	docs := make([]uint64, shards)
	for _, s := range servers {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		in, err := remote.FetchInfo(ictx, nil, s.url(""), "")
		cancel()
		if err != nil {
			return nil, err
		}
		for _, r := range in.Replicas {
			if r.Shard >= 0 && r.Shard < shards {
				docs[r.Shard] = max(docs[r.Shard], r.Docs)
			}
		}
	}
	return docs, nil
}

// holdsAll reports whether every shard holds base plus more documents.
func holdsAll(docs, base, more []uint64) bool {
	for s := range docs {
		if docs[s] < base[s]+more[s] {
			return false
		}
	}
	return true
}

// freshToken is a word no gen record has, different for every batch.
func freshToken(k int) string {
	b := []byte("zqfresh")
	for range 4 {
		b = append(b, byte('a'+k%26))
		k /= 26
	}
	return string(b)
}

// searchTagCounts runs the search u and returns the counts of its tags
// facet.
func searchTagCounts(ctx context.Context, u string) (map[string]int, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var res index.Result
	code, err := doJSON(req, &res)
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("freshness search: %d %v", code, err)
	}
	counts := make(map[string]int, len(res.Facets["tags"]))
	for _, v := range res.Facets["tags"] {
		counts[v.Value] = v.Count
	}
	return counts, nil
}

func usText(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func msText(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
