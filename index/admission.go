package index

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// admission is an Admission in use.
type admission struct {
	opts    Admission
	slots   chan struct{}
	waiting atomic.Int64

	mu      sync.Mutex
	clients map[string]int // expensive searches in flight per client
}

func newAdmission(o Admission) *admission {
	o.setDefaults()
	return &admission{opts: o, slots: make(chan struct{}, o.Expensive), clients: map[string]int{}}
}

// admit waits for an expensive search's turn and returns its release.
func (a *admission) admit(ctx context.Context) (func(), error) {
	client, _ := ctx.Value(clientKey{}).(string)
	if client != "" {
		a.mu.Lock()
		if a.clients[client] >= a.opts.PerClient {
			a.mu.Unlock()
			return nil, ErrOverloaded
		}
		a.clients[client]++
		a.mu.Unlock()
	}
	done := func() {
		if client != "" {
			a.mu.Lock()
			if a.clients[client]--; a.clients[client] <= 0 {
				delete(a.clients, client)
			}
			a.mu.Unlock()
		}
	}
	release, err := a.turn(ctx)
	if err != nil {
		done()
		return nil, err
	}
	return func() { release(); done() }, nil
}

// turn waits for one of the expensive slots.
func (a *admission) turn(ctx context.Context) (func(), error) {
	release := func() { <-a.slots }
	select {
	case a.slots <- struct{}{}:
		return release, nil
	default:
	}
	if a.waiting.Add(1) > int64(a.opts.Queue) {
		a.waiting.Add(-1)
		return nil, ErrOverloaded
	}
	defer a.waiting.Add(-1)
	t := time.NewTimer(a.opts.Wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, ErrOverloaded
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Its deadline came while it queued: it did no work, and
			// another try may well find a free turn.
			return nil, ErrOverloaded
		}
		return nil, ctx.Err()
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
