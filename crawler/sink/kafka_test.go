package sink

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/picdex/picdex/indexer/queue"
)

// TestKafkaBackPressure: with a broker that answers every produce request
// late, the Kafka sink's Write blocks instead of buffering — the records
// written but not yet seen by the broker never exceed one batch — and the
// crawl that writes takes as long as the broker makes it.
func TestKafkaBackPressure(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	const delay = 40 * time.Millisecond
	var seen, requests atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				var b kmsg.RecordBatch
				if b.ReadFrom(p.Records) == nil {
					seen.Add(int64(b.NumRecords))
				}
			}
		}
		requests.Add(1)
		time.Sleep(delay) // a slow broker
		return nil, nil, false
	})

	ctx := context.Background()
	const batch, n = 100, 1000
	k, err := NewKafka(ctx, queue.KafkaOptions{Brokers: c.ListenAddrs(), Partitions: 2, BatchSize: batch})
	require.NoError(t, err)
	start := time.Now()
	for i := range n {
		require.NoError(t, k.Write(ctx, rec(i)))
		if ahead := int64(i+1) - seen.Load(); ahead > batch {
			t.Fatalf("after %d writes the broker has seen %d records: %d buffered, more than a batch", i+1, seen.Load(), ahead)
		}
	}
	require.NoError(t, k.Close(ctx))
	elapsed := time.Since(start)
	require.EqualValues(t, n, seen.Load())
	// Every produce request waited on the broker, one after another.
	require.GreaterOrEqual(t, elapsed, time.Duration(requests.Load())*delay)
	require.GreaterOrEqual(t, requests.Load(), int64(n/batch))
}
