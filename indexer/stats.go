package indexer

import (
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a consumer did, for logs and metrics. Library code
// registers no metrics itself; a caller exports these (picdex serve and
// picdex indexer do, at GET /metrics).
type Stats struct {
	Consumed, Indexed, Skipped, DeadLettered atomic.Int64
	// Routed counts what a Router produced to the shard log; Resent what
	// a replica skipped as a router's re-send; Resets the marks a router
	// wrote for an origin partition read from its start.
	Routed, Resent, Resets atomic.Int64
	// Batch is how long applying a micro-batch took; Freshness how long
	// after it was produced a record became searchable.
	Batch, Freshness Histogram

	mu  sync.Mutex
	lag map[int]int64 // partition -> messages behind the end
	// lagOf, when set, measures the lag when asked (the in-process queue
	// knows it exactly) instead of SetLag.
	lagOf func() map[int]int64
}

// SetLag records how far behind the end of its partition the consumer is.
func (s *Stats) SetLag(partition int, lag int64) {
	s.mu.Lock()
	if s.lag == nil {
		s.lag = map[int]int64{}
	}
	s.lag[partition] = lag
	s.mu.Unlock()
}

// Lag returns the last lag seen of each partition.
func (s *Stats) Lag() map[int]int64 {
	if s.lagOf != nil {
		return s.lagOf()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.lag)
}

func (s *Stats) observe(batch []Message, start, done time.Time) {
	s.Batch.Observe(done.Sub(start).Seconds())
	for _, m := range batch {
		if !m.ProducedAt.IsZero() {
			s.Freshness.Observe(done.Sub(m.ProducedAt).Seconds())
		}
	}
}

// Buckets are the upper bounds, in seconds, of every Histogram.
var Buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram counts observations into Buckets, lock-free.
type Histogram struct {
	counts [13]atomic.Int64 // one per bucket, and +Inf
	count  atomic.Int64
	sum    atomic.Uint64 // float64 bits
}

// Observe adds one value.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(Buckets) && v > Buckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Snapshot returns the cumulative count at or below each of Buckets, the
// number of observations and their sum.
func (h *Histogram) Snapshot() (cumulative []uint64, count uint64, sum float64) {
	cumulative = make([]uint64, len(Buckets))
	var run uint64
	for i := range Buckets {
		run += uint64(h.counts[i].Load())
		cumulative[i] = run
	}
	return cumulative, uint64(h.count.Load()), math.Float64frombits(h.sum.Load())
}
