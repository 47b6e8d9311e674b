package index

import (
	"context"
	"errors"
	"runtime"
)

// Turns let a bounded number of cheap searches run at once; the rest
// wait, first come first served. Without it every search that arrives
// starts at once and they share the cores: with many in flight each one
// takes as long as all of them together, and a search that costs a few
// milliseconds of CPU can take a hundred. In turns, a search waits for
// those ahead of it and then runs near its own cost, so the latencies
// stay close to their mean (the mean is the same: the cores do the same
// work). Expensive searches have their own, smaller, admission instead.
type Turns chan struct{}

// NewTurns returns turns for n searches at once; none (nil, no limit)
// when n is negative.
func NewTurns(n int) Turns {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	return make(Turns, n)
}

// Take waits for a turn and returns its release, and whether it had to
// wait. A search whose deadline passes while it waits did no work: it
// gets ErrOverloaded, as one refused by admission does, for another try
// may find a free turn.
func (t Turns) Take(ctx context.Context) (release func(), waited bool, err error) {
	if t == nil {
		return func() {}, false, nil
	}
	select {
	case t <- struct{}{}:
		return t.release, false, nil
	default:
	}
	// A Go channel hands its free places to blocked senders in the order
	// they blocked, so the waiters are served first come first served, and
	// a newcomer finds no free place while anyone waits.
	select {
	case t <- struct{}{}:
		return t.release, true, nil
	case <-ctx.Done():
		if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
			return nil, true, ErrOverloaded
		}
		return nil, true, ctx.Err()
	}
}

func (t Turns) release() { <-t }
