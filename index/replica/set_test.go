package replica

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
)

// fake is a replica whose behaviour the test sets: answer, fail, refuse
// the request as bad, or block until released or cancelled.
type fake struct {
	name string

	mu      sync.Mutex
	mode    string        // "", "fail", "bad", "block"
	release chan struct{} // closed to let blocked calls answer
	calls   atomic.Int64
	gone    atomic.Int64 // calls that ended by cancellation
	hook    func(context.Context, *fake) error
}

func newFake(name string) *fake { return &fake{name: name, release: make(chan struct{})} }

func (f *fake) set(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

func (f *fake) answer(ctx context.Context) error {
	f.calls.Add(1)
	if f.hook != nil {
		return f.hook(ctx, f)
	}
	f.mu.Lock()
	mode, release := f.mode, f.release
	f.mu.Unlock()
	switch mode {
	case "fail":
		return errors.New(f.name + " is broken")
	case "bad":
		return index.ErrBadRequest
	case "block":
		select {
		case <-release:
		case <-ctx.Done():
			f.gone.Add(1)
			return ctx.Err()
		}
	}
	return nil
}

func (f *fake) TermStats(ctx context.Context, _ *index.ShardRequest) (*index.TermStats, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	return &index.TermStats{DocCount: 1}, nil
}

func (f *fake) SearchShard(ctx context.Context, _ *index.ShardRequest) (*index.ShardResult, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	return &index.ShardResult{Total: 1, Hits: []index.ShardHit{{Hit: index.Hit{ID: f.name}}}}, nil
}

func (f *fake) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	if err := f.answer(ctx); err != nil {
		return nil, err
	}
	return []json.RawMessage{json.RawMessage(`"` + f.name + `"`)}, nil
}

func (f *fake) String() string { return f.name }
func (f *fake) Close() error   { return nil }

func members(fs ...*fake) []Member {
	out := make([]Member, len(fs))
	for i, f := range fs {
		out[i] = Member{ID: f.name, Shard: f, CaughtUp: true, Healthy: true}
	}
	return out
}

func who(t *testing.T, s *Set) string {
	t.Helper()
	res, err := s.SearchShard(context.Background(), &index.ShardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Hits[0].ID
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLeastOutstanding(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s := NewSet("shard-0", Options{HedgePercentile: -1})
	s.Update(members(a, b))
	// Hold a call on whichever member takes the first; the next goes to
	// the other.
	a.set("block")
	b.set("block")
	done := make(chan struct{})
	go func() { s.SearchShard(context.Background(), &index.ShardRequest{}); close(done) }()
	for a.calls.Load()+b.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	busy, idle := a, b
	if b.calls.Load() == 1 {
		busy, idle = b, a
	}
	idle.set("")
	if got := who(t, s); got != idle.name {
		t.Errorf("with %s busy, the call went to %s", busy.name, got)
	}
	close(busy.release)
	<-done
}

func TestRetryOnAnother(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set("fail")
	b.set("fail")
	s := NewSet("shard-0", Options{HedgePercentile: -1})
	s.Update(members(a, b))
	if _, err := s.SearchShard(context.Background(), &index.ShardRequest{}); err == nil {
		t.Fatal("both replicas failing: no error")
	}
	if a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Errorf("calls a %d b %d, want one each (one retry)", a.calls.Load(), b.calls.Load())
	}
	b.set("")
	for range 4 {
		if got := who(t, s); got != "b" {
			t.Errorf("answer from %s, want b", got)
		}
	}
	if st := s.Stats(); st.Retries == 0 {
		t.Errorf("no retries counted: %+v", st)
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set("bad")
	b.set("bad")
	s := NewSet("shard-0", Options{HedgePercentile: -1})
	s.Update(members(a, b))
	_, err := s.SearchShard(context.Background(), &index.ShardRequest{})
	if !errors.Is(err, index.ErrBadRequest) {
		t.Fatalf("err %v, want the bad request", err)
	}
	if n := a.calls.Load() + b.calls.Load(); n != 1 {
		t.Errorf("a bad request was sent %d times", n)
	}
	if st := s.Stats(); st.Members[0].Failures+st.Members[1].Failures != 0 {
		t.Errorf("a bad request counted against a replica: %+v", st)
	}
}

func TestEjectionAndReturn(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	clk := &clock{t: time.Unix(1000, 0)}
	s := NewSet("shard-0", Options{HedgePercentile: -1, FailuresToEject: 3, EjectFor: time.Minute, Now: clk.now})
	s.Update(members(a, b))
	a.set("fail")
	for range 10 {
		who(t, s) // a fails, b answers the retry
	}
	st := s.Stats()
	if !st.Members[0].Ejected {
		t.Fatalf("a failed every call and is not ejected: %+v", st)
	}
	calls := a.calls.Load()
	for range 5 {
		who(t, s)
	}
	if a.calls.Load() != calls {
		t.Errorf("an ejected replica got %d calls", a.calls.Load()-calls)
	}
	// Back after EjectFor, and healthy again on its first success.
	a.set("")
	clk.add(time.Minute + time.Second)
	seen := false
	for range 20 {
		if who(t, s) == "a" {
			seen = true
		}
	}
	if !seen || s.Stats().Members[0].Ejected {
		t.Errorf("a is not back after its ejection: %+v", s.Stats())
	}
	// Every replica ejected: the one back first still gets the call.
	a.set("fail")
	b.set("fail")
	for range 10 {
		s.SearchShard(context.Background(), &index.ShardRequest{})
	}
	a.set("")
	b.set("")
	if _, err := s.SearchShard(context.Background(), &index.ShardRequest{}); err != nil {
		t.Errorf("all ejected: %v, want a call to the one back first", err)
	}
}

func TestHedging(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s := NewSet("shard-0", Options{HedgeMin: time.Millisecond})
	s.Update(members(a, b))
	for range 50 {
		who(t, s) // learn the latencies: all fast
	}
	// The next call blocks on whichever member takes it; the hedge goes
	// to the other, which answers at once.
	var once atomic.Bool
	block := func(ctx context.Context, f *fake) error {
		if once.CompareAndSwap(false, true) {
			<-ctx.Done()
			f.gone.Add(1)
			return ctx.Err()
		}
		return nil
	}
	a.hook, b.hook = block, block
	res, err := s.SearchShard(context.Background(), &index.ShardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	loser := a
	if res.Hits[0].ID == "a" {
		loser = b
	}
	if st := s.Stats(); st.Hedges != 1 || st.HedgesWon != 1 {
		t.Errorf("hedges %d won %d, want 1 and 1", st.Hedges, st.HedgesWon)
	}
	waitUntil(t, func() bool { return loser.gone.Load() == 1 }, "the slow call to be cancelled")
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeadlineAndNoReplica(t *testing.T) {
	s := NewSet("shard-0", Options{HedgePercentile: -1})
	if _, err := s.Fetch(context.Background(), []string{"x"}); !errors.Is(err, ErrNoReplica) {
		t.Errorf("no members: %v", err)
	}
	a := newFake("a")
	a.set("block")
	s.Update(members(a))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.TermStats(ctx, &index.ShardRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocked replica past the deadline: %v", err)
	}
	if st := s.Stats(); st.Members[0].Failures != 0 {
		t.Errorf("the caller's deadline counted against the replica: %+v", st)
	}
	// Unhealthy members are never called; one not caught up only when no
	// other is.
	b, c := newFake("b"), newFake("c")
	s.Update([]Member{{ID: "b", Shard: b, Healthy: false, CaughtUp: true}, {ID: "c", Shard: c, Healthy: true, CaughtUp: false}})
	if got := who(t, s); got != "c" {
		t.Errorf("answer from %s, want c (the only healthy one)", got)
	}
	d := newFake("d")
	s.Update([]Member{{ID: "c", Shard: c, Healthy: true, CaughtUp: false}, {ID: "d", Shard: d, Healthy: true, CaughtUp: true}})
	for range 5 {
		if got := who(t, s); got != "d" {
			t.Errorf("answer from %s, want the caught-up d", got)
		}
	}
}

func TestUpdateKeepsState(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	s := NewSet("shard-0", Options{HedgePercentile: -1, FailuresToEject: 1, EjectFor: time.Hour})
	s.Update(members(a, b))
	a.set("fail")
	for range 3 {
		who(t, s)
	}
	s.Update(members(a, b))
	if st := s.Stats(); !st.Members[0].Ejected || st.Members[0].Failures == 0 {
		t.Errorf("Update forgot a's ejection: %+v", st)
	}
}
