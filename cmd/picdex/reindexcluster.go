package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/index/tier"
	"github.com/picdex/picdex/indexer"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/mapreduce"
)

// clusterReindex is what picdex reindex --brokers is asked to do.
type clusterReindex struct {
	brokers  []string
	topic    string // the records topic the routers read
	from     []string
	kafkaSrc bool // from is the records topic itself
	shards   int
	replicas int
	mappers  int
	maxBad   int
	keep     int
	wait     time.Duration
	apiKey   string
	stderr   io.Writer
	sample   []string // ids the map tasks emitted, looked up before the switch
	// What the build had reached when it caught up: documents per shard,
	// and the records topic's offsets it covered.
	docs   []uint64
	covers map[int]int64
	// onPhase and onProgress, when set, follow the job (the admin API's
	// job status).
	onPhase    func(phase string, g cluster.Generation)
	onProgress func(indexer.BuildProgress)
}

func (o *clusterReindex) phase(p string, g cluster.Generation) {
	if o.onPhase != nil {
		o.onPhase(p, g)
	}
}

// parseKafkaSource reads kafka://HOST:PORT[,HOST:PORT...]/TOPIC.
func parseKafkaSource(s string) (brokers []string, topic string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "kafka" || u.Host == "" || strings.Trim(u.Path, "/") == "" ||
		strings.Contains(strings.Trim(u.Path, "/"), "/") || u.RawQuery != "" || u.User != nil {
		return nil, "", fmt.Errorf("--from %s: want kafka://HOST:PORT[,HOST:PORT...]/TOPIC", s)
	}
	return strings.Split(u.Host, ","), strings.Trim(u.Path, "/"), nil
}

// buildAlive is how recent a building generation's beat must be for its
// job to count as running.
const buildAlive = 20 * time.Second

// run builds a new generation on the cluster and switches to it.
func (o *clusterReindex) run(ctx context.Context, e *env) int {
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "picdex reindex: %v\n", err)
		return 1
	}
	store := cluster.NewKafka(o.brokers)
	st, err := store.Load(ctx)
	if err != nil {
		return fail(err)
	}
	old, ok := st.LiveGeneration()
	if !ok {
		return fail(errors.New("the cluster has no live generation: start the routers (picdex indexer --brokers ...) first"))
	}
	if o.shards == 0 {
		o.shards = old.Shards
	}
	source := strings.Join(o.from, ",")
	var splits []indexer.Split
	var total int64
	if !o.kafkaSrc {
		if splits, total, err = indexer.FileSplits(o.from, 0); err != nil {
			return fail(err)
		}
	}
	g, resumed, err := o.begin(ctx, store, st, source)
	if err != nil {
		return fail(err)
	}
	b := &beat{store: store, g: g}
	stopBeat := b.start(ctx)
	abandon := func(err error) int {
		stopBeat()
		g := b.get()
		if ctx.Err() != nil {
			// Stopped (Ctrl-C, a query server's stop), not failed: the
			// build stays as a killed job leaves it, to be resumed.
			return fail(fmt.Errorf("%v: generation %d stays live; generation %d is left building, and the same reindex run again resumes it", err, old.ID, g.ID))
		}
		actx := context.WithoutCancel(ctx)
		if serr := b.stillBuilding(actx); serr != nil {
			// Another job has it: leave it as that job left it.
			return fail(fmt.Errorf("%v (%v)", err, serr))
		}
		g.State = cluster.StateRetired
		if perr := store.Put(actx, g); perr != nil {
			fmt.Fprintf(e.stderr, "picdex reindex: retiring the failed build: %v\n", perr)
		}
		fmt.Fprintf(e.stderr, "picdex reindex: generation %d stays live; generation %d is retired\n", old.ID, g.ID)
		return fail(err)
	}
	verb := "building"
	if resumed {
		verb = "resuming the build of"
	}
	fmt.Fprintf(e.stderr, "%s generation %d (%d shards) on the cluster from %s\n", verb, g.ID, g.Shards, source)
	o.phase("build", g)
	if err := cluster.EnsureShardTopic(ctx, o.brokers, g); err != nil {
		return abandon(err)
	}

	ends := make([]int64, g.Shards) // what the replicas must have applied
	if !o.kafkaSrc && !g.Follow {
		st, sample, err := o.mapFiles(ctx, e, g, splits, total)
		if err != nil {
			return abandon(err)
		}
		ends, o.sample = st.ShuffleEnd, sample
		fmt.Fprintf(e.stderr, "map done: %d records (%d invalid) into %s in %s; the routers follow the stream from now on\n",
			st.Emitted, st.Bad, cluster.ShardTopic(g.ID), st.Elapsed.Round(time.Millisecond))
		if err := b.update(ctx, func(g *cluster.Generation) { g.Follow = true }); err != nil {
			return abandon(err)
		}
	}
	o.phase("catchup", g)
	// A replica that dies between the catch-up and the verification
	// (the search finds no healthy one) is waited for again.
	deadline := time.Now().Add(o.wait)
	for {
		if err := o.awaitCaughtUp(ctx, e, store, b.get(), ends, time.Until(deadline)); err != nil {
			return abandon(err)
		}
		o.phase("verify", g)
		err := o.verify(ctx, e, store, old, b.get())
		if err == nil {
			break
		}
		if !errors.Is(err, errUnanswered) || time.Now().After(deadline) {
			return abandon(err)
		}
		fmt.Fprintf(e.stderr, "%v; waiting for the replicas again\n", err)
		time.Sleep(time.Second)
	}
	if err := b.update(ctx, func(g *cluster.Generation) { g.Docs, g.Covers = o.docs, o.covers }); err != nil {
		return abandon(err)
	}
	stopBeat()
	if err := b.stillBuilding(ctx); err != nil {
		return fail(err)
	}
	o.phase("switch", g)
	// The one live now is what rollback returns to: a rollback may have
	// been made during the build.
	if now, err := store.Load(ctx); err == nil {
		if g, ok := now.LiveGeneration(); ok {
			old = g
		}
	}
	if err := store.SetLive(ctx, g.ID); err != nil {
		return fail(err)
	}
	o.phase("done", g)
	if !o.kafkaSrc {
		deleteTopics(ctx, o.brokers, reindexTopic(g.ID)+".splits", reindexTopic(g.ID)+".status")
	}
	fmt.Fprintf(e.stdout, "generation %d is live on the cluster (%d shards); generation %d is kept: picdex rollback --brokers %s goes back to it\n",
		g.ID, g.Shards, old.ID, strings.Join(o.brokers, ","))
	if err := retireClusterGenerations(ctx, store, o.brokers, o.keep, old.ID, e); err != nil {
		fmt.Fprintf(e.stderr, "picdex reindex: retiring old generations: %v\n", err)
	}
	return 0
}

// begin claims the next generation as a build, or picks up the build
// of the same source a killed reindex left. A build of another source in
// progress is a conflict; one whose job died is retired.
func (o *clusterReindex) begin(ctx context.Context, store *cluster.Kafka, st cluster.State, source string) (cluster.Generation, bool, error) {
	next := 1
	for _, id := range slices.Sorted(maps.Keys(st.Generations)) {
		g := st.Generations[id]
		next = max(next, id+1)
		if g.State != cluster.StateBuilding {
			continue
		}
		switch {
		case g.Source == source && g.Shards == o.shards:
			// Resumed once the job building it has stopped beating: two
			// jobs must not drive one build.
			if age := time.Since(g.Beat); age < buildAlive {
				fmt.Fprintf(o.stderr, "generation %d is being built from the same source; resuming it once that job has been silent for %s\n", g.ID, buildAlive)
				select {
				case <-ctx.Done():
					return g, false, ctx.Err()
				case <-time.After(buildAlive - age):
				}
				st, err := store.Load(ctx)
				if err != nil {
					return g, false, err
				}
				return o.begin(ctx, store, st, source)
			}
			return g, true, nil
		case time.Since(g.Beat) < buildAlive:
			return g, false, fmt.Errorf("%w: generation %d is being built from %s; wait for it to finish", errConflict, g.ID, g.Source)
		}
		g.State = cluster.StateRetired
		if err := store.Put(ctx, g); err != nil {
			return g, false, err
		}
		deleteTopics(ctx, o.brokers, cluster.ShardTopic(g.ID), reindexTopic(g.ID)+".splits", reindexTopic(g.ID)+".status")
		fmt.Fprintf(o.stderr, "retired generation %d, a build of %s whose job died\n", g.ID, g.Source)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	bid := cluster.Generation{ID: next, Shards: o.shards, MappingVersion: index.MappingVersion, State: cluster.StateBuilding,
		Source: source, Created: now, Beat: now, Follow: o.kafkaSrc}
	if !o.kafkaSrc {
		// The routers follow, once the files are in, what was written
		// from this moment on.
		from, err := indexer.TopicEnds(ctx, o.brokers, o.topic)
		if err != nil {
			return bid, false, err
		}
		bid.From = from
	}
	won, err := store.Claim(ctx, bid)
	if err != nil {
		return bid, false, err
	}
	if won.Source != bid.Source || !won.Created.Equal(bid.Created) {
		return won, false, fmt.Errorf("%w: generation %d was claimed by another reindex, from %s", errConflict, won.ID, won.Source)
	}
	return won, false, store.Put(ctx, won)
}

var errConflict = errors.New("a reindex is running")

// reindexTopic names the topics of generation g's build from files.
func reindexTopic(g int) string { return "picdex.reindex." + strconv.Itoa(g) }

// errUnanswered is a verification that could not be made: a generation
// did not answer (no healthy replica of a shard, for one).
var errUnanswered = errors.New("verification: no answer")

// beat keeps a build's generation marked alive and carries its changes.
type beat struct {
	store *cluster.Kafka
	mu    sync.Mutex
	g     cluster.Generation
}

func (b *beat) get() cluster.Generation {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.g
}

// update changes the generation and stores it.
func (b *beat) update(ctx context.Context, change func(*cluster.Generation)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.stillBuilding(ctx); err != nil {
		return err
	}
	g := b.g
	change(&g)
	g.Beat = time.Now().UTC().Truncate(time.Millisecond)
	if err := b.store.Put(ctx, g); err != nil {
		return err
	}
	b.g = g
	return nil
}

// stillBuilding reports a build that another job retired (or made live)
// meanwhile: this one must then write nothing more of it.
func (b *beat) stillBuilding(ctx context.Context) error {
	st, err := b.store.Load(ctx)
	if err != nil {
		return err
	}
	if g, ok := st.Generations[b.g.ID]; !ok || g.State != cluster.StateBuilding {
		return fmt.Errorf("%w: generation %d is %s now", errConflict, b.g.ID, g.State)
	}
	return nil
}

// start beats every five seconds until the returned stop is called.
func (b *beat) start(ctx context.Context) (stop func()) {
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
				b.update(bctx, func(*cluster.Generation) {})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// mapFiles runs the map phase with the Kafka runner: the splits go
// through picdex.reindex.G.splits to the map tasks here, whose records go
// to the new generation's shard log, which the shard servers' replicas of
// it apply (the reduce).
func (o *clusterReindex) mapFiles(ctx context.Context, e *env, g cluster.Generation, splits []indexer.Split, total int64) (mapreduce.KafkaStats, []string, error) {
	var read atomic.Int64
	var mu sync.Mutex
	var sample []string
	bar := newProgressBar(e.stderr, isTerminal(e.stderr))
	defer bar.clear()
	job := &mapreduce.Job[indexer.Split, record.Record]{
		Name: "reindex-" + strconv.Itoa(g.ID), Splits: splits, Partitions: g.Shards, Partition: index.ShardOf,
		MaxBadInputs: o.maxBad,
		Map: func(ctx context.Context, s indexer.Split, out *mapreduce.Emitter[record.Record]) error {
			first := true
			return indexer.MapSplit(ctx, s, &read, out, func(err error) { bar.println(err.Error()) }, func(id string) {
				if first {
					first = false
					mu.Lock()
					if len(sample) < 32 {
						sample = append(sample, id)
					}
					mu.Unlock()
				}
			})
		},
	}
	codec := mapreduce.JSONCodec[indexer.Split, record.Record]()
	codec.EncodeValue = func(r record.Record) ([]byte, error) { return record.Encode(&r) }
	codec.DecodeValue = func(b []byte) (record.Record, error) {
		return record.Parse(b)
	}
	start := time.Now()
	st, err := mapreduce.RunKafka(ctx, job, mapreduce.KafkaOptions[indexer.Split, record.Record]{
		Brokers: o.brokers, Topic: reindexTopic(g.ID), Shuffle: cluster.ShardTopic(g.ID), Mappers: o.mappers,
		Codec: codec,
		Progress: func(s mapreduce.Stats) {
			p := indexer.BuildProgress{Phase: "map", BytesRead: read.Load(), BytesTotal: total, Records: s.Emitted,
				Bad: s.Bad, Written: s.Emitted, Elapsed: time.Since(start)}
			bar.update(p)
			if o.onProgress != nil {
				o.onProgress(p)
			}
		},
	})
	return st, sample, err
}

// awaitCaughtUp waits until g has caught up: its routers have committed
// the records topic as far as it went when the wait began (writes go on
// meanwhile, and are routed after the switch as before it), and then
// every shard of g has o.replicas replicas ready that have applied its
// shard log as far as it went then, and at least to ends (the map phase's
// output).
func (o *clusterReindex) awaitCaughtUp(ctx context.Context, e *env, store *cluster.Kafka, g cluster.Generation, ends []int64, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	start, last := time.Now(), time.Time{}
	hinted := false
	target, err := indexer.TopicEnds(ctx, o.brokers, o.topic)
	if err != nil {
		return err
	}
	var shardEnds []int64 // once the routers have reached target
	for {
		behind, ready, hosted := int64(0), 0, 0
		committed, err := indexer.GroupCommitted(ctx, o.brokers, indexer.RouterGroup(g.ID), o.topic)
		if err == nil {
			for p, end := range target {
				behind += max(end-committed[p], 0)
				if _, ok := committed[p]; !ok && end > 0 {
					behind++
				}
			}
		}
		if err == nil && behind == 0 && shardEnds == nil {
			var se map[int]int64
			if se, err = indexer.TopicEnds(ctx, o.brokers, cluster.ShardTopic(g.ID)); err == nil {
				shardEnds = make([]int64, g.Shards)
				for s := range shardEnds {
					shardEnds[s] = max(se[s], ends[s])
				}
			}
		}
		var reps map[int][]remote.ReplicaInfo
		if err == nil {
			reps, err = o.replicasOf(ctx, store, g.ID)
		}
		if err == nil {
			for s := range g.Shards {
				n := 0
				for _, r := range reps[s] {
					if r.Ready && shardEnds != nil && r.Applied >= shardEnds[s] {
						n++
					}
				}
				if n >= o.replicas {
					ready++
				}
				if len(reps[s]) > 0 {
					hosted++
				}
			}
			if ready == g.Shards {
				o.covers = target
				o.docs = make([]uint64, g.Shards)
				for s := range g.Shards {
					for _, r := range reps[s] {
						if r.Ready {
							o.docs[s] = max(o.docs[s], r.Docs)
						}
					}
				}
				return nil
			}
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "waiting for the cluster: %v\n", err)
		}
		if !hinted && time.Since(start) > 3*time.Second && hosted < g.Shards {
			hinted = true
			fmt.Fprintf(e.stderr, "start shard servers for generation %d (each shard on %d of them), for example:\n  picdex shard-server --brokers %s --generation %d --shards %s --data DIR --addr HOST:PORT\n",
				g.ID, o.replicas, strings.Join(o.brokers, ","), g.ID, shardRange(g.Shards))
		}
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			fmt.Fprintf(e.stderr, "generation %d: routers %d records behind, %d of %d shards with %d caught-up replicas\n",
				g.ID, behind, ready, g.Shards, o.replicas)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("generation %d did not catch up within --wait %s", g.ID, o.wait)
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func shardRange(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return strings.Join(s, ",")
}

// replicasOf asks every announced shard server which replicas of
// generation id it hosts, by shard.
func (o *clusterReindex) replicasOf(ctx context.Context, store *cluster.Kafka, id int) (map[int][]remote.ReplicaInfo, error) {
	st, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int][]remote.ReplicaInfo{}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, s := range st.Servers {
		info, err := remote.FetchInfo(ctx, client, s.URL, o.apiKey)
		if err != nil {
			continue // a server that is down hosts nothing now
		}
		for _, r := range info.Replicas {
			if r.Generation == id {
				out[r.Shard] = append(out[r.Shard], r)
			}
		}
	}
	return out, nil
}

// verify checks generation g before the switch: every shard's caught-up
// replicas agree on their documents, their mapping version is this
// picdex's, the sampled ids are found, and a search is answered by g and
// by the live generation.
func (o *clusterReindex) verify(ctx context.Context, e *env, store *cluster.Kafka, old, g cluster.Generation) error {
	reps, err := o.replicasOf(ctx, store, g.ID)
	if err != nil {
		return err
	}
	var docs uint64
	for s := range g.Shards {
		var ref *remote.ReplicaInfo
		for i, r := range reps[s] {
			if r.MappingVersion != index.MappingVersion {
				return fmt.Errorf("verification: shard %d: a replica has mapping version %d, want %d", s, r.MappingVersion, index.MappingVersion)
			}
			if !r.Ready {
				continue
			}
			if ref == nil {
				ref = &reps[s][i]
				docs += r.Docs
			} else if r.Applied == ref.Applied && r.Docs != ref.Docs {
				return fmt.Errorf("verification: shard %d: replicas at offset %d hold %d and %d documents", s, r.Applied, ref.Docs, r.Docs)
			}
		}
	}
	search := func(gen cluster.Generation) (*tier.Tier, error) {
		t, err := tier.New(tier.Options{
			Discover: func(ctx context.Context) ([]string, error) {
				st, err := store.Load(ctx)
				var urls []string
				for _, s := range st.Servers {
					urls = append(urls, s.URL)
				}
				return urls, err
			},
			Live: func(context.Context) (tier.Generation, error) {
				return tier.Generation{ID: gen.ID, Shards: gen.Shards}, nil
			},
			Client: remote.ClientOptions{APIKey: o.apiKey},
		})
		if err != nil {
			return nil, err
		}
		t.Refresh(ctx) // finds the servers
		t.Refresh(ctx) // polls them
		return t, nil
	}
	tNew, err := search(g)
	if err != nil {
		return err
	}
	tOld, err := search(old)
	if err != nil {
		return err
	}
	q := &index.Request{Size: new(3)}
	rNew, err := tNew.Search(ctx, q)
	if err == nil && rNew.Shards.Failed > 0 {
		err = fmt.Errorf("%d shards failed", rNew.Shards.Failed)
	}
	if err != nil {
		return fmt.Errorf("%w: generation %d: %w", errUnanswered, g.ID, err)
	}
	rOld, err := tOld.Search(ctx, q)
	if err != nil {
		return fmt.Errorf("%w: generation %d: %w", errUnanswered, old.ID, err)
	}
	for _, id := range o.sample {
		if _, err := tNew.Get(ctx, id); err != nil {
			if !errors.Is(err, index.ErrNotFound) {
				return fmt.Errorf("%w: getting %s from generation %d: %w", errUnanswered, id, g.ID, err)
			}
			if _, oerr := tOld.Get(ctx, id); oerr == nil || !errors.Is(oerr, index.ErrNotFound) {
				return fmt.Errorf("verification: %s is not in generation %d: %w", id, g.ID, err)
			}
		}
	}
	fmt.Fprintf(e.stderr, "verified generation %d: %d documents in %d shards (generation %d: %d), mapping version %d, %d sampled ids found\n",
		g.ID, rNew.Total, g.Shards, old.ID, rOld.Total, index.MappingVersion, len(o.sample))
	return nil
}

// retireClusterGenerations retires the ready generations beyond keep,
// and deletes their shard logs: first kept is prev, the one live before
// (rollback's target), then the others, the most recent first.
func retireClusterGenerations(ctx context.Context, store *cluster.Kafka, brokers []string, keep, prev int, e *env) error {
	st, err := store.Load(ctx)
	if err != nil {
		return err
	}
	var ready []int
	for id, g := range st.Generations {
		if g.State == cluster.StateReady && id != prev {
			ready = append(ready, id)
		}
	}
	slices.Sort(ready)
	slices.Reverse(ready)
	if g, ok := st.Generations[prev]; ok && g.State == cluster.StateReady {
		ready = append([]int{prev}, ready...)
	}
	for _, id := range ready[min(keep, len(ready)):] {
		g := st.Generations[id]
		g.State = cluster.StateRetired
		if err := store.Put(ctx, g); err != nil {
			return err
		}
		deleteTopics(ctx, brokers, cluster.ShardTopic(id))
		fmt.Fprintf(e.stderr, "retired generation %d and deleted %s; stop the shard servers that host it\n", id, cluster.ShardTopic(id))
	}
	return nil
}

// deleteTopics deletes topics, best effort.
func deleteTopics(ctx context.Context, brokers []string, topics ...string) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
}

// rollbackCluster makes the most recent ready generation before the live
// one live (or, with none, the most recent after it: forward again).
func rollbackCluster(ctx context.Context, e *env, brokers []string) int {
	g, from, err := rollBackCluster(ctx, brokers)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex rollback: %v\n", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "generation %d is live on the cluster; generation %d is kept\n", g.ID, from)
	return 0
}

// errNoRollback means the cluster has no generation to roll back to.
var errNoRollback = errors.New("no generation to go back to")

// rollBackCluster is rollbackCluster's work: it returns the generation
// made live and the one live before.
func rollBackCluster(ctx context.Context, brokers []string) (cluster.Generation, int, error) {
	store := cluster.NewKafka(brokers)
	st, err := store.Load(ctx)
	if err != nil {
		return cluster.Generation{}, 0, err
	}
	below, above := 0, 0
	for id, g := range st.Generations {
		switch {
		case g.State != cluster.StateReady:
		case id < st.Live:
			below = max(below, id)
		default:
			above = max(above, id)
		}
	}
	target := below
	if target == 0 {
		target = above
	}
	if target == 0 {
		return cluster.Generation{}, 0, fmt.Errorf("%w (none is ready besides the live %d)", errNoRollback, st.Live)
	}
	if err := store.SetLive(ctx, target); err != nil {
		return cluster.Generation{}, 0, err
	}
	return st.Generations[target], st.Live, nil
}
