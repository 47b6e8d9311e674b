// Package backoff is how picdex waits between attempts: a growing,
// jittered delay and a sleep that ends with its context. The indexer's
// consumers, routers and replicas and the crawler's fetches and sinks all
// retry with it.
package backoff

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Sleep waits for d or until ctx ends, whichever is first; it returns
// ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is a delay that doubles from its first value up to its
// largest, each one with up to a quarter more of jitter. It is safe for
// concurrent use.
type Backoff struct {
	mu       sync.Mutex
	d, limit time.Duration
}

// New returns a Backoff from first up to limit.
func New(first, limit time.Duration) *Backoff {
	return &Backoff{d: max(first, time.Millisecond), limit: max(limit, first)}
}

// Default grows from 100 ms to 10 s.
func Default() *Backoff { return New(100*time.Millisecond, 10*time.Second) }

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.d + time.Duration(rand.Int64N(int64(b.d)/4+1))
	b.d = min(2*b.d, b.limit)
	return d
}
