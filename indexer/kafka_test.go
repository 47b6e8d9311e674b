package indexer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
)

// produce publishes n images in three versions, deletes every fifth and
// sends one poison message; it returns the number of messages.
func produce(t *testing.T, brokers []string, n int) int {
	t.Helper()
	ctx := context.Background()
	p, err := queue.NewProducer(ctx, queue.KafkaOptions{Brokers: brokers, Partitions: 3})
	require.NoError(t, err)
	defer p.Close()
	total := 0
	for v := range 3 {
		var recs []record.Record
		for i := range n {
			recs = append(recs, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: fmt.Sprintf("version %d", v)})
		}
		require.NoError(t, p.Publish(ctx, recs))
		total += n
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: queue.DefaultTopic}
	require.NoError(t, w.WriteMessages(ctx, kafka.Message{Key: []byte("poison"), Value: []byte(`{"url": 42}`)}))
	w.Close()
	total++
	var dels []record.Record
	for i := 0; i < n; i += 5 {
		dels = append(dels, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Op: record.OpDelete})
	}
	require.NoError(t, p.Publish(ctx, dels))
	return total + len(dels)
}

// consume runs a consumer on the index in dir until it has consumed want
// messages in all (counting earlier runs' progress through the shards) or
// until stop returns true; it returns what it consumed.
func consume(t *testing.T, dir string, brokers []string, until func(*Consumer) bool) int64 {
	t.Helper()
	ix := openIndex(t, dir)
	defer ix.Close()
	c, err := NewConsumer(NewApplier(ix), KafkaOptions{Brokers: brokers, BatchRecords: 37, BatchWait: 50 * time.Millisecond, Partitions: 3,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for !until(c) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("consumer stuck: consumed %d", c.Stats.Consumed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return c.Stats.Consumed.Load()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func settled(ix *index.Index, topic string, parts int, total int64) bool {
	a := NewApplier(ix)
	var sum int64
	for p := range parts {
		off, err := a.Resume(topic, p)
		if err != nil {
			return false
		}
		sum += off
	}
	return sum == total
}

// committed sums the offsets group has committed on the partitions of
// the records topic.
func committed(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
		GroupID: group, Topics: map[string][]int{queue.DefaultTopic: {0, 1, 2}}})
	if err != nil || resp.Error != nil {
		return -1
	}
	var sum int64
	for _, p := range resp.Topics[queue.DefaultTopic] {
		if p.Error != nil || p.CommittedOffset < 0 {
			return -1
		}
		sum += p.CommittedOffset
	}
	return sum
}

func TestKafkaEndToEnd(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	total := produce(t, brokers, 60)

	dir := t.TempDir()
	// Done when the shards hold every offset, the group's committed
	// offsets (for lag monitoring) have caught up, and the lag is nil.
	consume(t, dir, brokers, func(c *Consumer) bool {
		lag := c.Stats.Lag()
		for p := range 3 {
			if l, ok := lag[p]; !ok || l != 0 {
				return false
			}
		}
		return settled(c.a.ix, queue.DefaultTopic, 3, int64(total)) && committed(t, brokers, "picdex-indexer") == int64(total)
	})
	ix := openIndex(t, dir)
	expect(t, ix, 60)
	require.True(t, settled(ix, queue.DefaultTopic, 3, int64(total)))
	ix.Close()

	// The poison message is in the dead-letter queue with its reason.
	var found bool
	for p := range 3 {
		r2 := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: queue.DefaultDLQTopic, Partition: p, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		m, err := r2.ReadMessage(ctx)
		cancel()
		r2.Close()
		if err == nil {
			found = true
			assert.Equal(t, "poison", string(m.Key))
			assert.Equal(t, HeaderError, m.Headers[0].Key)
			assert.Contains(t, string(m.Headers[0].Value), "url")
		}
	}
	assert.True(t, found, "no dead letter")
}

// TestKafkaRestartMidStream stops the consumer at different points and
// starts it again on the same index: the result is exact every time.
func TestKafkaRestartMidStream(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	total := produce(t, brokers, 50)
	dir := t.TempDir()
	for _, stopAt := range []int64{1, 20, 40} {
		consume(t, dir, brokers, func(c *Consumer) bool {
			return c.Stats.Consumed.Load() >= stopAt || settled(c.a.ix, queue.DefaultTopic, 3, int64(total))
		})
	}
	consume(t, dir, brokers, func(c *Consumer) bool {
		return settled(c.a.ix, queue.DefaultTopic, 3, int64(total))
	})
	ix := openIndex(t, dir)
	defer ix.Close()
	expect(t, ix, 50)
	assert.True(t, settled(ix, queue.DefaultTopic, 3, int64(total)))
}

// publishN publishes images [from, from+n) in one version.
func publishN(t *testing.T, brokers []string, from, n int) {
	t.Helper()
	p, err := queue.NewProducer(context.Background(), queue.KafkaOptions{Brokers: brokers, Partitions: 4})
	require.NoError(t, err)
	var recs []record.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: "only"})
	}
	require.NoError(t, p.Publish(context.Background(), recs))
	require.NoError(t, p.Close())
}

func docs(t *testing.T, ix *index.Index) uint64 {
	res, err := ix.Search(context.Background(), &index.Request{Size: new(0)})
	require.NoError(t, err)
	return res.Total
}

// member runs a consumer on its own index until stop is called.
type member struct {
	ix   *index.Index
	c    *Consumer
	stop func()
}

func startMember(t *testing.T, brokers []string) *member {
	t.Helper()
	ix := openIndex(t, t.TempDir())
	c, err := NewConsumer(NewApplier(ix), KafkaOptions{Brokers: brokers, Partitions: 4, BatchWait: 20 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	m := &member{ix: ix, c: c}
	m.stop = func() { cancel(); <-done }
	t.Cleanup(func() { m.stop(); ix.Close() })
	return m
}

// TestKafkaRebalance: two members of one group split the partitions; when
// one stops, the other takes its partitions over and, reading them from
// what its own shards hold, ends with every record.
func TestKafkaRebalance(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	publishN(t, brokers, 0, 200)
	a, b := startMember(t, brokers), startMember(t, brokers)
	// Each member indexes the partitions it is given into its own index;
	// between them they hold every record, each in one of them at least.
	waitUntil(t, "both members to hold partitions", func() bool {
		return a.c.Stats.Indexed.Load() > 0 && b.c.Stats.Indexed.Load() > 0 && a.c.Ready() && b.c.Ready()
	})
	// Both hold partitions now, so what comes next is split between
	// them (the first 200 may all have reached one member before the
	// other joined).
	publishN(t, brokers, 200, 200)
	waitUntil(t, "the two indexes to cover the 400 records", func() bool { return docs(t, a.ix)+docs(t, b.ix) >= 400 })
	assert.Less(t, docs(t, b.ix), uint64(400), "b holds only its share while a runs")

	a.stop()
	publishN(t, brokers, 400, 200)
	waitUntil(t, "member b to hold everything", func() bool { return docs(t, b.ix) == 600 })
}

// brokerOutage indexes n records through a member, stops the broker,
// waits for the member to report not ready, and starts a broker again on
// the same port — with its data when keep, empty otherwise.
func brokerOutage(t *testing.T, n int, keep bool) (*member, []string) {
	t.Helper()
	var opts []kfake.Opt
	if keep {
		opts = append(opts, kfake.DataDir(t.TempDir()))
	}
	cluster, err := kfake.NewCluster(append(opts, kfake.NumBrokers(1))...)
	require.NoError(t, err)
	brokers := cluster.ListenAddrs()
	_, portStr, _ := strings.Cut(brokers[0], ":")
	port, _ := strconv.Atoi(portStr)
	publishN(t, brokers, 0, n)
	m := startMember(t, brokers)
	waitUntil(t, "the first records", func() bool { return docs(t, m.ix) == uint64(n) })

	cluster.Close()
	waitUntil(t, "not ready", func() bool { return !m.c.Ready() })
	time.Sleep(500 * time.Millisecond) // a retry or two against nothing
	cluster, err = kfake.NewCluster(append(opts, kfake.NumBrokers(1), kfake.Ports(port))...)
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	return m, brokers
}

// TestKafkaBrokerDownAndBack: the broker goes away mid-run; the consumer
// reports not ready, keeps retrying, and catches up when it returns.
func TestKafkaBrokerDownAndBack(t *testing.T) {
	m, brokers := brokerOutage(t, 100, true)
	publishN(t, brokers, 100, 100)
	waitUntil(t, "catching up", func() bool { return docs(t, m.ix) == 200 && m.c.Ready() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKafkaTopicRecreated: the broker comes back without its data (the
// topic is created again, its offsets start at 0 again). The shards hold
// offsets past the new ends; the member re-reads each partition from its
// start instead of skipping every new message up to the old offsets.
func TestKafkaTopicRecreated(t *testing.T) {
	m, brokers := brokerOutage(t, 200, false)
	publishN(t, brokers, 1000, 20) // 20 new images, at offsets 0.. of the new topic
	waitUntil(t, "the 20 new images", func() bool { return docs(t, m.ix) == 220 })
	// And every shard now holds the new topic's offsets.
	a := NewApplier(m.ix)
	var next int64
	for p := range 4 {
		off, err := a.Resume(queue.DefaultTopic, p)
		require.NoError(t, err)
		next += off
	}
	assert.EqualValues(t, 20, next)
}

// TestKafkaBrokerLate: the member starts before any broker is up; it
// stays not ready, retrying, and consumes once the broker appears.
func TestKafkaBrokerLate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	m := startMember(t, brokers)
	time.Sleep(700 * time.Millisecond) // a few retries against nothing
	assert.False(t, m.c.Ready())

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	publishN(t, brokers, 0, 50)
	waitUntil(t, "the late broker's records", func() bool { return docs(t, m.ix) == 50 && m.c.Ready() })
}
