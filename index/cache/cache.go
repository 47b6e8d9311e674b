// Package cache puts a result cache and collapsed forwarding in front of
// an index.Searcher, as a query server does in front of its fan-out.
//
// Results are kept in an LRU bounded by entries and bytes, keyed by the
// request as canonical JSON (a struct, so field order and spelling in the
// caller's body do not matter) and by Options.Version, which names the
// contents being searched: the query tier gives its live generation and
// every shard's applied offset, so a write that has been applied makes
// older entries unreachable, and a generation switch can never be
// answered from the old generation. Only complete results are kept: an
// error, or a result some shards failed to give, is not.
//
// Identical searches that arrive while one is running share it: the
// first starts the search, the others wait for its result (collapsed
// forwarding). The shared search runs detached from the caller that
// started it, bounded by that caller's deadline, so a caller who goes
// away stops waiting without failing the others.
package cache

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// Options configure a Searcher. A zero field takes its default.
type Options struct {
	// MaxEntries bounds the results kept (default 10,000).
	MaxEntries int
	// MaxBytes bounds the estimated size of the results kept (default
	// 64 MiB).
	MaxBytes int64
	// Version names the contents the inner Searcher serves; results are
	// kept per version. "" means unknown: searches then bypass the cache
	// (they are still collapsed). Nil: one version forever.
	Version func() string
	// MaxResultBytes is the largest result kept (default MaxBytes/64).
	MaxResultBytes int64
}

// Validate fills in defaults and reports options that cannot work.
func (o *Options) Validate() error {
	if o.MaxEntries < 0 || o.MaxBytes < 0 || o.MaxResultBytes < 0 {
		return errors.New("cache: negative bound")
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 10_000
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxResultBytes == 0 {
		o.MaxResultBytes = max(o.MaxBytes/64, 1)
	}
	if o.Version == nil {
		o.Version = func() string { return "-" }
	}
	return nil
}

// Searcher is a caching, collapsing index.Searcher. It is safe for
// concurrent use.
type Searcher struct {
	inner index.Searcher
	opts  Options

	mu      sync.Mutex
	lru     *list.List // of *entry, most recent first
	entries map[string]*list.Element
	bytes   int64
	flights map[string]*flight

	hits, misses, collapsed, evictions atomic.Int64
}

type entry struct {
	key  string
	res  *index.Result
	size int64
}

// flight is a search that identical requests wait for.
type flight struct {
	done chan struct{}
	res  *index.Result
	err  error
}

// New returns a Searcher in front of inner. It panics on options that
// fail Validate.
func New(inner index.Searcher, opts Options) *Searcher {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Searcher{inner: inner, opts: opts, lru: list.New(), entries: map[string]*list.Element{}, flights: map[string]*flight{}}
}

// Search implements index.Searcher.
func (c *Searcher) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	start := time.Now()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", index.ErrBadRequest, err)
	}
	version := c.opts.Version()
	key := version + "\x00" + string(body)

	c.mu.Lock()
	if version != "" {
		if el, ok := c.entries[key]; ok {
			c.lru.MoveToFront(el)
			res := el.Value.(*entry).res
			c.mu.Unlock()
			c.hits.Add(1)
			out := clone(res)
			out.TookMS = time.Since(start).Milliseconds()
			return out, nil
		}
	}
	f, shared := c.flights[key]
	if !shared {
		f = &flight{done: make(chan struct{})}
		c.flights[key] = f
		c.misses.Add(1)
		go c.fly(ctx, key, version != "", req, f)
	} else {
		c.collapsed.Add(1)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	out := clone(f.res)
	if shared {
		out.TookMS = time.Since(start).Milliseconds()
	}
	return out, nil
}

// fly runs the shared search, detached from the caller that started it
// but bounded by its deadline, and keeps a complete result.
func (c *Searcher) fly(ctx context.Context, key string, keep bool, req *index.Request, f *flight) {
	sctx := context.WithoutCancel(ctx) // keeps the caller's values (client id)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(sctx, d)
		defer cancel()
	}
	res, err := c.inner.Search(sctx, req)
	if err == nil && res == nil {
		err = errors.New("cache: the searcher returned no result")
	}
	f.res, f.err = res, err

	c.mu.Lock()
	delete(c.flights, key)
	if keep && err == nil && res.Shards.Failed == 0 {
		c.store(key, res)
	}
	c.mu.Unlock()
	close(f.done)
}

// store keeps res under key, evicting the least recently used past the
// bounds. The caller holds c.mu.
func (c *Searcher) store(key string, res *index.Result) {
	size := sizeOf(key, res)
	if size > c.opts.MaxResultBytes {
		return
	}
	if el, ok := c.entries[key]; ok {
		c.bytes -= el.Value.(*entry).size
		c.lru.Remove(el)
		delete(c.entries, key)
	}
	c.entries[key] = c.lru.PushFront(&entry{key: key, res: res, size: size})
	c.bytes += size
	for c.lru.Len() > c.opts.MaxEntries || c.bytes > c.opts.MaxBytes {
		el := c.lru.Back()
		e := el.Value.(*entry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= e.size
		c.evictions.Add(1)
	}
}

// sizeOf estimates the memory a kept result holds.
func sizeOf(key string, res *index.Result) int64 {
	n := int64(len(key)) + 256
	for _, h := range res.Hits {
		n += int64(len(h.ID)+len(h.Image)) + 96
		for _, frags := range h.Highlights {
			for _, f := range frags {
				n += int64(len(f)) + 16
			}
		}
	}
	for _, vs := range res.Facets {
		for _, v := range vs {
			n += int64(len(v.Value)) + 32
		}
	}
	return n + int64(len(res.NextCursor))
}

// clone copies what a caller may change of a result: the result and its
// hits (their records, highlights and facets are shared and never
// written).
func clone(res *index.Result) *index.Result {
	out := *res
	out.Hits = append([]index.Hit(nil), res.Hits...)
	return &out
}

// Stats are a Searcher's counters.
type Stats struct {
	Hits      int64 `json:"hits"`      // answered from the cache
	Misses    int64 `json:"misses"`    // searches run
	Collapsed int64 `json:"collapsed"` // waited for an identical search
	Evictions int64 `json:"evictions"`
	Entries   int   `json:"entries"`
	Bytes     int64 `json:"bytes"`
}

// Stats returns the counters.
func (c *Searcher) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Collapsed: c.collapsed.Load(),
		Evictions: c.evictions.Load(), Entries: c.lru.Len(), Bytes: c.bytes}
}

// String implements index.Searcher.
func (c *Searcher) String() string { return "cache(" + c.inner.String() + ")" }

// Close implements index.Searcher; it closes the inner Searcher.
func (c *Searcher) Close() error { return c.inner.Close() }
