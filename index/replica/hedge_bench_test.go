package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
)

// Latencies of the hedging benchmark: a shard call takes benchBase, and
// on the slow replica one call in slowOneIn (a sub-benchmark's) takes
// benchSlow more.
const (
	benchBase    = 2 * time.Millisecond
	benchSlow    = 40 * time.Millisecond
	benchCalls   = 1200
	benchWorkers = 4
)

// sleeper is a replica call that takes d unless its context ends first.
func sleeper(d func() time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTimer(d())
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// benchSet is a Set of two replicas, the second slow on one call in
// slowOneIn when slow is set.
func benchSet(slow, hedged bool, slowOneIn int) *Set {
	fast, other := newFake(1), newFake(2)
	fast.do = sleeper(func() time.Duration { return benchBase })
	other.do = sleeper(func() time.Duration {
		if slow && rand.IntN(slowOneIn) == 0 {
			return benchBase + benchSlow
		}
		return benchBase
	})
	s := NewSet("bench", Options{DisableHedging: !hedged})
	if err := s.Update(members(fast, other)); err != nil {
		panic(err)
	}
	return s
}

// p99 runs benchCalls shard calls on s from benchWorkers goroutines and
// returns the 50th and 99th percentiles of their latencies.
func p99(s *Set) (p50, p99 time.Duration) {
	lat := make([]time.Duration, benchCalls)
	var wg sync.WaitGroup
	next := make(chan int, benchCalls)
	for i := range benchCalls {
		next <- i
	}
	close(next)
	for range benchWorkers {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				if _, err := s.SearchShard(context.Background(), &index.ShardRequest{}); err != nil {
					panic(err)
				}
				lat[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// BenchmarkHedging measures, side by side in each round, the p99 of shard
// calls with both replicas normal, with one replica slow on 5% (and 20%)
// of its calls and no hedging, and the same with hedging; it reports the
// medians over rounds and the ratios to normal (the target:
// hedged within 2×). Run it with -benchtime=5x (one round an iteration,
// ~3 s each).
func BenchmarkHedging(b *testing.B) {
	for _, oneIn := range []int{20, 5} {
		b.Run(fmt.Sprintf("slow=%d%%", 100/oneIn), func(b *testing.B) { benchHedging(b, oneIn) })
	}
}

func benchHedging(b *testing.B, slowOneIn int) {
	var normal, slow, hedged, normal50, hedged50 []time.Duration
	for b.Loop() {
		n50, n99 := p99(benchSet(false, true, slowOneIn))
		_, s99 := p99(benchSet(true, false, slowOneIn))
		h50, h99 := p99(benchSet(true, true, slowOneIn))
		normal, slow, hedged = append(normal, n99), append(slow, s99), append(hedged, h99)
		normal50, hedged50 = append(normal50, n50), append(hedged50, h50)
	}
	n, s, h := median(normal), median(slow), median(hedged)
	b.ReportMetric(float64(median(normal50).Microseconds()), "normal-p50-µs")
	b.ReportMetric(float64(median(hedged50).Microseconds()), "hedged-p50-µs")
	b.ReportMetric(float64(n.Microseconds()), "normal-p99-µs")
	b.ReportMetric(float64(s.Microseconds()), "slow-p99-µs")
	b.ReportMetric(float64(h.Microseconds()), "hedged-p99-µs")
	b.ReportMetric(float64(s)/float64(n), "slow/normal")
	b.ReportMetric(float64(h)/float64(n), "hedged/normal")
}
