package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/backoff"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// RouterOptions configure a Router. A zero field takes its default.
type RouterOptions struct {
	Brokers  []string
	Topic    string // default queue.DefaultTopic
	DLQTopic string // default queue.DefaultDLQTopic
	// GroupID defaults to "picdex-router.G" for generation G: the routers
	// of one generation share the records between them, and a router for
	// another generation (a reindex following the stream) reads every
	// record too.
	GroupID string
	// Generation is the index generation to route for (0: the one live
	// when Run starts).
	Generation int
	// A micro-batch is BatchRecords messages, or what arrived within
	// BatchWait of its first (defaults 5,000 and 50 ms: routing is cheap,
	// and the replicas batch again).
	BatchRecords int
	BatchWait    time.Duration
	Partitions   int // of the records topics when the router creates them (default 12)
	Logger       *slog.Logger
	// Stats, when set, is where the router counts (Router.Stats is then
	// unused): routers of several generations in one process share it.
	Stats *Stats
}

// Validate fills in defaults and reports options that cannot work.
func (o *RouterOptions) Validate() error {
	k := KafkaOptions{Brokers: o.Brokers, Topic: o.Topic, DLQTopic: o.DLQTopic, GroupID: "-",
		BatchRecords: o.BatchRecords, BatchWait: o.BatchWait, Partitions: o.Partitions, Logger: o.Logger}
	if o.BatchWait <= 0 {
		k.BatchWait = 50 * time.Millisecond
	}
	if err := k.Validate(); err != nil {
		return err
	}
	if o.Generation < 0 {
		return fmt.Errorf("generation %d: must not be negative", o.Generation)
	}
	o.Brokers, o.Topic, o.DLQTopic = k.Brokers, k.Topic, k.DLQTopic
	o.BatchRecords, o.BatchWait, o.Partitions, o.Logger = k.BatchRecords, k.BatchWait, k.Partitions, k.Logger
	return nil
}

// RouterGroup is the consumer group of generation g's routers.
func RouterGroup(g int) string { return "picdex-router." + strconv.Itoa(g) }

// Router is the map step of the distributed index: a member of a
// consumer group over the records topic that parses, validates and
// normalises every message, dead-letters what can never be indexed, and
// produces each record to partition index.ShardOf(id, N) of its
// generation's shard log, with its origin in the picdex-origin header.
// A batch is acknowledged by the shard log before the group offsets move
// past it, so a router that dies re-sends at most its last batches; the
// replicas skip those by their origin offsets.
type Router struct {
	Stats Stats
	opts  RouterOptions
	m     *groupMember
	w     *kafka.Writer
	gen   atomic.Pointer[cluster.Generation]
}

// NewRouter returns a Router; Run starts it.
func NewRouter(opts RouterOptions) (*Router, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Router{opts: opts}
	stats := opts.Stats
	if stats == nil {
		stats = &r.Stats
	}
	r.m = &groupMember{brokers: opts.Brokers, topic: opts.Topic, dlqTopic: opts.DLQTopic,
		partitions: opts.Partitions, batchRecords: opts.BatchRecords, batchWait: opts.BatchWait,
		logger: opts.Logger, stats: stats, from: r.from,
		b: &batcher{sink: r.route, stats: stats, written: &stats.Routed, records: opts.BatchRecords,
			wait: opts.BatchWait, logger: opts.Logger}}
	r.m.init()
	return r, nil
}

// Ready reports whether the router knows its generation and holds a
// group generation.
func (r *Router) Ready() bool { return r.m.ready.Load() }

// Generation returns the generation the router routes for, once Run
// has found it.
func (r *Router) Generation() (cluster.Generation, bool) {
	g := r.gen.Load()
	if g == nil {
		return cluster.Generation{}, false
	}
	return *g, true
}

// Run routes until ctx ends. It first finds its generation in the
// cluster's description and checks its shard topic, retrying while the
// brokers are unreachable; an unknown generation is an error.
func (r *Router) Run(ctx context.Context) error {
	g, err := r.resolve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.gen.Store(&g)
	if r.m.groupID = r.opts.GroupID; r.m.groupID == "" {
		r.m.groupID = RouterGroup(g.ID)
	}
	r.w = &kafka.Writer{
		Addr: kafka.TCP(r.opts.Brokers...), Topic: cluster.ShardTopic(g.ID), Balancer: toPartition{},
		RequiredAcks: kafka.RequireAll, Compression: kafka.Snappy,
		// Its own transport: the default one may hold metadata cached
		// before the shard topic was created.
		Transport: &kafka.Transport{},
		// One chunk of route is one batch of the writer: never split (so
		// never half-written), and sent at once when it is full.
		BatchSize: routeChunkRecords, BatchBytes: 1 << 30, BatchTimeout: time.Millisecond,
		WriteTimeout: 10 * time.Second, MaxAttempts: 3,
	}
	defer func() {
		r.w.Close()
		r.w.Transport.(*kafka.Transport).CloseIdleConnections() // not closed with the writer
	}()
	r.opts.Logger.Info("routing", "generation", g.ID, "shards", g.Shards, "topic", cluster.ShardTopic(g.ID), "group", r.m.groupID)
	return r.m.run(ctx)
}

// resolve finds the generation to route for and checks its shard topic.
func (r *Router) resolve(ctx context.Context) (cluster.Generation, error) {
	for wait := backoff.Default(); ; {
		st, err := cluster.Load(ctx, r.opts.Brokers)
		if err == nil {
			g, ok := st.LiveGeneration()
			if r.opts.Generation != 0 {
				g, ok = st.Generations[r.opts.Generation]
			}
			switch {
			case !ok && r.opts.Generation != 0:
				return g, fmt.Errorf("%w: %d", cluster.ErrUnknownGeneration, r.opts.Generation)
			case !ok:
				err = errors.New("no index generation is live yet")
			default:
				if err = cluster.EnsureShardTopic(ctx, r.opts.Brokers, g); err == nil {
					return g, nil
				}
			}
		}
		r.opts.Logger.Warn("finding the generation to route for; retrying", "err", err)
		if err := backoff.Sleep(ctx, wait.Next()); err != nil {
			return cluster.Generation{}, err
		}
	}
}

// from is where the group left an assigned partition, checked against
// its log. A partition the group has no offset for, or one whose offset
// is past its end, is read from its start after the replicas are told to
// forget what they hold of it: a records topic deleted and created again
// loses the group's offsets (or leaves them past the new end), and its
// new offsets must not be taken for re-sends of the old ones. The start
// is then committed at once, before anything is routed, so a router that
// dies before its first commit does not make its successor do this again
// (its re-sends are skipped as usual). For a group that merely lost its
// offsets, re-reading applies the partition again in order, which leaves
// every image as its last message says.
func (r *Router) from(ctx context.Context, part int, committed int64, claim func(int64) error) (int64, error) {
	l := partitionLog{brokers: r.opts.Brokers, topic: r.opts.Topic, part: part, logger: r.opts.Logger}
	if g, _ := r.Generation(); committed < 0 && g.From != nil {
		// A build from files: the routers follow what was written from
		// the moment it started; its batch job wrote what came before.
		if from, ok := g.From[part]; ok {
			return from, claim(from)
		}
	}
	if committed >= 0 {
		from, err := l.resume(ctx, committed, func(context.Context) error { committed = -1; return nil })
		if err != nil || committed >= 0 {
			return from, err
		}
	}
	for wait := backoff.Default(); ; {
		first, err := r.startOver(ctx, l, claim)
		if err == nil {
			return first, nil
		}
		r.opts.Logger.Warn("reading a records partition from its start; retrying", "partition", part, "err", err)
		if err := backoff.Sleep(ctx, wait.Next()); err != nil {
			return 0, err
		}
	}
}

// startOver has the replicas forget part's origins and claims the
// partition's first offset for the group (see from).
func (r *Router) startOver(ctx context.Context, l partitionLog, claim func(int64) error) (int64, error) {
	first, _, err := l.offsetRange(ctx)
	if err != nil {
		return 0, err
	}
	if err := r.resetOrigin(ctx, l.part); err != nil {
		return 0, err
	}
	return first, claim(first)
}

// resetOrigin tells every replica, through every partition of the shard
// log, to forget the origin offsets it holds of part (see from). It returns once all partitions acknowledged the mark, before
// anything of the new life is routed. A router that crashes after it
// sends the marks again; replicas then re-apply what came between, which
// leaves every image as its last message says.
//
// Each mark has a key of its own, so log compaction never drops it.
func (r *Router) resetOrigin(ctx context.Context, part int) error {
	g, _ := r.Generation()
	stream := Origin{Topic: r.opts.Topic, Partition: part}.stream()
	key := []byte("picdex-origin-reset/" + stream + "/" + strconv.FormatInt(time.Now().UnixNano(), 10))
	msgs := make([]kafka.Message, g.Shards)
	for p := range msgs {
		msgs[p] = kafka.Message{Partition: p, Key: key, Value: []byte("{}"),
			Headers: []kafka.Header{{Key: HeaderOriginReset, Value: []byte(stream)}}}
	}
	r.opts.Logger.Info("telling the replicas the records partition is read from its start", "topic", r.opts.Topic, "partition", part, "shards", g.Shards)
	return r.w.WriteMessages(ctx, msgs...)
}

// Limits of one chunk of a shard-log partition in route: one produce
// request, well under a broker's default message.max.bytes (a larger
// record goes alone).
const (
	routeChunkRecords = 5000
	routeChunkBytes   = 768 << 10
)

// route produces a mapped batch to the shard log and returns once every
// record of it is acknowledged by all in-sync replicas.
//
// Order is what matters: each shard-log partition must receive the
// records of each origin partition in origin order, with no gap, for the
// replicas' skipping of re-sends to be right. So a partition's records
// are cut into chunks that are each one produce request (atomic on the
// broker), and chunk k+1 of any partition is sent only once chunk k of
// every partition is acknowledged. On an error the whole batch is sent
// again (by the batcher): what had been written is skipped downstream.
func (r *Router) route(ctx context.Context, batch []Mapped) (Result, error) {
	g, _ := r.Generation()
	var res Result
	chunks := make([][][]kafka.Message, g.Shards) // partition -> chunks
	size := make([]int, g.Shards)                 // bytes in each partition's last chunk
	for _, m := range batch {
		if m.Err != nil {
			continue // dead-lettered already
		}
		rec := m.Record
		v, err := record.Encode(&rec)
		if err != nil {
			return res, fmt.Errorf("record %s: %w", rec.ID, err)
		}
		p := index.ShardOf(rec.ID, g.Shards)
		origin := Origin{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
		km := kafka.Message{Partition: p, Key: []byte(rec.ID), Value: v,
			Headers: []kafka.Header{{Key: HeaderOrigin, Value: []byte(origin.String())}}}
		if !m.ProducedAt.IsZero() {
			km.Headers = append(km.Headers, kafka.Header{Key: queue.HeaderProducedAt, Value: []byte(strconv.FormatInt(m.ProducedAt.UnixNano(), 10))})
		}
		n := len(km.Key) + len(km.Value) + 64
		c := chunks[p]
		if len(c) == 0 || len(c[len(c)-1]) >= routeChunkRecords || size[p]+n > routeChunkBytes {
			chunks[p] = append(c, nil)
			size[p] = 0
		}
		last := len(chunks[p]) - 1
		chunks[p][last] = append(chunks[p][last], km)
		size[p] += n
		res.Applied++
	}
	for k := 0; ; k++ {
		var round []kafka.Message
		for p := range chunks {
			if k < len(chunks[p]) {
				round = append(round, chunks[p][k]...)
			}
		}
		if len(round) == 0 {
			return res, nil
		}
		if err := r.w.WriteMessages(ctx, round...); err != nil {
			return Result{}, fmt.Errorf("producing to %s: %w", cluster.ShardTopic(g.ID), err)
		}
	}
}

// toPartition sends a message to the partition it names.
type toPartition struct{}

func (toPartition) Balance(m kafka.Message, _ ...int) int { return m.Partition }
