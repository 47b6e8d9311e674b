package api_test

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picdex/picdex/api"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t testing.TB, o api.RateLimitOptions) (*api.RateLimiter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	o.Now = clk.now
	l, err := api.NewRateLimiter(o)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func TestRateLimiterBurstAndRefill(t *testing.T) {
	l, clk := newLimiter(t, api.RateLimitOptions{Rate: 4})
	for i := range 8 { // burst 2×rate
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 250*time.Millisecond {
		t.Fatalf("past the burst: %v, wait %v, want refused for 250ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another client shares the first one's bucket")
	}
	clk.advance(249 * time.Millisecond)
	if ok, _ := l.Allow("a"); ok {
		t.Error("a token before it has refilled")
	}
	clk.advance(2 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("no token after 251ms at 4/s")
	}
	// A long pause refills to the burst and no further.
	clk.advance(time.Hour)
	n := 0
	for {
		if ok, _ := l.Allow("a"); !ok {
			break
		}
		n++
	}
	if n != 8 {
		t.Errorf("after an hour %d requests admitted, want the burst of 8", n)
	}
	// A clock that steps back refills nothing and breaks nothing.
	clk.advance(-time.Minute)
	if ok, wait := l.Allow("a"); ok || wait <= 0 {
		t.Errorf("after a step back: %v %v", ok, wait)
	}
}

func TestRateLimiterValidate(t *testing.T) {
	for _, o := range []api.RateLimitOptions{
		{Rate: 0}, {Rate: -1}, {Rate: math.NaN()}, {Rate: math.Inf(1)},
		{Rate: 1, Burst: 0.5}, {Rate: 1, Burst: -1}, {Rate: 1, MaxClients: -1},
	} {
		if _, err := api.NewRateLimiter(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// A tiny rate still lets one request through.
	l, _ := newLimiter(t, api.RateLimitOptions{Rate: 0.1})
	if ok, _ := l.Allow("a"); !ok {
		t.Error("rate 0.1: the first request refused")
	}
	if ok, wait := l.Allow("a"); ok || wait != 10*time.Second {
		t.Errorf("rate 0.1: %v %v, want a wait of 10s", ok, wait)
	}
}

// TestRateLimiterBounded: a flood of distinct clients never grows the
// table past MaxClients, and a client that keeps sending keeps its debt
// when the flood is of clients that sent once.
func TestRateLimiterBounded(t *testing.T) {
	const max = 1000
	l, clk := newLimiter(t, api.RateLimitOptions{Rate: 1, MaxClients: max})
	for i := range 20_000 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		if i%997 == 0 {
			clk.advance(time.Millisecond)
		}
		if i%1000 == 0 && l.Len() > max {
			t.Fatalf("after %d clients the table holds %d, over %d", i+1, l.Len(), max)
		}
	}
	if n := l.Len(); n > max || n < max/2 {
		t.Errorf("table holds %d clients, want at most %d and not far fewer", n, max)
	}

	// Idle buckets (full again) go before busy ones: a client over its
	// limit stays over it while one-off clients stream past, so it is
	// admitted no more than its burst and the refill of the whole time.
	l, clk = newLimiter(t, api.RateLimitOptions{Rate: 1, MaxClients: 64})
	busy := 0
	for i := range 10_000 {
		l.Allow(fmt.Sprintf("once-%d", i))
		clk.advance(50 * time.Millisecond) // a one-off client is full again after 1s
		if i%5 == 0 {
			if ok, _ := l.Allow("busy"); ok {
				busy++
			}
		}
		if l.Len() > 64 {
			t.Fatalf("table holds %d, over 64", l.Len())
		}
	}
	if limit := 2 + 10_000*50/1000; busy > limit {
		t.Errorf("busy client admitted %d times, over %d: its bucket was evicted", busy, limit)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l, _ := newLimiter(t, api.RateLimitOptions{Rate: 100})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 500 {
		wg.Go(func() {
			for i := range 200 {
				id := "shared"
				if i%2 == 1 {
					id = fmt.Sprintf("client-%d-%d", g, i)
				}
				if ok, _ := l.Allow(id); ok && id == "shared" {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// The clock stands still: the shared client gets exactly its burst.
	if n := admitted.Load(); n != 200 {
		t.Errorf("shared client admitted %d times, want its burst of 200", n)
	}
	if n := l.Len(); n != 1+500*100 {
		t.Errorf("table holds %d clients, want %d", n, 1+500*100)
	}
}

func BenchmarkRateLimiterParallel(b *testing.B) {
	l, err := api.NewRateLimiter(api.RateLimitOptions{Rate: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("client-%d", n.Add(1))
		for pb.Next() {
			l.Allow(id)
		}
	})
}
