package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index/record"
)

// broker starts an in-process Kafka broker (kfake speaks the wire
// protocol over TCP) with n brokers.
func broker(t *testing.T, n int) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(n))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// readAll reads every message of topic from the start.
func readAll(t *testing.T, brokers []string, topic string, want int) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	require.NoError(t, err)
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	require.NoError(t, err)
	var out []kafka.Message
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		end, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID)
		require.NoError(t, err)
		last, err := end.ReadLastOffset()
		end.Close()
		require.NoError(t, err)
		for i := int64(0); i < last; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			require.NoError(t, err)
			out = append(out, m)
		}
		r.Close()
	}
	require.Len(t, out, want)
	return out
}

func TestProducer(t *testing.T) {
	brokers := broker(t, 3)
	ctx := context.Background()
	p, err := NewProducer(ctx, KafkaOptions{Brokers: brokers, Partitions: 4, Compression: "zstd"})
	require.NoError(t, err)
	var recs []record.Record
	for i := range 200 {
		// Ten images, each in twenty versions.
		recs = append(recs, record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i%10), Title: fmt.Sprintf("v%03d", i/10)})
	}
	require.NoError(t, p.Publish(ctx, recs[:100]))
	require.NoError(t, p.Publish(ctx, recs[100:]))
	require.NoError(t, p.Close())

	msgs := readAll(t, brokers, DefaultTopic, 200)
	partOf := map[string]int{}
	lastTitle := map[string]string{}
	for _, m := range msgs {
		var r record.Record
		require.NoError(t, json.Unmarshal(m.Value, &r))
		assert.Equal(t, r.ID, string(m.Key), "keyed by id")
		if p, ok := partOf[r.ID]; ok {
			assert.Equal(t, p, m.Partition, "all versions of one image in one partition")
		}
		partOf[r.ID] = m.Partition
		assert.Greater(t, r.Title, lastTitle[r.ID], "versions in order")
		lastTitle[r.ID] = r.Title
		require.Len(t, m.Headers, 1)
		assert.Equal(t, HeaderProducedAt, m.Headers[0].Key)
	}
	assert.Len(t, partOf, 10)

	// The topic exists now; a second producer finds it.
	require.NoError(t, EnsureTopic(ctx, brokers, DefaultTopic, 4, 0))
}

func TestKafkaOptions(t *testing.T) {
	for _, o := range []KafkaOptions{
		{},
		{Brokers: []string{"localhost"}},
		{Brokers: []string{"a:1"}, Compression: "brotli"},
		{Brokers: []string{"a:1"}, Partitions: -1},
	} {
		assert.Error(t, o.Validate(), "%+v", o)
	}
	o := KafkaOptions{Brokers: []string{"a:1, b:2", "c:3"}}
	require.NoError(t, o.Validate())
	assert.Equal(t, []string{"a:1", "b:2", "c:3"}, o.Brokers)
	assert.Equal(t, DefaultTopic, o.Topic)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := NewProducer(ctx, KafkaOptions{Brokers: []string{"127.0.0.1:1"}})
	assert.ErrorContains(t, err, "127.0.0.1:1", "an unreachable broker is a clear error")
}
