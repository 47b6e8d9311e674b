package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
)

// fake is a replica whose behaviour a test sets: each call runs do, and
// SearchShard answers with Total = the fake's number, so a test sees who
// answered.
type fake struct {
	n     int
	calls atomic.Int64
	do    func(ctx context.Context) error
}

func newFake(n int) *fake { return &fake{n: n, do: func(context.Context) error { return nil }} }

func (f *fake) run(ctx context.Context) error {
	f.calls.Add(1)
	return f.do(ctx)
}

func (f *fake) TermStats(ctx context.Context, _ *index.ShardRequest) (*index.TermStats, error) {
	if err := f.run(ctx); err != nil {
		return nil, err
	}
	return &index.TermStats{DocCount: uint64(f.n)}, nil
}

func (f *fake) SearchShard(ctx context.Context, _ *index.ShardRequest) (*index.ShardResult, error) {
	if err := f.run(ctx); err != nil {
		return nil, err
	}
	return &index.ShardResult{Total: uint64(f.n)}, nil
}

func (f *fake) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	if err := f.run(ctx); err != nil {
		return nil, err
	}
	return make([]json.RawMessage, len(ids)), nil
}

func (f *fake) String() string { return fmt.Sprintf("fake %d", f.n) }
func (f *fake) Close() error   { return nil }

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func members(fakes ...*fake) []Member {
	out := make([]Member, len(fakes))
	for i, f := range fakes {
		out[i] = Member{ID: fmt.Sprintf("r%d", f.n), Shard: f, CaughtUp: true, Healthy: true}
	}
	return out
}

func newTestSet(t *testing.T, opts Options, fakes ...*fake) *Set {
	t.Helper()
	s := NewSet("shard 0", opts)
	require.NoError(t, s.Update(members(fakes...)))
	return s
}

func search(s *Set) (int, error) {
	r, err := s.SearchShard(context.Background(), &index.ShardRequest{})
	if err != nil {
		return -1, err
	}
	return int(r.Total), nil
}

func memberStats(s *Set, id string) MemberStats {
	for _, m := range s.Stats().Members {
		if m.ID == id {
			return m
		}
	}
	return MemberStats{}
}

var errDown = errors.New("connection refused")

func TestLeastOutstandingSpreadsLoad(t *testing.T) {
	gate := make(chan struct{})
	var fakes []*fake
	for i := range 3 {
		f := newFake(i)
		f.do = func(ctx context.Context) error {
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fakes = append(fakes, f)
	}
	s := newTestSet(t, Options{}, fakes...)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, err := search(s)
			require.NoError(t, err)
		})
	}
	// Each call found the others outstanding, so each went elsewhere.
	waitOutstanding(t, s, 1)
	close(gate)
	wg.Wait()
	for _, f := range fakes {
		require.EqualValues(t, 1, f.calls.Load())
	}
	waitIdle(t, s)
}

// waitIdle waits until no attempt of s is outstanding: attempts a call
// cancelled end on their own a little later.
func waitIdle(t *testing.T, s *Set) {
	t.Helper()
	waitOutstanding(t, s, 0)
}

// waitOutstanding waits until every member of s has n attempts running.
func waitOutstanding(t *testing.T, s *Set, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, m := range s.Stats().Members {
			if m.Outstanding != n {
				return false
			}
		}
		return true
	}, 30*time.Second, time.Millisecond)
}

func TestPrefersCaughtUpThenHealthy(t *testing.T) {
	lagging, current := newFake(1), newFake(2)
	s := NewSet("shard 0", Options{})
	require.NoError(t, s.Update([]Member{
		{ID: "lagging", Shard: lagging, Healthy: true},
		{ID: "current", Shard: current, Healthy: true, CaughtUp: true},
	}))
	for range 10 {
		got, err := search(s)
		require.NoError(t, err)
		require.Equal(t, 2, got)
	}
	// With the caught-up one unhealthy, the lagging one serves.
	require.NoError(t, s.Update([]Member{
		{ID: "lagging", Shard: lagging, Healthy: true},
		{ID: "current", Shard: current, CaughtUp: true},
	}))
	got, err := search(s)
	require.NoError(t, err)
	require.Equal(t, 1, got)
	// None healthy: a clear error, no call.
	require.NoError(t, s.Update([]Member{{ID: "lagging", Shard: lagging}}))
	_, err = search(s)
	require.ErrorIs(t, err, ErrNoReplica)
	require.EqualValues(t, 1, lagging.calls.Load())

	_, err = search(NewSet("empty", Options{}))
	require.ErrorIs(t, err, ErrNoReplica)
}

func TestRetryOnAnotherMember(t *testing.T) {
	bad, good := newFake(1), newFake(2)
	bad.do = func(context.Context) error { return errDown }
	s := newTestSet(t, Options{FailuresToEject: 1000}, bad, good)
	for range 20 {
		got, err := search(s)
		require.NoError(t, err)
		require.Equal(t, 2, got)
	}
	st := s.Stats()
	// Once good has a latency and bad none, bad looks faster and goes
	// first every time: every call but perhaps the first was retried.
	require.GreaterOrEqual(t, st.Retries, uint64(19))
	require.Equal(t, uint64(bad.calls.Load()), memberStats(s, "r1").Failures)
	require.Equal(t, st.Retries, memberStats(s, "r2").Retries)
}

func TestFailureWhenEveryMemberFails(t *testing.T) {
	a, b, c := newFake(1), newFake(2), newFake(3)
	for _, f := range []*fake{a, b, c} {
		f.do = func(context.Context) error { return errDown }
	}
	s := newTestSet(t, Options{FailuresToEject: 1000}, a, b, c)
	_, err := search(s)
	require.ErrorIs(t, err, errDown)
	// The first and one retry; the third member is not tried.
	require.EqualValues(t, 2, a.calls.Load()+b.calls.Load()+c.calls.Load())
}

func TestBadRequestIsNotRetried(t *testing.T) {
	a, b := newFake(1), newFake(2)
	for _, f := range []*fake{a, b} {
		f.do = func(context.Context) error { return fmt.Errorf("max_terms: %w", index.ErrBadRequest) }
	}
	s := newTestSet(t, Options{FailuresToEject: 1}, a, b)
	for range 5 {
		_, err := search(s)
		require.ErrorIs(t, err, index.ErrBadRequest)
	}
	require.EqualValues(t, 5, a.calls.Load()+b.calls.Load())
	for _, m := range s.Stats().Members {
		require.Zero(t, m.Failures)
		require.False(t, m.Ejected)
	}
	require.Zero(t, s.Stats().Retries)
}

func TestEjectionAndReturn(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	flaky, steady := newFake(1), newFake(2)
	var broken atomic.Bool
	broken.Store(true)
	flaky.do = func(context.Context) error {
		if broken.Load() {
			return errDown
		}
		return nil
	}
	opts := Options{FailuresToEject: 3, EjectFor: 5 * time.Second, Now: clk.Now}
	s := newTestSet(t, opts, flaky, steady)
	for range 10 {
		_, err := search(s) // retried on steady when flaky fails
		require.NoError(t, err)
	}
	require.True(t, memberStats(s, "r1").Ejected)
	require.EqualValues(t, 3, flaky.calls.Load())
	// Ejected: not tried while its time lasts.
	for range 10 {
		_, err := search(s)
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, flaky.calls.Load())

	clk.advance(5 * time.Second)
	require.False(t, memberStats(s, "r1").Ejected)
	// On probation, with steady out of the way: one failure ejects it
	// again, for twice as long.
	m := members(flaky, steady)
	m[1].Healthy = false
	require.NoError(t, s.Update(m))
	_, err := search(s)
	require.ErrorIs(t, err, errDown)
	require.True(t, memberStats(s, "r1").Ejected)
	clk.advance(9 * time.Second)
	require.True(t, memberStats(s, "r1").Ejected)
	// Every healthy member ejected: the one back first is still tried.
	broken.Store(false)
	got, err := search(s)
	require.NoError(t, err)
	require.Equal(t, 1, got)
	st := memberStats(s, "r1")
	require.False(t, st.Ejected, "a success clears the record")
	require.EqualValues(t, 4, st.Failures)
}

func TestHedgeFastMemberWins(t *testing.T) {
	var stall atomic.Bool
	loserCancelled := make(chan struct{})
	a, b := newFake(1), newFake(2)
	a.do = func(ctx context.Context) error {
		if stall.Load() {
			<-ctx.Done() // answers only when cancelled
			close(loserCancelled)
			return ctx.Err()
		}
		return nil
	}
	// Learn the shard's latencies on b alone; a then joins with no
	// average of its own, so it looks fastest and is called first.
	s := newTestSet(t, Options{HedgeMin: time.Nanosecond}, b)
	for range minHedgeSamples {
		_, err := search(s)
		require.NoError(t, err)
	}
	require.NoError(t, s.Update(members(a, b)))
	before := s.Stats()
	stall.Store(true)
	got, err := search(s)
	require.NoError(t, err)
	require.Equal(t, 2, got)
	select {
	case <-loserCancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow attempt was not cancelled")
	}
	require.EqualValues(t, 1, a.calls.Load())
	after := s.Stats()
	require.Equal(t, before.Hedges+1, after.Hedges)
	require.Equal(t, before.HedgesWon+1, after.HedgesWon)
	waitIdle(t, s)
	for _, m := range s.Stats().Members {
		require.Zero(t, m.Failures, "the cancelled loser is no failure")
	}
}

func TestNoHedgeWithoutSamplesOrWhenDisabled(t *testing.T) {
	for _, opts := range []Options{{HedgeMin: time.Nanosecond}, {HedgeMin: time.Nanosecond, DisableHedging: true}} {
		a, b := newFake(1), newFake(2)
		s := newTestSet(t, opts, a, b)
		n := 5
		if opts.DisableHedging {
			n = 3 * minHedgeSamples
		}
		for range n {
			_, err := search(s)
			require.NoError(t, err)
		}
		var gate = make(chan struct{})
		a.do = func(ctx context.Context) error { <-gate; return nil }
		b.do = a.do
		done := make(chan error, 1)
		go func() { _, err := search(s); done <- err }()
		// Nothing can hedge it, so exactly one member is called.
		require.Eventually(t, func() bool { return a.calls.Load()+b.calls.Load() == int64(n+1) }, 30*time.Second, time.Millisecond)
		time.Sleep(20 * time.Millisecond) // a hedge, were there one, would be due by now
		close(gate)
		require.NoError(t, <-done)
		require.EqualValues(t, n+1, a.calls.Load()+b.calls.Load())
		require.Zero(t, s.Stats().Hedges)
	}
}

func TestDeadlineRespected(t *testing.T) {
	a, b := newFake(1), newFake(2)
	sawEnd := make(chan struct{}, 2)
	block := func(ctx context.Context) error {
		<-ctx.Done()
		sawEnd <- struct{}{}
		return fmt.Errorf("reading the answer: %w", ctx.Err())
	}
	a.do, b.do = block, block
	s := newTestSet(t, Options{FailuresToEject: 1}, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.SearchShard(ctx, &index.ShardRequest{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	<-sawEnd
	waitIdle(t, s)
	// The caller's deadline is nobody's failure, and is not retried.
	require.EqualValues(t, 1, a.calls.Load()+b.calls.Load())
	for _, m := range s.Stats().Members {
		require.Zero(t, m.Failures)
		require.False(t, m.Ejected)
	}
	require.Zero(t, s.Stats().Retries)

	// A context already ended calls no one.
	_, err = s.SearchShard(ctx, &index.ShardRequest{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualValues(t, 1, a.calls.Load()+b.calls.Load())
}

func TestUpdateKeepsState(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	a, b := newFake(1), newFake(2)
	a.do = func(context.Context) error { return errDown }
	s := newTestSet(t, Options{FailuresToEject: 2, Now: clk.Now}, a, b)
	for range 5 {
		_, err := search(s)
		require.NoError(t, err)
	}
	require.True(t, memberStats(s, "r1").Ejected)
	calls := memberStats(s, "r1").Calls
	// r1 comes back as a new client (a reconnect), r3 joins, r2 leaves.
	a2, c := newFake(1), newFake(3)
	require.NoError(t, s.Update(members(a2, c)))
	st := memberStats(s, "r1")
	require.True(t, st.Ejected)
	require.Equal(t, calls, st.Calls)
	require.EqualValues(t, 2, st.Failures)
	require.Len(t, s.Stats().Members, 2)
	got, err := search(s)
	require.NoError(t, err)
	require.Equal(t, 3, got, "r1 stays ejected")
	require.Zero(t, a2.calls.Load())

	// A bad list changes nothing.
	require.Error(t, s.Update([]Member{{ID: "x", Shard: a}, {ID: "x", Shard: b}}))
	require.Error(t, s.Update([]Member{{ID: "", Shard: a}}))
	require.Error(t, s.Update([]Member{{ID: "y"}}))
	require.Len(t, s.Stats().Members, 2)
}

func TestPanicIsAFailure(t *testing.T) {
	a, b := newFake(1), newFake(2)
	a.do = func(context.Context) error { panic("boom") }
	s := newTestSet(t, Options{FailuresToEject: 1000}, a, b)
	for range 5 {
		got, err := search(s)
		require.NoError(t, err)
		require.Equal(t, 2, got)
	}
	require.EqualValues(t, a.calls.Load(), memberStats(s, "r1").Failures)
	require.Positive(t, a.calls.Load())
}

func TestAllCallKinds(t *testing.T) {
	a := newFake(7)
	s := newTestSet(t, Options{}, a)
	st, err := s.TermStats(context.Background(), &index.ShardRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 7, st.DocCount)
	recs, err := s.Fetch(context.Background(), []string{"x", "y"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, "shard 0", s.String())
	require.NoError(t, s.Close())
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, Options{}.Validate())
	for _, o := range []Options{
		{FailuresToEject: -1}, {EjectFor: -time.Second}, {HedgeAfterPercentile: 1.5},
		{HedgeAfterPercentile: -0.1}, {HedgeMin: -1}, {Window: 5},
	} {
		require.Error(t, o.Validate(), "%+v", o)
	}
	require.Panics(t, func() { NewSet("x", Options{Window: 3}) })
}

func TestWindowPercentile(t *testing.T) {
	w := window{samples: make([]time.Duration, 0, 100)}
	for i := 1; i <= 300; i++ {
		w.add(time.Duration(i))
	}
	// The ring holds 201..300.
	require.Equal(t, time.Duration(295), w.percentile(0.95))
	require.Equal(t, time.Duration(300), w.percentile(1))
}

// reporting is a fake that tells the offset its last answer came from.
type reporting struct {
	*fake
	offset atomic.Int64
}

func (r *reporting) LastOffset() int64 { return r.offset.Load() }

// TestContentVersionEndsWithANewerAnswer: a version set for contents up
// to an offset stops holding as soon as a member answers from further on
// (a write applied since the members were last polled), and a new one
// holds again.
func TestContentVersionEndsWithANewerAnswer(t *testing.T) {
	a, b := &reporting{fake: newFake(1)}, &reporting{fake: newFake(2)}
	a.offset.Store(-1)
	b.offset.Store(-1)
	s := NewSet("shard 0", Options{})
	require.NoError(t, s.Update([]Member{{ID: "a", Shard: a, CaughtUp: true, Healthy: true}, {ID: "b", Shard: b, CaughtUp: true, Healthy: true}}))
	s.SetContentVersionAt(77, 10)
	v, ok := s.ContentVersion()
	require.True(t, ok)
	require.EqualValues(t, 77, v)
	a.offset.Store(10) // what the version says
	_, ok = s.ContentVersion()
	require.True(t, ok)
	b.offset.Store(11) // one more message applied
	_, ok = s.ContentVersion()
	require.False(t, ok, "a member answered from newer contents")
	s.SetContentVersionAt(78, 11)
	v, ok = s.ContentVersion()
	require.True(t, ok)
	require.EqualValues(t, 78, v)
	s.SetContentVersion(79) // no offset: holds whatever members answer
	b.offset.Store(500)
	_, ok = s.ContentVersion()
	require.True(t, ok)
}
