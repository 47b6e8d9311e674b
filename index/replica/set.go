// Package replica spreads the calls of one index shard over the replicas
// that hold it, as the query tier needs: a Set implements index.Shard
// over its members, so the unchanged index.Fanout runs over one Set per
// shard.
//
// A call goes to a member that is healthy (the caller's active health
// checks say so), caught up with its shard log and not ejected, chosen by
// the fewest calls outstanding (ties: the lower recent latency). A call
// that fails for a reason other than the caller's (a bad request, the
// caller's own deadline or cancellation) is retried once on another
// member; a member that fails FailuresToEject calls in a row is ejected
// for EjectFor, doubling on each ejection that follows its return
// (passive outlier detection), and comes back on its first success. A
// call that has not answered after the shard's recent p95 latency is
// hedged: sent to a second member too, the first success answers and
// the other is cancelled. Every call carries the caller's context.
//
// The phases of one search may be served by different members: that is
// sound because caught-up replicas of a shard apply the same log and so
// hold the same documents.
package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// ErrNoReplica means a shard has no member that could take a call.
var ErrNoReplica = errors.New("no replica of the shard is available")

// Options configure a Set. A zero field takes its default.
type Options struct {
	// FailuresToEject is how many calls in a row a member may fail before
	// it is ejected (default 3).
	FailuresToEject int
	// EjectFor is how long a first ejection lasts; each ejection that
	// follows a return doubles it, up to 16 times (default 5s).
	EjectFor time.Duration
	// HedgePercentile is the latency percentile past which a call is
	// hedged (default 0.95; negative: never hedge).
	HedgePercentile float64
	// HedgeMin is the least wait before a hedge (default 2ms): calls
	// faster than that are not worth a second one.
	HedgeMin time.Duration
	// Window is how many recent latencies the percentile is taken over
	// (default 256); no hedging before 20 are known.
	Window int
	Logger *slog.Logger
	// Now tells the time (default time.Now), for tests.
	Now func() time.Time
}

// Validate fills in defaults and reports options that cannot work.
func (o *Options) Validate() error {
	if o.FailuresToEject < 0 || o.EjectFor < 0 || o.HedgeMin < 0 || o.Window < 0 || o.HedgePercentile >= 1 {
		return fmt.Errorf("replica: invalid options %+v", *o)
	}
	if o.FailuresToEject == 0 {
		o.FailuresToEject = 3
	}
	if o.EjectFor == 0 {
		o.EjectFor = 5 * time.Second
	}
	if o.HedgePercentile == 0 {
		o.HedgePercentile = 0.95
	}
	if o.HedgeMin == 0 {
		o.HedgeMin = 2 * time.Millisecond
	}
	if o.Window == 0 {
		o.Window = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// minSamples is how many latencies must be known before hedging.
const minSamples = 20

// Member is one replica of the shard, as the caller's health checks see it.
type Member struct {
	ID       string      // e.g. the shard server's address
	Shard    index.Shard // the replica
	CaughtUp bool        // applied its shard log (nearly) to the end
	Healthy  bool        // answers the active health checks
}

// member is a Member and what the Set has learned of it.
type member struct {
	Member
	outstanding atomic.Int64
	calls       atomic.Int64
	failures    atomic.Int64 // calls failed, in all

	mu          sync.Mutex
	inARow      int       // failures since the last success
	ejectedTill time.Time // zero: not ejected
	ejections   int       // ejections since it last stayed healthy
	ewma        float64   // recent latency, seconds
}

// Set is one shard's replicas; it implements index.Shard.
type Set struct {
	name string
	opts Options

	members atomic.Pointer[[]*member]

	latMu sync.Mutex
	lat   []time.Duration // ring of recent call latencies
	latN  int

	hedges, hedgesWon, retries atomic.Int64
}

// NewSet returns a Set named name (its String) with no members yet. It
// panics on options that fail Validate.
func NewSet(name string, opts Options) *Set {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	s := &Set{name: name, opts: opts, lat: make([]time.Duration, opts.Window)}
	s.members.Store(&[]*member{})
	return s
}

// Update replaces the members. A member whose ID stays keeps what the
// Set has learned of it (outstanding calls, failures, ejection, latency).
func (s *Set) Update(ms []Member) {
	old := map[string]*member{}
	for _, m := range *s.members.Load() {
		old[m.ID] = m
	}
	next := make([]*member, 0, len(ms))
	for _, m := range ms {
		if o := old[m.ID]; o != nil && o.Shard == m.Shard {
			o.mu.Lock()
			o.Member = m
			o.mu.Unlock()
			next = append(next, o)
			continue
		}
		next = append(next, &member{Member: m})
	}
	s.members.Store(&next)
}

// String implements index.Shard.
func (s *Set) String() string { return s.name }

// Close implements index.Shard. The Set does not own its members'
// shards: whoever made them closes them.
func (s *Set) Close() error { return nil }

// TermStats implements index.Shard.
func (s *Set) TermStats(ctx context.Context, req *index.ShardRequest) (*index.TermStats, error) {
	return call(ctx, s, func(ctx context.Context, sh index.Shard) (*index.TermStats, error) { return sh.TermStats(ctx, req) })
}

// SearchShard implements index.Shard.
func (s *Set) SearchShard(ctx context.Context, req *index.ShardRequest) (*index.ShardResult, error) {
	return call(ctx, s, func(ctx context.Context, sh index.Shard) (*index.ShardResult, error) { return sh.SearchShard(ctx, req) })
}

// Fetch implements index.Shard.
func (s *Set) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	return call(ctx, s, func(ctx context.Context, sh index.Shard) ([]json.RawMessage, error) { return sh.Fetch(ctx, ids) })
}

// pick returns the best member to call, other than those in skip.
func (s *Set) pick(skip []*member) *member {
	now := s.opts.Now()
	var best *member
	var bestRank [3]float64
	var soonest *member // of the ejected ones, the one back first
	for _, m := range *s.members.Load() {
		if slices.Contains(skip, m) {
			continue
		}
		m.mu.Lock()
		healthy, caughtUp, ejected, till, ewma := m.Healthy, m.CaughtUp, now.Before(m.ejectedTill), m.ejectedTill, m.ewma
		m.mu.Unlock()
		if !healthy {
			continue
		}
		if ejected {
			if soonest == nil || till.Before(soonest.ejectedTill) {
				soonest = m
			}
			continue
		}
		// Lower is better: caught up first, then fewest outstanding, then
		// the faster, then chance.
		rank := [3]float64{0, float64(m.outstanding.Load()), ewma}
		if !caughtUp {
			rank[0] = 1
		}
		if best == nil || less(rank, bestRank) || (rank == bestRank && rand.IntN(2) == 0) {
			best, bestRank = m, rank
		}
	}
	if best == nil {
		return soonest
	}
	return best
}

func less(a, b [3]float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// callerFault reports whether err is the caller's doing, which no other
// replica would answer differently.
func callerFault(ctx context.Context, err error) bool {
	return errors.Is(err, index.ErrBadRequest) || ctx.Err() != nil
}

type answer[T any] struct {
	v   T
	err error
	m   *member
}

// call runs fn on one member, hedging and retrying as the package doc says.
func call[T any](ctx context.Context, s *Set, fn func(context.Context, index.Shard) (T, error)) (T, error) {
	var zero T
	first := s.pick(nil)
	if first == nil {
		return zero, fmt.Errorf("%s: %w", s.name, ErrNoReplica)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the loser of a hedge
	answers := make(chan answer[T], 2)
	tried := []*member{first}
	launch := func(m *member) {
		go func() {
			v, err := runOn(ctx, s, m, fn)
			answers <- answer[T]{v, err, m}
		}()
	}
	launch(first)
	running, retried, hedged := 1, false, false
	var hedgeC <-chan time.Time
	if d, ok := s.hedgeAfter(); ok {
		t := time.NewTimer(d)
		defer t.Stop()
		hedgeC = t.C
	}
	var lastErr error
	for {
		select {
		case <-hedgeC:
			hedgeC = nil
			if m := s.pick(tried); m != nil {
				tried = append(tried, m)
				hedged = true
				s.hedges.Add(1)
				launch(m)
				running++
			}
		case a := <-answers:
			running--
			if a.err == nil {
				if hedged && a.m != first {
					s.hedgesWon.Add(1)
				}
				return a.v, nil
			}
			lastErr = a.err
			if callerFault(ctx, a.err) {
				return zero, a.err
			}
			if running > 0 {
				continue // the other call may still answer
			}
			if !retried {
				if m := s.pick(tried); m != nil {
					retried = true
					s.retries.Add(1)
					tried = append(tried, m)
					launch(m)
					running++
					continue
				}
			}
			return zero, lastErr
		}
	}
}

// runOn calls fn on m and records the outcome.
func runOn[T any](ctx context.Context, s *Set, m *member, fn func(context.Context, index.Shard) (T, error)) (T, error) {
	m.outstanding.Add(1)
	m.calls.Add(1)
	start := time.Now()
	v, err := fn(ctx, m.Shard)
	took := time.Since(start)
	m.outstanding.Add(-1)
	switch {
	case err == nil:
		s.observe(took)
		m.succeeded(took)
	case callerFault(ctx, err):
		// Not the member's fault: neither a failure nor a latency.
	default:
		m.failures.Add(1)
		if m.failed(s.opts) {
			s.opts.Logger.Warn("replica ejected", "shard", s.name, "replica", m.ID, "err", err)
		}
	}
	return v, err
}

func (m *member) succeeded(took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inARow = 0
	if m.ejectedTill.IsZero() {
		m.ejections = 0
	}
	m.ejectedTill = time.Time{}
	const alpha = 0.2
	if m.ewma == 0 {
		m.ewma = took.Seconds()
	} else {
		m.ewma = alpha*took.Seconds() + (1-alpha)*m.ewma
	}
}

// failed counts a failure and reports whether it ejected the member.
func (m *member) failed(o Options) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inARow++
	if m.inARow < o.FailuresToEject {
		return false
	}
	m.inARow = 0
	m.ejectedTill = o.Now().Add(o.EjectFor << min(m.ejections, 4))
	m.ejections++
	return true
}

// observe records a successful call's latency.
func (s *Set) observe(d time.Duration) {
	s.latMu.Lock()
	s.lat[s.latN%len(s.lat)] = d
	s.latN++
	s.latMu.Unlock()
}

// hedgeAfter is how long a call waits before it is hedged: the recent
// percentile of the shard's latencies, at least HedgeMin.
func (s *Set) hedgeAfter() (time.Duration, bool) {
	if s.opts.HedgePercentile < 0 {
		return 0, false
	}
	s.latMu.Lock()
	n := min(s.latN, len(s.lat))
	if n < minSamples {
		s.latMu.Unlock()
		return 0, false
	}
	lat := slices.Clone(s.lat[:n])
	s.latMu.Unlock()
	slices.Sort(lat)
	p := lat[min(n-1, int(float64(n)*s.opts.HedgePercentile))]
	return max(p, s.opts.HedgeMin), true
}

// MemberStats is what a Set knows of one member.
type MemberStats struct {
	ID          string `json:"id"`
	Healthy     bool   `json:"healthy"`
	CaughtUp    bool   `json:"caught_up"`
	Ejected     bool   `json:"ejected"`
	Outstanding int64  `json:"outstanding"`
	Calls       int64  `json:"calls"`
	Failures    int64  `json:"failures"`
}

// Stats is a Set's counters.
type Stats struct {
	Shard     string        `json:"shard"`
	Members   []MemberStats `json:"members"`
	Hedges    int64         `json:"hedges"`     // second calls sent
	HedgesWon int64         `json:"hedges_won"` // ... that answered first
	Retries   int64         `json:"retries"`    // failed calls tried on another member
}

// Stats returns the Set's counters.
func (s *Set) Stats() Stats {
	st := Stats{Shard: s.name, Hedges: s.hedges.Load(), HedgesWon: s.hedgesWon.Load(), Retries: s.retries.Load()}
	now := s.opts.Now()
	for _, m := range *s.members.Load() {
		m.mu.Lock()
		ms := MemberStats{ID: m.ID, Healthy: m.Healthy, CaughtUp: m.CaughtUp, Ejected: now.Before(m.ejectedTill)}
		m.mu.Unlock()
		ms.Outstanding, ms.Calls, ms.Failures = m.outstanding.Load(), m.calls.Load(), m.failures.Load()
		st.Members = append(st.Members, ms)
	}
	slices.SortFunc(st.Members, func(a, b MemberStats) int { return strings.Compare(a.ID, b.ID) })
	return st
}
