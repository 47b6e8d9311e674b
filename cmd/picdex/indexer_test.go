package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
)

// slowKafka is a broker that holds every produce request for delay, and
// a producer for it.
func slowKafka(t *testing.T, delay time.Duration) (*queue.Producer, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	gate := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() {
			select {
			case <-gate:
			case <-time.After(delay):
			}
		})
		return nil, nil, false
	})
	broker := c.ListenAddrs()[0]
	p, err := queue.NewProducer(context.Background(), queue.KafkaOptions{Brokers: []string{broker}, Partitions: 3, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	t.Cleanup(func() { close(gate) }) // runs first: wakes held requests
	return p, broker
}

// topicSize is the number of messages in the first parts partitions of
// topic.
func topicSize(t *testing.T, broker, topic string, parts int) int64 {
	t.Helper()
	var n int64
	for part := range parts {
		conn, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, part)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += last
	}
	return n
}

func ingestRecords(n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i)}
		recs[i].Normalize()
	}
	return recs
}

// TestKafkaIngestOutlivesClient: a client that gives up while its batch
// is being published does not cut the batch short.
func TestKafkaIngestOutlivesClient(t *testing.T) {
	p, broker := slowKafka(t, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	recs := ingestRecords(300)
	n, err := kafkaIngester{p: p}.Ingest(ctx, recs)
	if err != nil || n != len(recs) {
		t.Fatalf("Ingest after the client left: %d, %v", n, err)
	}
	if ctx.Err() == nil {
		t.Fatal("the client had not left yet: the test proves nothing")
	}
	if got := topicSize(t, broker, queue.DefaultTopic, 3); got != int64(len(recs)) {
		t.Errorf("%d of %d records published", got, len(recs))
	}
}

// TestKafkaIngestTimeout: the detached publish is still bounded; past its
// timeout the answer is ErrUnavailable (a 503 with Retry-After).
func TestKafkaIngestTimeout(t *testing.T) {
	p, _ := slowKafka(t, 5*time.Second)
	start := time.Now()
	_, err := kafkaIngester{p: p, timeout: 200 * time.Millisecond}.Ingest(context.Background(), ingestRecords(5))
	if !errors.Is(err, api.ErrUnavailable) {
		t.Errorf("err %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Ingest took %v with a 200ms timeout", d)
	}
}
