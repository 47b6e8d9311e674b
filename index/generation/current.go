package generation

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// Current is the generation the searches of a process run on. Each search
// takes it once (Acquire) and runs wholly on it; Switch puts another in
// its place for the searches that start afterwards.
type Current struct {
	cur atomic.Pointer[held]
}

type held struct {
	ix   *index.Index
	gen  int
	refs atomic.Int64
}

// NewCurrent returns a Current with ix, generation gen, live.
func NewCurrent(ix *index.Index, gen int) *Current {
	l := &Current{}
	l.cur.Store(&held{ix: ix, gen: gen})
	return l
}

// Acquire returns the live index and its generation, and the release
// the caller must call when it no longer uses them.
func (l *Current) Acquire() (*index.Index, int, func()) {
	for {
		h := l.cur.Load()
		h.refs.Add(1)
		if l.cur.Load() == h {
			return h.ix, h.gen, func() { h.refs.Add(-1) }
		}
		h.refs.Add(-1) // switched meanwhile: take the new one
	}
}

// Generation is the live generation's id.
func (l *Current) Generation() int { return l.cur.Load().gen }

// Switch makes ix, generation gen, live, and returns once no search
// runs on the one it replaced (or ctx ends), which it returns.
func (l *Current) Switch(ctx context.Context, ix *index.Index, gen int) (*index.Index, error) {
	old := l.cur.Swap(&held{ix: ix, gen: gen})
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for old.refs.Load() > 0 {
		select {
		case <-ctx.Done():
			return old.ix, ctx.Err()
		case <-t.C:
		}
	}
	return old.ix, nil
}
