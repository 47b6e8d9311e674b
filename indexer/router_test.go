package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// shardCluster starts a broker and bootstraps generation 1 with shards
// shards on it.
func shardCluster(t *testing.T, shards int) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	g, err := cluster.Bootstrap(context.Background(), brokers, shards)
	require.NoError(t, err)
	require.Equal(t, shards, g.Shards)
	return brokers
}

// running is a Router or a Replica run until stop is called.
type running struct{ stop func() }

func run(t *testing.T, r interface{ Run(context.Context) error }) running {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once bool
	stop := func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return running{stop: stop}
}

func startRouter(t *testing.T, brokers []string, commit func(func() error) error) (*Router, running) {
	t.Helper()
	r, err := NewRouter(RouterOptions{Brokers: brokers, BatchRecords: 23, BatchWait: 20 * time.Millisecond, Partitions: 3,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	r.m.commit = commit
	return r, run(t, r)
}

type testReplica struct {
	*Replica
	running
	ix    *index.Index
	shard int
}

func startReplica(t *testing.T, brokers []string, dir string, shard int) *testReplica {
	t.Helper()
	ix, err := index.Open(dir, index.Options{Shards: 1})
	require.NoError(t, err)
	r, err := NewReplica(ReplicaOptions{Brokers: brokers, Generation: 1, Shard: shard, Index: ix, BatchRecords: 17, BatchWait: 20 * time.Millisecond})
	require.NoError(t, err)
	tr := &testReplica{Replica: r, running: run(t, r), ix: ix, shard: shard}
	stop := tr.stop
	var once sync.Once
	tr.stop = func() { stop(); once.Do(func() { ix.Close() }) }
	t.Cleanup(tr.stop)
	return tr
}

// contents is every image an index holds: id -> title.
func contents(t *testing.T, ix *index.Index) map[string]string {
	t.Helper()
	res, err := ix.Search(context.Background(), &index.Request{Size: new(1000)})
	require.NoError(t, err)
	out := map[string]string{}
	for _, h := range res.Hits {
		var r record.Record
		require.NoError(t, json.Unmarshal(h.Image, &r))
		out[h.ID] = r.Title
	}
	return out
}

// produced is what produce(n) leaves: every image not deleted, in its
// last version.
func produced(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		if i%5 != 0 {
			out[record.DeriveID(fmt.Sprintf("https://example.com/%d.jpg", i))] = "version 2"
		}
	}
	return out
}

// converged waits until the replicas, shard by shard, hold want between
// them, every replica of a shard the same, all caught up.
func converged(t *testing.T, want map[string]string, replicas ...*testReplica) {
	t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		union := map[string]string{}
		byShard := map[int]map[string]string{}
		same, caught := true, true
		for _, r := range replicas {
			c := contents(t, r.ix)
			if prev, ok := byShard[r.shard]; ok && fmt.Sprint(prev) != fmt.Sprint(c) {
				same = false
			}
			byShard[r.shard] = c
			for id, title := range c {
				union[id] = title
			}
			caught = caught && r.Ready() && r.Lag() == 0
		}
		last = fmt.Sprintf("%d of %d images, replicas alike %v, caught up %v", len(union), len(want), same, caught)
		if same && caught && fmt.Sprint(union) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas never converged: %s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shardLogSize is the number of messages in generation 1's shard log.
func shardLogSize(t *testing.T, brokers []string, shards int) int64 {
	t.Helper()
	var n int64
	for p := range shards {
		_, last, err := partitionLog{brokers: brokers, topic: cluster.ShardTopic(1), part: p}.offsetRange(context.Background())
		require.NoError(t, err)
		n += last
	}
	return n
}

// deadLetters reads every message of the dead-letter topic's partitions.
func deadLetters(t *testing.T, brokers []string, partitions int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: queue.DefaultDLQTopic, Partition: p, MaxWait: 50 * time.Millisecond})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		r.Close()
	}
	return out
}

// TestRouterReplicasConverge: a router and two replicas of each of two
// shards; the replicas of a shard end identical, and the shards together
// hold exactly what was produced, deletes applied in order; the poison
// message is in the dead-letter topic with its reason.
func TestRouterReplicasConverge(t *testing.T) {
	brokers := shardCluster(t, 2)
	total := produce(t, brokers, 60)
	r, _ := startRouter(t, brokers, nil)
	var reps []*testReplica
	for _, shard := range []int{0, 0, 1, 1} {
		reps = append(reps, startReplica(t, brokers, t.TempDir(), shard))
	}
	converged(t, produced(60), reps...)
	waitUntil(t, "the router to consume everything", func() bool { return r.Stats.Consumed.Load() == int64(total) })
	assert.EqualValues(t, total-1, r.Stats.Routed.Load())
	assert.EqualValues(t, 1, r.Stats.DeadLettered.Load())
	assert.True(t, r.Ready())
	g, ok := r.Generation()
	assert.True(t, ok)
	assert.Equal(t, 1, g.ID)
	for _, rep := range reps {
		assert.Zero(t, rep.Stats.Resent.Load())
		assert.Equal(t, rep.HighWater(), rep.Applied())
	}
	assert.EqualValues(t, total-1, reps[0].Stats.Indexed.Load()+reps[2].Stats.Indexed.Load())

	dead := deadLetters(t, brokers, 3)
	require.Len(t, dead, 1)
	assert.Equal(t, "poison", string(dead[0].Key))
	assert.Equal(t, HeaderError, dead[0].Headers[0].Key)
	assert.Contains(t, string(dead[0].Headers[0].Value), "url")
}

// TestRouterCrashResends: a router produces to the shard log but dies
// before committing (mid-stream, and again later); the routers after it
// send the same records again. The replicas skip every re-send: no
// record lost or applied twice, deletes in order.
func TestRouterCrashResends(t *testing.T) {
	brokers := shardCluster(t, 2)
	reps := []*testReplica{startReplica(t, brokers, t.TempDir(), 0), startReplica(t, brokers, t.TempDir(), 1)}
	total := produce(t, brokers, 40)
	crash := errors.New("killed before committing")
	// The first router commits its first batch only, then crashes on
	// every commit: all it routes after that batch is re-sent later.
	commits := 0
	a, arun := startRouter(t, brokers, func(do func() error) error {
		if commits++; commits == 1 {
			return do()
		}
		return crash
	})
	waitUntil(t, "the first router to route everything", func() bool { return a.Stats.Consumed.Load() == int64(total) })
	arun.stop()
	routed := a.Stats.Routed.Load()
	total += produce(t, brokers, 40) // the same images again, and more deletes
	b, _ := startRouter(t, brokers, nil)
	waitUntil(t, "the second router to catch up", func() bool { return committed(t, brokers, "picdex-router.1") == int64(total) })
	waitUntil(t, "the replicas to read the whole shard log", func() bool {
		return reps[0].Applied()+reps[1].Applied() == shardLogSize(t, brokers, 2)
	})
	converged(t, produced(40), reps...)
	assert.Greater(t, b.Stats.Routed.Load(), int64(total)-routed-2, "the second router re-sent what the first had not committed")
	var applied, resent, resets int64
	for _, r := range reps {
		applied += r.Stats.Indexed.Load()
		resent += r.Stats.Resent.Load()
		resets += r.Stats.Resets.Load()
	}
	assert.EqualValues(t, total-2, applied, "every valid message applied once")
	// Every re-send skipped: whatever reached the shard log is applied
	// or skipped. (The routers' counts may miss a batch written as a
	// router stopped.)
	assert.Equal(t, shardLogSize(t, brokers, 2)-applied-resets, resent, "every re-send skipped")
	assert.EqualValues(t, 3*2, resets, "the first router's marks for the 3 partitions it found without offsets, on both shards; none from the second")
	assert.Positive(t, resent)
}

// TestRoutersShareGroup: two routers of one group split the records
// topic's partitions, and the replicas get everything.
func TestRoutersShareGroup(t *testing.T) {
	brokers := shardCluster(t, 2)
	publishN(t, brokers, 0, 300)
	a, _ := startRouter(t, brokers, nil)
	b, _ := startRouter(t, brokers, nil)
	reps := []*testReplica{startReplica(t, brokers, t.TempDir(), 0), startReplica(t, brokers, t.TempDir(), 1)}
	waitUntil(t, "both routers to route", func() bool {
		publishN(t, brokers, 300, 4) // keep every partition busy
		return a.Stats.Routed.Load() > 0 && b.Stats.Routed.Load() > 0
	})
	want := map[string]string{}
	for i := range 304 {
		want[record.DeriveID(fmt.Sprintf("https://example.com/%d.jpg", i))] = "only"
	}
	converged(t, want, reps...)
}

// TestReplicaRestartResumes: a replica stopped and started again on its
// index reads on from the offset stored in its shard, not from the start.
func TestReplicaRestartResumes(t *testing.T) {
	brokers := shardCluster(t, 1)
	publishN(t, brokers, 0, 100)
	startRouter(t, brokers, nil)
	dir := t.TempDir()
	first := startReplica(t, brokers, dir, 0)
	waitUntil(t, "the first 100", func() bool { return len(contents(t, first.ix)) == 100 && first.Lag() == 0 })
	stored := first.Applied()
	first.stop()

	publishN(t, brokers, 100, 30)
	second := startReplica(t, brokers, dir, 0)
	waitUntil(t, "the next 30", func() bool { return len(contents(t, second.ix)) == 130 && second.Ready() && second.Lag() == 0 })
	assert.EqualValues(t, 30, second.Stats.Consumed.Load(), "read from the stored offset %d", stored)
	assert.Zero(t, second.Stats.Skipped.Load())
	assert.Equal(t, stored+30, second.Applied())
}

func TestReplicaOptions(t *testing.T) {
	ix, err := index.Open(t.TempDir(), index.Options{Shards: 2})
	require.NoError(t, err)
	defer ix.Close()
	for _, o := range []ReplicaOptions{
		{Generation: 1, Index: ix},
		{Brokers: []string{"localhost:9092"}, Index: ix},
		{Brokers: []string{"localhost:9092"}, Generation: 1},
		{Brokers: []string{"localhost:9092"}, Generation: 1, Index: ix}, // two shards
		{Brokers: []string{"localhost:9092"}, Generation: 1, Shard: -1, Index: ix},
	} {
		_, err := NewReplica(o)
		assert.Error(t, err, "%+v", o)
	}
}

// TestReplicaContact: an idle replica keeps hearing the end of its
// partition from the broker; cut off from it, Contact stops moving while
// the last lag stays, so a query tier can tell the lag is out of date.
func TestReplicaContact(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	brokers := c.ListenAddrs()
	_, err = cluster.Bootstrap(context.Background(), brokers, 1)
	require.NoError(t, err)
	r := startReplica(t, brokers, t.TempDir(), 0)
	waitUntil(t, "ready", r.Ready)
	first := r.Contact()
	require.False(t, first.IsZero())
	waitUntil(t, "a probe of the idle partition", func() bool { return r.Contact().After(first) })

	c.Close()
	closed = true
	time.Sleep(1500 * time.Millisecond) // a probe or two against nothing
	last := r.Contact()
	time.Sleep(1500 * time.Millisecond)
	assert.Equal(t, last, r.Contact(), "no word from a broker that is gone")
	assert.Greater(t, time.Since(last), time.Second)
	assert.True(t, r.Ready(), "ready stays: the tier decides what an old contact means")
}

// TestRouterRecordsTopicRecreated: picdex.images is deleted and created
// again while the shard logs and replicas stay. Its new offsets start at
// 0, below the origin offsets the replicas hold; the router tells them
// to forget those first, so the new records are applied, not skipped as
// re-sends.
func TestRouterRecordsTopicRecreated(t *testing.T) {
	brokers := shardCluster(t, 2)
	produce(t, brokers, 60)
	_, first := startRouter(t, brokers, nil)
	reps := []*testReplica{startReplica(t, brokers, t.TempDir(), 0), startReplica(t, brokers, t.TempDir(), 1)}
	converged(t, produced(60), reps...)
	first.stop()

	conn, err := kafka.Dial("tcp", brokers[0])
	require.NoError(t, err)
	require.NoError(t, conn.DeleteTopics(queue.DefaultTopic))
	conn.Close()
	waitUntil(t, "the topic gone", func() bool {
		c, err := kafka.Dial("tcp", brokers[0])
		if err != nil {
			return false
		}
		defer c.Close()
		parts, err := c.ReadPartitions(queue.DefaultTopic)
		return err != nil || len(parts) == 0
	})
	p, err := queue.NewProducer(context.Background(), queue.KafkaOptions{Brokers: brokers, Partitions: 3})
	require.NoError(t, err)
	var recs []record.Record
	want := produced(60)
	for i := range 12 {
		rec := record.Record{URL: fmt.Sprintf("https://example.com/new-%d.jpg", i), Title: "new"}
		recs = append(recs, rec)
		want[record.DeriveID(rec.URL)] = "new"
	}
	require.NoError(t, p.Publish(context.Background(), recs))
	require.NoError(t, p.Close())

	startRouter(t, brokers, nil)
	converged(t, want, reps...)
	for _, r := range reps {
		assert.Zero(t, r.Stats.Resent.Load(), "%s: nothing of the new topic taken for a re-send", r)
	}
}
