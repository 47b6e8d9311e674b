package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
)

// counting answers each query with one hit named after it, counting the
// searches it runs; gate, when set, holds them until closed.
type counting struct {
	calls  atomic.Int64
	gate   chan struct{}
	failed int // shards reported failed
	err    error
}

func (s *counting) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	return &index.Result{Total: 1, Hits: []index.Hit{{ID: req.Query, Image: []byte(`{"id":"` + req.Query + `"}`)}},
		Shards: index.ShardStatus{Total: 2, Successful: 2 - s.failed, Failed: s.failed}}, nil
}
func (s *counting) String() string { return "counting" }
func (s *counting) Close() error   { return nil }

func search(t *testing.T, c *Searcher, q string) *index.Result {
	t.Helper()
	res, err := c.Search(context.Background(), &index.Request{Query: q})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestHitsAndVersions(t *testing.T) {
	inner := &counting{}
	var version atomic.Value
	version.Store("g1:10:20")
	c := New(inner, Options{Version: func() string { return version.Load().(string) }})
	search(t, c, "bus")
	res := search(t, c, "bus")
	if inner.calls.Load() != 1 || res.Hits[0].ID != "bus" {
		t.Fatalf("a repeated search ran %d times", inner.calls.Load())
	}
	// The caller may change what it got without changing the cache.
	res.Hits[0].ID = "changed"
	if got := search(t, c, "bus").Hits[0].ID; got != "bus" {
		t.Errorf("the kept result was changed by a caller: %s", got)
	}
	// An applied write (a new offset) or a new generation misses.
	version.Store("g1:11:20")
	search(t, c, "bus")
	version.Store("g2:0:0")
	search(t, c, "bus")
	if inner.calls.Load() != 3 {
		t.Errorf("%d searches after two version changes, want 3", inner.calls.Load())
	}
	// Unknown version: bypassed.
	version.Store("")
	search(t, c, "bus")
	search(t, c, "bus")
	if inner.calls.Load() != 5 {
		t.Errorf("with no version, %d searches, want 5", inner.calls.Load())
	}
	if st := c.Stats(); st.Hits != 2 || st.Misses != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestNotKept(t *testing.T) {
	inner := &counting{failed: 1}
	c := New(inner, Options{})
	search(t, c, "bus")
	search(t, c, "bus")
	if inner.calls.Load() != 2 {
		t.Errorf("a partial result was kept")
	}
	inner.failed, inner.err = 0, errors.New("boom")
	for range 2 {
		if _, err := c.Search(context.Background(), &index.Request{Query: "x"}); err == nil {
			t.Fatal("no error")
		}
	}
	if inner.calls.Load() != 4 {
		t.Errorf("an error was kept")
	}
}

func TestEviction(t *testing.T) {
	inner := &counting{}
	c := New(inner, Options{MaxEntries: 3})
	for _, q := range []string{"a", "b", "c", "a", "d"} { // b is least recent when d comes
		search(t, c, q)
	}
	calls := inner.calls.Load()
	search(t, c, "a")
	search(t, c, "c")
	search(t, c, "d")
	if inner.calls.Load() != calls {
		t.Errorf("recent entries were evicted")
	}
	search(t, c, "b")
	if inner.calls.Load() != calls+1 {
		t.Errorf("the least recent entry was kept")
	}
	// By bytes: a big result does not fit; entries are evicted to make room.
	c = New(&counting{}, Options{MaxBytes: 2000, MaxResultBytes: 1000})
	for i := range 20 {
		search(t, c, strings.Repeat("x", 10+i))
	}
	if st := c.Stats(); st.Bytes > 2000 || st.Evictions == 0 {
		t.Errorf("byte bound not kept: %+v", st)
	}
	search(t, c, strings.Repeat("y", 2000))
	if st := c.Stats(); st.Bytes > 2000 {
		t.Errorf("a result over MaxResultBytes was kept: %+v", st)
	}
}

func TestCollapsedForwarding(t *testing.T) {
	inner := &counting{gate: make(chan struct{})}
	c := New(inner, Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// The first caller gives up early; the others still get the answer.
	ctx, cancel := context.WithCancel(context.Background())
	wg.Go(func() {
		_, err := c.Search(ctx, &index.Request{Query: "bus"})
		if !errors.Is(err, context.Canceled) {
			errs <- err
		}
	})
	for inner.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range n - 1 {
		wg.Go(func() {
			res, err := c.Search(context.Background(), &index.Request{Query: "bus"})
			if err != nil || res.Hits[0].ID != "bus" {
				errs <- err
			}
		})
	}
	for c.Stats().Collapsed < n-1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	time.Sleep(10 * time.Millisecond)
	close(inner.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a collapsed search: %v", err)
	}
	if inner.calls.Load() != 1 {
		t.Errorf("%d identical concurrent searches ran %d times, want once", n, inner.calls.Load())
	}
}
