package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// Defaults for Options.
const (
	DefaultFailuresToEject      = 3
	DefaultEjectFor             = 5 * time.Second
	DefaultHedgeAfterPercentile = 0.95
	DefaultHedgeMin             = 2 * time.Millisecond
	DefaultWindow               = 256
)

const (
	// minHedgeSamples is how many latencies a window needs before its
	// percentile is trusted enough to hedge by.
	minHedgeSamples = 20
	// maxEjectFactor caps how much longer than EjectFor a member that
	// keeps failing is set aside.
	maxEjectFactor = 12
	// ewmaWeight is the weight of a new latency in a member's average.
	ewmaWeight = 0.2
	// ewmaHalfLife is how fast the average of an idle member decays, so
	// that a member once slow is chosen again and measured anew.
	ewmaHalfLife = time.Second
	// refreshEvery is how many new samples make a window's percentile be
	// computed again (sorting the window on every call would cost more
	// than the call's bookkeeping).
	refreshEvery = 8
	// maxAttempts bounds the attempts of one call: the first, a hedge
	// and a retry.
	maxAttempts = 3
)

// ErrNoReplica means a shard has no member that could take a call: none
// is healthy (or none was ever given).
var ErrNoReplica = errors.New("no healthy replica")

// Options configure a Set. Zero fields take their defaults.
type Options struct {
	// FailuresToEject is how many consecutive failures eject a member
	// (default 3).
	FailuresToEject int
	// EjectFor is how long the first ejection lasts (default 5s); the
	// n-th ejection in a row lasts n times as long, at most 12 times.
	EjectFor time.Duration
	// HedgeAfterPercentile is the percentile of recent latencies after
	// which a call is hedged (default 0.95).
	HedgeAfterPercentile float64
	// HedgeMin is the least time before a hedge (default 2ms): calls
	// faster than that are never worth a second one.
	HedgeMin time.Duration
	// DisableHedging turns hedging off (retries and ejection stay).
	DisableHedging bool
	// Window is how many recent latencies of each kind of call are kept
	// (default 256, at least 20).
	Window int
	// Logger receives ejections, returns and recovered panics. Nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock of ejections and of the latency average's decay
	// (default time.Now); tests set it.
	Now func() time.Time
}

// Validate reports options NewSet cannot use.
func (o Options) Validate() error {
	switch {
	case o.FailuresToEject < 0:
		return fmt.Errorf("replica: FailuresToEject %d: want at least 1 (0 for the default)", o.FailuresToEject)
	case o.EjectFor < 0:
		return fmt.Errorf("replica: EjectFor %s: want a positive duration (0 for the default)", o.EjectFor)
	case math.IsNaN(o.HedgeAfterPercentile) || o.HedgeAfterPercentile < 0 || o.HedgeAfterPercentile > 1:
		return fmt.Errorf("replica: HedgeAfterPercentile %g: want a fraction in (0, 1] (0 for the default)", o.HedgeAfterPercentile)
	case o.HedgeMin < 0:
		return fmt.Errorf("replica: HedgeMin %s: want a duration of at least 0 (0 for the default)", o.HedgeMin)
	case o.Window != 0 && o.Window < minHedgeSamples:
		return fmt.Errorf("replica: Window %d: want at least %d samples (0 for the default)", o.Window, minHedgeSamples)
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.FailuresToEject == 0 {
		o.FailuresToEject = DefaultFailuresToEject
	}
	if o.EjectFor == 0 {
		o.EjectFor = DefaultEjectFor
	}
	if o.HedgeAfterPercentile == 0 {
		o.HedgeAfterPercentile = DefaultHedgeAfterPercentile
	}
	if o.HedgeMin == 0 {
		o.HedgeMin = DefaultHedgeMin
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Member is one replica of the shard, as the caller last learnt of it.
type Member struct {
	// ID names the replica, e.g. the shard server's "host:port"; the
	// state of a member (outstanding calls, failures, ejection, latency)
	// follows its ID across Updates.
	ID    string
	Shard index.Shard
	// CaughtUp says the replica has applied its shard log up to the
	// live position (from the shard server's info).
	CaughtUp bool
	// Healthy is the verdict of the caller's active health checks.
	Healthy bool
}

// Set is an index.Shard over the replicas of one shard. It is safe for
// concurrent use.
type Set struct {
	name string
	opts Options

	mu      sync.Mutex
	members []*member
	byID    map[string]*member
	windows [numKinds]window
	hedges  uint64
	won     uint64
	retries uint64

	// content is the version of what the members hold, as the caller
	// last said (SetContentVersion); 0 is unknown. It holds while no
	// member reports having applied more than contentAt (-1: no bound).
	content   atomic.Uint64
	contentAt atomic.Int64
	reporters atomic.Pointer[[]OffsetReporter] // the members that report their offset
}

// OffsetReporter is a member's Shard that tells the applied offset its
// last answer came from (remote.Client does).
type OffsetReporter interface {
	LastOffset() int64
}

// SetContentVersion tells the Set the version of what its members hold:
// a number that changes whenever any member's contents change, and that
// only members holding the same contents share; 0 when they differ or it
// is not known. With a version, the fan-out keeps the shard's term
// statistics and may skip phase 1 (index.VersionedShard).
func (s *Set) SetContentVersion(v uint64) { s.SetContentVersionAt(v, -1) }

// SetContentVersionAt is SetContentVersion for the contents of members
// that have applied their log up to applied: as soon as a member that
// reports its offset (OffsetReporter) answers from further on, its
// contents changed, and the version is unknown until set again. So a
// write applied between two polls of the members makes the fan-out ask
// for statistics afresh at once, rather than score with the old ones.
func (s *Set) SetContentVersionAt(v uint64, applied int64) {
	s.content.Store(0)
	s.contentAt.Store(applied)
	s.content.Store(v)
}

// ContentVersion implements index.VersionedShard.
func (s *Set) ContentVersion() (uint64, bool) {
	v := s.content.Load()
	if v == 0 {
		return 0, false
	}
	if at := s.contentAt.Load(); at >= 0 {
		if rs := s.reporters.Load(); rs != nil {
			for _, r := range *rs {
				if r.LastOffset() > at {
					return 0, false
				}
			}
		}
	}
	return v, true
}

// member is a Member and what the Set has seen of it; guarded by Set.mu.
type member struct {
	Member
	outstanding int
	failures    int // consecutive
	ejections   int // in a row, for the growing ejection time
	until       time.Time
	ewma        float64 // seconds
	ewmaAt      time.Time
	calls       uint64
	failed      uint64
	hedges      uint64
	won         uint64
	retries     uint64
}

// NewSet returns an empty Set for the shard called name; Update gives it
// members. It panics if opts.Validate fails.
func NewSet(name string, opts Options) *Set {
	if err := opts.Validate(); err != nil {
		panic("replica.NewSet: " + err.Error())
	}
	opts.setDefaults()
	s := &Set{name: name, opts: opts, byID: map[string]*member{}}
	for i := range s.windows {
		s.windows[i].samples = make([]time.Duration, 0, opts.Window)
	}
	return s
}

// String names the shard, as the fan-out reports it in failures.
func (s *Set) String() string { return s.name }

// Close does nothing: the members' shards belong to the caller.
func (s *Set) Close() error { return nil }

// Update replaces the members at once. Members whose ID stays keep their
// state; calls already running on a member that leaves finish there. It
// refuses a list with an empty ID, a nil Shard or an ID given twice, and
// then changes nothing.
func (s *Set) Update(members []Member) error {
	seen := make(map[string]bool, len(members))
	for i, m := range members {
		switch {
		case m.ID == "":
			return fmt.Errorf("replica %s: member %d has no ID", s.name, i)
		case m.Shard == nil:
			return fmt.Errorf("replica %s: member %q has no shard", s.name, m.ID)
		case seen[m.ID]:
			return fmt.Errorf("replica %s: member %q is given twice", s.name, m.ID)
		}
		seen[m.ID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make([]*member, len(members))
	byID := make(map[string]*member, len(members))
	for i, m := range members {
		st := s.byID[m.ID]
		if st == nil {
			st = &member{}
		}
		st.Member = m
		next[i], byID[m.ID] = st, st
	}
	s.members, s.byID = next, byID
	var rs []OffsetReporter
	for _, m := range members {
		if r, ok := m.Shard.(OffsetReporter); ok {
			rs = append(rs, r)
		}
	}
	s.reporters.Store(&rs)
	return nil
}

// MemberStats is what a Set has seen of one member, for metrics.
type MemberStats struct {
	ID          string
	Healthy     bool
	CaughtUp    bool
	Ejected     bool
	Outstanding int
	// Latency is the member's recent latency average.
	Latency  time.Duration
	Calls    uint64 // attempts sent to it, hedges and retries included
	Failures uint64
	Hedges   uint64 // hedges sent to it
	HedgeWon uint64 // hedges sent to it that answered first
	Retries  uint64 // retries sent to it
}

// Stats is a snapshot of a Set's counters.
type Stats struct {
	Shard     string
	Members   []MemberStats
	Hedges    uint64
	HedgesWon uint64
	Retries   uint64
}

// Stats returns the Set's counters and its members' state.
func (s *Set) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	st := Stats{Shard: s.name, Hedges: s.hedges, HedgesWon: s.won, Retries: s.retries, Members: make([]MemberStats, len(s.members))}
	for i, m := range s.members {
		st.Members[i] = MemberStats{ID: m.ID, Healthy: m.Healthy, CaughtUp: m.CaughtUp, Ejected: now.Before(m.until),
			Outstanding: m.outstanding, Latency: time.Duration(m.latency(now) * float64(time.Second)),
			Calls: m.calls, Failures: m.failed, Hedges: m.hedges, HedgeWon: m.won, Retries: m.retries}
	}
	return st
}

// TermStats implements index.Shard.
func (s *Set) TermStats(ctx context.Context, req *index.ShardRequest) (*index.TermStats, error) {
	return call(ctx, s, kindStats, func(ctx context.Context, sh index.Shard) (*index.TermStats, error) {
		return sh.TermStats(ctx, req)
	})
}

// SearchShard implements index.Shard.
func (s *Set) SearchShard(ctx context.Context, req *index.ShardRequest) (*index.ShardResult, error) {
	return call(ctx, s, kindSearch, func(ctx context.Context, sh index.Shard) (*index.ShardResult, error) {
		return sh.SearchShard(ctx, req)
	})
}

// Fetch implements index.Shard.
func (s *Set) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	return call(ctx, s, kindFetch, func(ctx context.Context, sh index.Shard) ([]json.RawMessage, error) {
		return sh.Fetch(ctx, ids)
	})
}

// kind is a kind of call, timed apart from the others.
type kind int

const (
	kindStats kind = iota
	kindSearch
	kindFetch
	numKinds
)

// role is why an attempt was sent.
type role int

const (
	first role = iota
	hedge
	retry
)

// picked is a member chosen for an attempt, with what the attempt needs
// of it read under the lock (Update may rewrite the member meanwhile).
type picked struct {
	m  *member
	id string
	sh index.Shard
}

type outcome[T any] struct {
	m    *member
	role role
	v    T
	err  error
}

// call runs fn on one member, with a hedge and a retry as the package
// doc says.
func call[T any](ctx context.Context, s *Set, k kind, fn func(context.Context, index.Shard) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	// Every attempt gets its own cancel so that the loser of a hedge can
	// be stopped; all of them end when call returns.
	actx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	results := make(chan outcome[T], maxAttempts)
	var tried []*member
	running := 0
	start := func(r role) bool {
		p, ok := s.pick(tried, r)
		if !ok {
			return false
		}
		tried = append(tried, p.m)
		running++
		go attempt(actx, s, k, p, r, fn, results)
		return true
	}
	if !start(first) {
		return zero, fmt.Errorf("%s: %w", s.name, ErrNoReplica)
	}
	var hedgeC <-chan time.Time
	if d, ok := s.hedgeAfter(k); ok {
		t := time.NewTimer(d)
		defer t.Stop()
		hedgeC = t.C
	}
	retried := false
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-hedgeC:
			hedgeC = nil
			if running == 1 && start(hedge) {
				s.count(func() { s.hedges++ })
			}
		case o := <-results:
			running--
			if o.err == nil {
				if o.role == hedge {
					s.count(func() { s.won++; o.m.won++ })
				}
				return o.v, nil
			}
			lastErr = o.err
			if errors.Is(o.err, index.ErrBadRequest) || ctx.Err() != nil {
				return zero, o.err
			}
			if running > 0 {
				continue // the other attempt may yet answer
			}
			if !retried && start(retry) {
				retried = true
				hedgeC = nil // a retry is not hedged: it is the second try already
				s.count(func() { s.retries++ })
				continue
			}
			return zero, lastErr
		}
	}
}

// attempt runs fn on m and reports on results (buffered for every
// attempt of a call, so a loser never blocks).
func attempt[T any](ctx context.Context, s *Set, k kind, p picked, r role, fn func(context.Context, index.Shard) (T, error), results chan<- outcome[T]) {
	o := outcome[T]{m: p.m, role: r}
	began := time.Now()
	defer func() {
		if pv := recover(); pv != nil {
			o.err = fmt.Errorf("replica %s: internal error (panic)", p.id)
			s.opts.Logger.Error("replica call panicked", "shard", s.name, "replica", p.id, "panic", fmt.Sprint(pv), "stack", string(debug.Stack()))
		}
		s.done(k, p.m, time.Since(began), o.err, ctx.Err() != nil)
		results <- o
	}()
	o.v, o.err = fn(ctx, p.sh)
	if o.err != nil && !errors.Is(o.err, index.ErrBadRequest) {
		o.err = fmt.Errorf("replica %s: %w", p.id, o.err)
	}
}

func (s *Set) count(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}

// pick chooses the member for an attempt, not one of tried, and counts
// the attempt as outstanding on it; false when there is none.
func (s *Set) pick(tried []*member, r role) (picked, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	var best *member
	bestLat, ties := 0.0, 0
	consider := func(m *member) {
		lat := m.latency(now)
		switch {
		case best == nil || m.outstanding < best.outstanding || m.outstanding == best.outstanding && lat < bestLat:
			best, bestLat, ties = m, lat, 1
		case m.outstanding == best.outstanding && lat == bestLat:
			ties++ // reservoir sampling keeps each tie equally likely
			if rand.IntN(ties) == 0 {
				best = m
			}
		}
	}
	for _, caughtUp := range []bool{true, false} {
		for _, m := range s.members {
			if m.Healthy && m.CaughtUp == caughtUp && !now.Before(m.until) && !slices.Contains(tried, m) {
				consider(m)
			}
		}
		if best != nil {
			break
		}
	}
	if best == nil {
		// Every healthy member is ejected: the one back soonest, rather
		// than failing a shard that may have recovered.
		for _, m := range s.members {
			if m.Healthy && !slices.Contains(tried, m) && (best == nil || m.until.Before(best.until)) {
				best = m
			}
		}
	}
	if best == nil {
		return picked{}, false
	}
	best.outstanding++
	best.calls++
	switch r {
	case hedge:
		best.hedges++
	case retry:
		best.retries++
	}
	return picked{m: best, id: best.ID, sh: best.Shard}, true
}

// done records the end of an attempt on m. cancelled says its context
// ended (the caller's, or the call's because another attempt won): then
// neither a failure nor a latency of the shard, though the member's
// average learns it was at least that slow.
func (s *Set) done(k kind, m *member, took time.Duration, err error, cancelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	m.outstanding--
	switch {
	case cancelled:
		if took.Seconds() > m.latency(now) {
			m.observe(now, took)
		}
	case err == nil:
		m.observe(now, took)
		s.windows[k].add(took)
		if m.failures >= s.opts.FailuresToEject {
			s.opts.Logger.Info("replica is back", "shard", s.name, "replica", m.ID)
		}
		m.failures, m.ejections, m.until = 0, 0, time.Time{}
	case errors.Is(err, index.ErrBadRequest), errors.Is(err, index.ErrOverloaded):
		// the request's fault, or a member busy rather than broken
		// (ejecting it would push its load onto the others): says
		// nothing of the member's health
	default:
		m.failed++
		m.failures++
		if m.failures >= s.opts.FailuresToEject && !now.Before(m.until) {
			m.ejections++
			d := s.opts.EjectFor * time.Duration(min(m.ejections, maxEjectFactor))
			m.until = now.Add(d)
			s.opts.Logger.Warn("replica ejected", "shard", s.name, "replica", m.ID, "for", d, "failures", m.failures, "err", err)
		}
	}
}

// hedgeAfter is how long a call of kind k waits before it is hedged, and
// whether it is hedged at all.
func (s *Set) hedgeAfter(k kind) (time.Duration, bool) {
	if s.opts.DisableHedging {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &s.windows[k]
	if len(w.samples) < minHedgeSamples {
		return 0, false
	}
	return max(w.percentile(s.opts.HedgeAfterPercentile), s.opts.HedgeMin), true
}

// latency is m's average, decayed by how long m has been idle.
func (m *member) latency(now time.Time) float64 {
	if m.ewmaAt.IsZero() {
		return 0
	}
	idle := now.Sub(m.ewmaAt)
	if idle <= 0 {
		return m.ewma
	}
	return m.ewma * math.Exp2(-idle.Seconds()/ewmaHalfLife.Seconds())
}

func (m *member) observe(now time.Time, took time.Duration) {
	if m.ewmaAt.IsZero() {
		m.ewma = took.Seconds()
	} else {
		m.ewma = (1-ewmaWeight)*m.latency(now) + ewmaWeight*took.Seconds()
	}
	m.ewmaAt = now
}

// window is a ring of recent latencies and a cached percentile of them.
type window struct {
	samples []time.Duration
	next    int     // where the next sample goes once the ring is full
	fresh   int     // samples added since p was computed
	q       float64 // the percentile p is of
	p       time.Duration
	sorted  []time.Duration
}

func (w *window) add(d time.Duration) {
	if len(w.samples) < cap(w.samples) {
		w.samples = append(w.samples, d)
	} else {
		w.samples[w.next] = d
		w.next = (w.next + 1) % len(w.samples)
	}
	w.fresh++
}

func (w *window) percentile(q float64) time.Duration {
	if w.sorted == nil || w.fresh >= refreshEvery || q != w.q {
		w.sorted = append(w.sorted[:0], w.samples...)
		slices.Sort(w.sorted)
		i := int(math.Ceil(q*float64(len(w.sorted)))) - 1
		w.p = w.sorted[min(max(i, 0), len(w.sorted)-1)]
		w.fresh, w.q = 0, q
	}
	return w.p
}
