package replica

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
)

// timed is a replica whose calls take base, and slow instead with
// probability p.
type timed struct {
	name       string
	base, slow time.Duration
	p          float64
}

func (f *timed) wait(ctx context.Context) error {
	d := f.base
	if rand.Float64() < f.p {
		d = f.slow
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *timed) TermStats(ctx context.Context, _ *index.ShardRequest) (*index.TermStats, error) {
	return &index.TermStats{}, f.wait(ctx)
}
func (f *timed) SearchShard(ctx context.Context, _ *index.ShardRequest) (*index.ShardResult, error) {
	return &index.ShardResult{}, f.wait(ctx)
}
func (f *timed) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	return make([]json.RawMessage, len(ids)), f.wait(ctx)
}
func (f *timed) String() string { return f.name }
func (f *timed) Close() error   { return nil }

// p99 runs calls shard calls from 8 goroutines and returns their p99.
func p99(b *testing.B, s *Set, calls int) time.Duration {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, calls)
	var wg sync.WaitGroup
	per := calls / 8
	for range 8 {
		wg.Go(func() {
			for range per {
				start := time.Now()
				if _, err := s.SearchShard(context.Background(), &index.ShardRequest{}); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// BenchmarkHedging: one of a shard's two replicas is slow on a tenth of
// its calls (20 ms instead of 1 ms, a GC pause or a busy disk). Side by
// side: both replicas healthy, the slow one without hedging, and the slow
// one with hedging past the recent p95. The target: with hedging,
// p99 within 2x of normal.
func BenchmarkHedging(b *testing.B) {
	const calls = 2000
	set := func(hedge float64, slowP float64) *Set {
		s := NewSet("shard-0", Options{HedgePercentile: hedge, HedgeMin: time.Millisecond})
		s.Update([]Member{
			{ID: "a", Shard: &timed{name: "a", base: time.Millisecond}, Healthy: true, CaughtUp: true},
			{ID: "b", Shard: &timed{name: "b", base: time.Millisecond, slow: 20 * time.Millisecond, p: slowP}, Healthy: true, CaughtUp: true},
		})
		return s
	}
	var normal, unhedged, hedged []time.Duration
	for range b.N {
		normal = append(normal, p99(b, set(-1, 0), calls))
		unhedged = append(unhedged, p99(b, set(-1, 0.1), calls))
		hedged = append(hedged, p99(b, set(0, 0.1), calls))
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	n, u, h := med(normal), med(unhedged), med(hedged)
	b.ReportMetric(float64(n.Microseconds())/1000, "normal-p99-ms")
	b.ReportMetric(float64(u.Microseconds())/1000, "slow-unhedged-p99-ms")
	b.ReportMetric(float64(h.Microseconds())/1000, "slow-hedged-p99-ms")
	b.ReportMetric(float64(h)/float64(n), "hedged/normal")
	b.Logf("p99 normal %v, one replica slow: unhedged %v (%.2fx), hedged %v (%.2fx; target <= 2x)",
		n, u, float64(u)/float64(n), h, float64(h)/float64(n))
}
