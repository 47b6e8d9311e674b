package cache

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
)

// inner is a fake Searcher: it answers a hit named after the query, and
// a test can hold its searches (gate), fail them, or make them partial.
type inner struct {
	calls   atomic.Int64
	gate    chan struct{} // nil: answer at once
	started chan context.Context
	err     error
	partial bool
	image   string
}

func (s *inner) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	s.calls.Add(1)
	if s.started != nil {
		s.started <- ctx
	}
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
	image := s.image
	if image == "" {
		image = `{"title":"a red bus"}`
	}
	res := &index.Result{Total: 1,
		Hits:   []index.Hit{{ID: req.Query, Score: 1, Image: json.RawMessage(image), Highlights: map[string][]string{"title": {"a <mark>red</mark> bus"}}}},
		Facets: map[string][]index.FacetValue{"tags": {{Value: "bus", Count: 1}}},
		Shards: index.ShardStatus{Total: 2, Successful: 2, Failures: []index.ShardFailure{}}}
	if s.partial {
		res.Shards = index.ShardStatus{Total: 2, Successful: 1, Failed: 1, Failures: []index.ShardFailure{{Shard: "shard 1", Reason: "down"}}}
	}
	return res, nil
}

func (s *inner) Close() error   { return nil }
func (s *inner) String() string { return "fake" }

// version is a settable Options.Version.
type version struct{ v atomic.Value }

func newVersion(v string) *version { x := &version{}; x.v.Store(v); return x }
func (x *version) get() string     { return x.v.Load().(string) }

func newCache(in *inner, opts Options) *Searcher {
	if opts.Version == nil {
		opts.Version = func() string { return "g1" }
	}
	return New(in, opts)
}

func q(query string) *index.Request { return &index.Request{Query: query} }

func TestHitAndCopies(t *testing.T) {
	in := &inner{}
	c := newCache(in, Options{})
	first, err := c.Search(context.Background(), q("bus"))
	require.NoError(t, err)
	// The caller's copy is its own.
	first.Hits[0].ID = "changed"
	first.Hits[0].Image[2] = 'X'
	first.Hits[0].Highlights["title"][0] = "changed"
	first.Facets["tags"][0].Count = 99
	second, err := c.Search(context.Background(), q("bus"))
	require.NoError(t, err)
	require.EqualValues(t, 1, in.calls.Load())
	require.Equal(t, "bus", second.Hits[0].ID)
	require.JSONEq(t, `{"title":"a red bus"}`, string(second.Hits[0].Image))
	require.Equal(t, "a <mark>red</mark> bus", second.Hits[0].Highlights["title"][0])
	require.Equal(t, 1, second.Facets["tags"][0].Count)
	require.NotNil(t, second.Shards.Failures)
	st := c.Stats()
	require.Equal(t, Stats{Hits: 1, Misses: 1, Entries: 1, Bytes: st.Bytes}, st)
	require.Positive(t, st.Bytes)
}

func TestSpellingsShareAnEntry(t *testing.T) {
	in := &inner{}
	c := newCache(in, Options{})
	ten := 10
	for _, r := range []*index.Request{
		{Query: "bus", Filter: index.Filter{Tags: []string{"red", "old"}, Format: []string{"png", "jpeg"}}},
		{Query: "bus", Size: &ten, Filter: index.Filter{Tags: []string{"old", "red"}, Format: []string{"jpeg", "png"}}},
	} {
		_, err := c.Search(context.Background(), r)
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, in.calls.Load())
	// Sort order does change a result.
	_, err := c.Search(context.Background(), &index.Request{Query: "bus", Sort: []string{"width", "height"}})
	require.NoError(t, err)
	_, err = c.Search(context.Background(), &index.Request{Query: "bus", Sort: []string{"height", "width"}})
	require.NoError(t, err)
	require.EqualValues(t, 3, in.calls.Load())
}

func TestVersionChangeMisses(t *testing.T) {
	in := &inner{}
	v := newVersion("g1/0:10,1:7")
	c := newCache(in, Options{Version: v.get})
	search := func() {
		_, err := c.Search(context.Background(), q("bus"))
		require.NoError(t, err)
	}
	search()
	search()
	require.EqualValues(t, 1, in.calls.Load())
	v.v.Store("g1/0:11,1:7") // a write
	search()
	require.EqualValues(t, 2, in.calls.Load())
	v.v.Store("g2/0:0,1:0,2:0") // a generation switch
	search()
	search()
	require.EqualValues(t, 3, in.calls.Load())
}

func TestEvictionByEntries(t *testing.T) {
	in := &inner{}
	c := newCache(in, Options{MaxEntries: 2})
	for _, query := range []string{"a", "b", "a", "c"} { // a is used again, so b goes
		_, err := c.Search(context.Background(), q(query))
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, in.calls.Load())
	st := c.Stats()
	require.Equal(t, 2, st.Entries)
	require.EqualValues(t, 1, st.Evictions)
	_, err := c.Search(context.Background(), q("a"))
	require.NoError(t, err)
	require.EqualValues(t, 3, in.calls.Load(), "a was kept")
	_, err = c.Search(context.Background(), q("b"))
	require.NoError(t, err)
	require.EqualValues(t, 4, in.calls.Load(), "b was evicted")
}

func TestEvictionByBytes(t *testing.T) {
	in := &inner{image: `{"caption":"` + strings.Repeat("x", 1000) + `"}`}
	c := newCache(in, Options{MaxBytes: 5000, MaxEntryBytes: 5000})
	for _, query := range []string{"a", "b", "c", "d", "e", "f"} {
		_, err := c.Search(context.Background(), q(query))
		require.NoError(t, err)
		require.LessOrEqual(t, c.Stats().Bytes, int64(5000))
	}
	st := c.Stats()
	require.Positive(t, st.Evictions)
	require.Less(t, st.Entries, 6)
	require.Positive(t, st.Entries)

	// A result over MaxEntryBytes is not kept at all.
	big := newCache(in, Options{MaxBytes: 5000, MaxEntryBytes: 500})
	for range 2 {
		_, err := big.Search(context.Background(), q("a"))
		require.NoError(t, err)
	}
	require.Equal(t, Stats{Misses: 2, Uncached: 2}, big.Stats())
}

func TestPartialAndErrorsNotCached(t *testing.T) {
	for _, in := range []*inner{{partial: true}, {err: errors.New("all shards failed")}, {err: &index.RequestError{Param: "size", Reason: "too big"}}} {
		c := newCache(in, Options{})
		for range 2 {
			_, _ = c.Search(context.Background(), q("bus"))
		}
		require.EqualValues(t, 2, in.calls.Load())
		require.Equal(t, Stats{Misses: 2, Uncached: 2}, c.Stats())
	}
}

func TestCollapsedForwarding(t *testing.T) {
	in := &inner{gate: make(chan struct{})}
	c := newCache(in, Options{})
	const n = 8
	var wg sync.WaitGroup
	results := make([]*index.Result, n)
	for i := range n {
		wg.Go(func() {
			var err error
			results[i], err = c.Search(context.Background(), q("bus"))
			require.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return c.Stats().Collapsed == n-1 }, 30*time.Second, time.Millisecond)
	close(in.gate)
	wg.Wait()
	require.EqualValues(t, 1, in.calls.Load())
	for i, r := range results {
		require.Equal(t, "bus", r.Hits[0].ID)
		for _, o := range results[:i] {
			require.NotSame(t, o, r)
			require.NotSame(t, &o.Hits[0], &r.Hits[0])
		}
	}
}

func TestCallerCancelDoesNotCancelOthers(t *testing.T) {
	in := &inner{gate: make(chan struct{}), started: make(chan context.Context, 1)}
	c := newCache(in, Options{})
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Search(firstCtx, q("bus"))
		firstErr <- err
	}()
	innerCtx := <-in.started
	second := make(chan *index.Result, 1)
	go func() {
		r, err := c.Search(context.Background(), q("bus"))
		require.NoError(t, err)
		second <- r
	}()
	require.Eventually(t, func() bool { return c.Stats().Collapsed == 1 }, 30*time.Second, time.Millisecond)
	cancelFirst()
	require.ErrorIs(t, <-firstErr, context.Canceled)
	require.NoError(t, innerCtx.Err(), "the shared search goes on for the second caller")
	close(in.gate)
	require.Equal(t, "bus", (<-second).Hits[0].ID)
	require.EqualValues(t, 1, in.calls.Load())
}

func TestLastCallerLeavingCancels(t *testing.T) {
	in := &inner{gate: make(chan struct{}), started: make(chan context.Context, 2)}
	c := newCache(in, Options{})
	ctx, cancel := context.WithCancel(index.WithClient(context.Background(), "key-1"))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Search(ctx, q("bus"))
		errc <- err
	}()
	innerCtx := <-in.started
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	<-innerCtx.Done() // nobody waits: the search stops
	require.Eventually(t, func() bool { return c.Stats().Uncached == 1 }, 30*time.Second, time.Millisecond)
	// A later caller starts afresh rather than joining the dead flight.
	close(in.gate)
	_, err := c.Search(context.Background(), q("bus"))
	require.NoError(t, err)
	require.EqualValues(t, 2, in.calls.Load())
}

func TestLaterDeadlineOutlivesTheFlight(t *testing.T) {
	in := &inner{gate: make(chan struct{}), started: make(chan context.Context, 2)}
	c := newCache(in, Options{})
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	shortErr := make(chan error, 1)
	go func() {
		_, err := c.Search(short, q("bus"))
		shortErr <- err
	}()
	flightCtx := <-in.started
	dl, ok := flightCtx.Deadline()
	require.True(t, ok, "the flight carries the first caller's deadline")
	want, _ := short.Deadline()
	require.Equal(t, want, dl)
	long := make(chan error, 1)
	go func() {
		_, err := c.Search(context.Background(), q("bus"))
		long <- err
	}()
	require.Eventually(t, func() bool { return c.Stats().Collapsed == 1 }, 30*time.Second, time.Millisecond)
	require.ErrorIs(t, <-shortErr, context.DeadlineExceeded)
	// The flight ended at the short deadline; the long caller searches again.
	<-in.started
	close(in.gate)
	require.NoError(t, <-long)
	require.EqualValues(t, 2, in.calls.Load())
}

func TestPanicInInnerIsAnError(t *testing.T) {
	c := New(&panicky{}, Options{Version: func() string { return "" }})
	_, err := c.Search(context.Background(), q("bus"))
	require.ErrorContains(t, err, "panic")
}

type panicky struct{ inner }

func (*panicky) Search(context.Context, *index.Request) (*index.Result, error) { panic("boom") }

func TestOptionsAndClose(t *testing.T) {
	require.Error(t, Options{}.Validate())
	v := func() string { return "" }
	for _, o := range []Options{{Version: v, MaxEntries: -1}, {Version: v, MaxBytes: -1}, {Version: v, MaxEntryBytes: -1}} {
		require.Error(t, o.Validate())
	}
	require.Panics(t, func() { New(&inner{}, Options{}) })

	in := &inner{}
	c := newCache(in, Options{})
	require.Equal(t, "cache(fake)", c.String())
	_, err := c.Search(context.Background(), q("bus"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Equal(t, Stats{Misses: 1}, c.Stats())
}
