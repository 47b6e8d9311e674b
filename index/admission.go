package index

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Admission keeps expensive searches (patterns, very long queries, large
// or deep pages, heavy facets: see Cost.Expensive) from starving cheap
// ones. They run a few at a time, behind a short queue, one shard after
// another, and step aside (block) while cheap searches work on the same
// index, for at most as long as they have worked, so cheap searches keep
// the CPU; past the queue they are refused with ErrOverloaded rather than
// piling up. Cheap searches are never queued here.
type Admission struct {
	// Expensive is how many expensive searches run at once (default 1).
	Expensive int
	// Queue is how many more may wait for a turn (default 8; negative:
	// none, an expensive search finding no free turn is refused at once).
	Queue int
	// Wait is the longest one waits for its turn (default 5s, and never
	// past the search's own deadline); past it, ErrOverloaded.
	Wait time.Duration
	// PerClient is how many expensive searches one client (WithClient)
	// may have running or waiting at once (default 2), so that one client
	// cannot hold every turn and place in the queue.
	PerClient int
}

func (a *Admission) setDefaults() {
	if a.Expensive <= 0 {
		a.Expensive = 1
	}
	if a.Queue < 0 {
		a.Queue = 0
	} else if a.Queue == 0 {
		a.Queue = 8
	}
	if a.Wait <= 0 {
		a.Wait = 5 * time.Second
	}
	if a.PerClient <= 0 {
		a.PerClient = 2
	}
}

type clientKey struct{}

// WithClient says on whose behalf a search runs (an API key's id, or a
// client address), for the per-client share of admission.
func WithClient(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientKey{}, id)
}

// ErrOverloaded means the search was refused to protect the others: too
// many expensive searches are running or waiting. Retrying later may
// succeed (the API answers 429 with Retry-After).
var ErrOverloaded = errors.New("too many expensive searches at once; retry later or make the query cheaper")

// admission is an Admission in use. Turns go to the waiting searches
// fairly: to the one whose client has the fewest running, another client
// than the one whose turn ends first, oldest first;
// and when the queue is full, a newcomer takes the place of the newest
// waiter of a client that has more in flight than the newcomer would, so
// that a few clients cannot keep the queue full for everyone else.
type admission struct {
	opts Admission

	mu      sync.Mutex
	running map[string]int // running expensive searches per client
	total   int            // running, all clients
	waiters []*waiter      // in order of arrival
	flight  map[string]int // running and waiting per client
}

type waiter struct {
	client string
	turn   chan error // nil: a turn; ErrOverloaded: its place was given away
}

func newAdmission(o Admission) *admission {
	o.setDefaults()
	return &admission{opts: o, running: map[string]int{}, flight: map[string]int{}}
}

// queued is how many searches wait for a turn.
func (a *admission) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.waiters)
}

// admit waits for an expensive search's turn and returns its release.
// The client is the one WithClient named, "" for none (no per-client
// share then, but a fair turn like any other).
func (a *admission) admit(ctx context.Context) (func(), error) {
	client, _ := ctx.Value(clientKey{}).(string)
	a.mu.Lock()
	if client != "" && a.flight[client] >= a.opts.PerClient {
		a.mu.Unlock()
		return nil, ErrOverloaded
	}
	if a.total < a.opts.Expensive {
		a.start(client)
		a.mu.Unlock()
		return a.releaser(client), nil
	}
	if len(a.waiters) >= a.opts.Queue && !a.evictFor(client) {
		a.mu.Unlock()
		return nil, ErrOverloaded
	}
	w := &waiter{client: client, turn: make(chan error, 1)}
	a.waiters = append(a.waiters, w)
	a.flight[client]++
	a.mu.Unlock()

	t := time.NewTimer(a.opts.Wait)
	defer t.Stop()
	var err error
	select {
	case err = <-w.turn:
		if err != nil {
			return nil, err
		}
		return a.releaser(client), nil
	case <-t.C:
		err = ErrOverloaded
	case <-ctx.Done():
		err = ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			// Its deadline came while it queued: it did no work, and
			// another try may well find a free turn.
			err = ErrOverloaded
		}
	}
	a.mu.Lock()
	if i := slices.Index(a.waiters, w); i >= 0 {
		a.waiters = slices.Delete(a.waiters, i, i+1)
		a.leave(client)
		a.mu.Unlock()
		return nil, err
	}
	a.mu.Unlock()
	// Granted (or evicted) as the wait ended: take what it was given.
	if e := <-w.turn; e != nil {
		return nil, e
	}
	return a.releaser(client), nil
}

// start runs a search of client; the caller holds mu.
func (a *admission) start(client string) {
	a.total++
	a.running[client]++
	a.flight[client]++
}

// leave forgets one search of client in flight; the caller holds mu.
func (a *admission) leave(client string) {
	if a.flight[client]--; a.flight[client] <= 0 {
		delete(a.flight, client)
	}
}

// evictFor makes a place in the full queue for a newcomer of client:
// the newest waiter of the client with the most in flight gives its place
// up, if that client has more in flight than the newcomer would. The
// caller holds mu.
func (a *admission) evictFor(client string) bool {
	victim := -1
	for i := len(a.waiters) - 1; i >= 0; i-- {
		c := a.waiters[i].client
		if c == client || a.flight[c] <= a.flight[client]+1 {
			continue
		}
		if victim < 0 || a.flight[c] > a.flight[a.waiters[victim].client] {
			victim = i
		}
	}
	if victim < 0 {
		return false
	}
	w := a.waiters[victim]
	a.waiters = slices.Delete(a.waiters, victim, victim+1)
	a.leave(w.client)
	w.turn <- ErrOverloaded
	return true
}

// releaser ends a running search of client and gives its turn on.
func (a *admission) releaser(client string) func() {
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.total--
		if a.running[client]--; a.running[client] <= 0 {
			delete(a.running, client)
		}
		a.leave(client)
		if len(a.waiters) == 0 {
			return
		}
		// The oldest waiter of the client running the fewest, another
		// client than the one whose turn ends coming first among equals
		// (round-robin).
		rank := func(w *waiter) int {
			r := 2 * a.running[w.client]
			if w.client == client {
				r++
			}
			return r
		}
		next := 0
		for i, w := range a.waiters {
			if rank(w) < rank(a.waiters[next]) {
				next = i
			}
		}
		w := a.waiters[next]
		a.waiters = slices.Delete(a.waiters, next, next+1)
		a.total++
		a.running[w.client]++ // still in flight: flight unchanged
		w.turn <- nil
	}
}

// foreground is shared by the shards of one index: it counts their shard
// calls for searches that are not low priority, so that low-priority work
// on the same machine can step aside while any runs. Stepping aside means
// blocking, not yielding: a goroutine that only yields keeps its P, and
// the cheap search's goroutines, queued on the other P, would still run
// on one core instead of all.
type foreground struct {
	mu   sync.Mutex
	busy int
	idle chan struct{} // closed when busy drops to 0
}

// enter marks a foreground shard call running; call the func it returns
// when it ends.
func (f *foreground) enter() func() {
	if f == nil {
		return func() {}
	}
	f.mu.Lock()
	f.busy++
	if f.busy == 1 {
		f.idle = make(chan struct{})
	}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.busy--
		if f.busy == 0 {
			close(f.idle)
		}
		f.mu.Unlock()
	}
}

// idleCh is nil when no foreground call runs, else a channel closed when
// none does.
func (f *foreground) idleCh() <-chan struct{} {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy == 0 {
		return nil
	}
	return f.idle
}
