package indexer

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

func benchN(b *testing.B) int {
	if v, err := strconv.Atoi(os.Getenv("PICDEX_INGEST_N")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

func genRecords(b *testing.B, n int) []record.Record {
	g, err := synth.New(synth.Options{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]record.Record, 0, n)
	for {
		r, ok := g.Next()
		if !ok {
			return recs
		}
		if err := r.Normalize(); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
}

// BenchmarkIngest measures sustained ingestion of N gen records (default
// 100,000; PICDEX_INGEST_N) through Kafka into a 4-shard index, next to
// the same records bulk-loaded as picdex index does (Index.Apply in
// batches of 5,000), and reports both rates and their ratio (target: Kafka
// at least 0.7 of bulk). The records are produced before the clock
// starts; the Kafka figure is consumption, map/reduce and the writes.
// Run with -benchtime 1x -count 3 and take the medians.
func BenchmarkIngest(b *testing.B) {
	n := benchN(b)
	recs := genRecords(b, n)
	lines := make([][]byte, n)
	for i, r := range recs {
		lines[i], _ = json.Marshal(r)
	}
	ctx := context.Background()
	for b.Loop() {
		// Baseline: bulk load from JSON lines, as picdex index does.
		ix, err := index.Open(b.TempDir(), index.Options{Shards: 4})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < n; i += 5000 {
			batch := make([]record.Record, 0, 5000)
			for _, line := range lines[i:min(i+5000, n)] {
				r, err := record.Parse(line)
				if err != nil {
					b.Fatal(err)
				}
				batch = append(batch, r)
			}
			if err := ix.Apply(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		bulk := float64(n) / time.Since(start).Seconds()
		ix.Close()

		// Kafka: produce everything, then time the indexer.
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		brokers := cluster.ListenAddrs()
		p, err := queue.NewProducer(ctx, queue.KafkaOptions{Brokers: brokers, Partitions: 12, BatchSize: 5000})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 5000 {
			if err := p.Publish(ctx, recs[i:min(i+5000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		p.Close()
		ix, err = index.Open(b.TempDir(), index.Options{Shards: 4})
		if err != nil {
			b.Fatal(err)
		}
		c, err := NewConsumer(NewApplier(ix), KafkaOptions{Brokers: brokers, Partitions: 12, BatchRecords: batchRecords()})
		if err != nil {
			b.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start = time.Now()
		go func() { c.Run(cctx); close(done) }()
		var first time.Time
		for c.Stats.Indexed.Load() < int64(n) {
			if first.IsZero() && c.Stats.Consumed.Load() > 0 {
				first = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		el := time.Since(start)
		kafkaRate := float64(n) / el.Seconds()
		cancel()
		<-done
		ix.Close()
		cluster.Close()
		b.ReportMetric(bulk, "bulk_rec/s")
		b.ReportMetric(kafkaRate, "kafka_rec/s")
		b.ReportMetric(kafkaRate/bulk, "kafka/bulk")
		b.ReportMetric(first.Sub(start).Seconds()*1000, "join_ms")
	}
}

func batchRecords() int {
	v, _ := strconv.Atoi(os.Getenv("PICDEX_INGEST_BATCH"))
	return v
}

// BenchmarkFreshness produces gen records at 1,000 a second for
// PICDEX_FRESHNESS_S seconds (default 10) and measures, for every record,
// the time from its publishing to the end of the batch that made it
// searchable, through two pipelines in the same run: the direct consumer
// into a 4-shard index, and a router into a 4-partition shard log read by
// one replica per shard. It reports the medians and p99s of both (target
// p99 < 1 s) and the ratio of the p99s.
func BenchmarkFreshness(b *testing.B) {
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("PICDEX_FRESHNESS_S")); err == nil && v > 0 {
		secs = v
	}
	const rate = 1000
	recs := genRecords(b, rate*secs)
	for b.Loop() {
		direct, produced := freshness(b, recs, rate, startDirect)
		routed, _ := freshness(b, recs, rate, startRouted)
		b.ReportMetric(ms(direct[len(direct)/2]), "direct_p50_ms")
		b.ReportMetric(ms(direct[len(direct)*99/100]), "direct_p99_ms")
		b.ReportMetric(ms(routed[len(routed)/2]), "routed_p50_ms")
		b.ReportMetric(ms(routed[len(routed)*99/100]), "routed_p99_ms")
		b.ReportMetric(float64(routed[len(routed)*99/100])/float64(direct[len(direct)*99/100]), "routed/direct_p99")
		b.ReportMetric(produced, "produced_rec/s")
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// pipeline is what freshness measures: started on a broker, it calls
// onApplied as batches become searchable, says how many records it has
// applied, and stops.
type pipeline struct {
	ready   func() bool
	indexed func() int64
	stop    func()
}

func startDirect(b *testing.B, brokers []string, onApplied func([]Message, time.Time)) pipeline {
	ix, err := index.Open(b.TempDir(), index.Options{Shards: 4})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewConsumer(NewApplier(ix), KafkaOptions{Brokers: brokers, Partitions: 12, OnApplied: onApplied})
	if err != nil {
		b.Fatal(err)
	}
	stop := runBench(c.Run)
	return pipeline{ready: c.Ready, indexed: c.Stats.Indexed.Load, stop: func() { stop(); ix.Close() }}
}

func startRouted(b *testing.B, brokers []string, onApplied func([]Message, time.Time)) pipeline {
	if _, err := cluster.Bootstrap(context.Background(), brokers, 4); err != nil {
		b.Fatal(err)
	}
	r, err := NewRouter(RouterOptions{Brokers: brokers, Partitions: 12})
	if err != nil {
		b.Fatal(err)
	}
	stops := []func(){runBench(r.Run)}
	var reps []*Replica
	for shard := range 4 {
		ix, err := index.Open(b.TempDir(), index.Options{Shards: 1})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := NewReplica(ReplicaOptions{Brokers: brokers, Generation: 1, Shard: shard, Index: ix, OnApplied: onApplied})
		if err != nil {
			b.Fatal(err)
		}
		reps = append(reps, rep)
		stop := runBench(rep.Run)
		stops = append(stops, func() { stop(); ix.Close() })
	}
	return pipeline{
		ready: r.Ready,
		indexed: func() int64 {
			var n int64
			for _, rep := range reps {
				n += rep.Stats.Indexed.Load()
			}
			return n
		},
		stop: func() {
			for _, s := range stops {
				s()
			}
		},
	}
}

func runBench(run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// freshness runs one pipeline on a broker of its own while recs are
// produced at rate a second, and returns every record's latency, sorted,
// and the rate achieved.
func freshness(b *testing.B, recs []record.Record, rate int, start func(*testing.B, []string, func([]Message, time.Time)) pipeline) ([]time.Duration, float64) {
	ctx := context.Background()
	cl, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	brokers := cl.ListenAddrs()
	var mu sync.Mutex
	var lat []time.Duration
	p := start(b, brokers, func(batch []Message, at time.Time) {
		mu.Lock()
		for _, m := range batch {
			if !m.ProducedAt.IsZero() {
				lat = append(lat, at.Sub(m.ProducedAt))
			}
		}
		mu.Unlock()
	})
	for !p.ready() {
		time.Sleep(10 * time.Millisecond)
	}
	pr, err := queue.NewProducer(ctx, queue.KafkaOptions{Brokers: brokers, Partitions: 12, Linger: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	// Every 10 ms, publish the records due by then at rate a second
	// (catching up on late ticks), each publish on its own goroutine
	// so that the rate holds whatever one acknowledgement takes.
	tick := time.NewTicker(10 * time.Millisecond)
	var pub sync.WaitGroup
	produceStart := time.Now()
	for sent := 0; sent < len(recs); {
		<-tick.C
		due := min(int(time.Since(produceStart)/time.Millisecond)*rate/1000, len(recs))
		if due <= sent {
			continue
		}
		part := recs[sent:due]
		sent = due
		pub.Go(func() {
			if err := pr.Publish(ctx, part); err != nil {
				b.Error(err)
			}
		})
	}
	tick.Stop()
	pub.Wait()
	produced := float64(len(recs)) / time.Since(produceStart).Seconds()
	pr.Close()
	for p.indexed() < int64(len(recs)) {
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return lat, produced
}
