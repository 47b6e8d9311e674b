package indexer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/picdex/picdex/indexer/cluster"
)

// Routers runs one Router for every generation the cluster routes to
// (cluster.Generation.Routed: the live one, the ready ones kept for
// rollback, and a build that follows the stream), each in the consumer
// group of its generation, and starts and stops them as the cluster's
// description changes. So a reindex needs no router started for it: the
// routers already running join the new generation's group, sharing the
// records topic between them as they share it for the live one, and a
// retired generation's router stops.
type Routers struct {
	// Stats counts for all the generations' routers together.
	Stats Stats
	opts  RouterOptions
	every time.Duration

	mu      sync.Mutex
	running map[int]*routed
	live    int
}

type routed struct {
	r      *Router
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRouters returns Routers; opts.Generation and opts.GroupID must be
// unset (each generation has its own).
func NewRouters(opts RouterOptions) (*Routers, error) {
	if opts.Generation != 0 || opts.GroupID != "" {
		return nil, errors.New("routers of every generation: no generation or group of their own")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rs := &Routers{opts: opts, every: time.Second, running: map[int]*routed{}}
	rs.opts.Stats = &rs.Stats
	return rs, nil
}

// Ready reports whether the live generation's router is ready.
func (rs *Routers) Ready() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.running[rs.live]
	return ok && r.r.Ready()
}

// Run reads the cluster's description every second and routes as it
// says until ctx ends; then it stops every router and returns.
func (rs *Routers) Run(ctx context.Context) error {
	store := cluster.NewKafka(rs.opts.Brokers)
	t := time.NewTicker(rs.every)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := store.Load(lctx)
		cancel()
		if err == nil {
			rs.apply(ctx, st)
		} else if ctx.Err() == nil {
			rs.opts.Logger.Warn("reading the cluster's generations; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			rs.apply(ctx, cluster.State{})
			return nil
		case <-t.C:
		}
	}
}

// apply starts a router for each generation routed to that has none,
// and stops those of the others. A router that ended (its error logged)
// is started again.
func (rs *Routers) apply(ctx context.Context, st cluster.State) {
	var stopping []*routed
	defer func() {
		// Waited for without the lock: a router may take a while to
		// stop, and Ready must not wait on it.
		for _, r := range stopping {
			<-r.done
		}
	}()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.live = st.Live
	for id, r := range rs.running {
		g, ok := st.Generations[id]
		select {
		case <-r.done:
			delete(rs.running, id)
			continue
		default:
		}
		if !ok || !g.Routed() || ctx.Err() != nil {
			rs.opts.Logger.Info("no longer routing to the generation", "generation", id, "state", g.State)
			r.cancel()
			stopping = append(stopping, r)
			delete(rs.running, id)
		}
	}
	if ctx.Err() != nil {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(st.Generations)) {
		g := st.Generations[id]
		if _, ok := rs.running[id]; ok || !g.Routed() {
			continue
		}
		opts := rs.opts
		opts.Generation = id
		r, err := NewRouter(opts)
		if err != nil {
			rs.opts.Logger.Error("routing to a generation", "generation", id, "err", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		run := &routed{r: r, cancel: cancel, done: make(chan struct{})}
		rs.running[id] = run
		go func() {
			defer close(run.done)
			if err := r.Run(rctx); err != nil && rctx.Err() == nil {
				rs.opts.Logger.Error("router stopped; starting it again", "generation", id, "err", err)
			}
		}()
	}
}
