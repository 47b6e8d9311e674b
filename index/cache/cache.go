package cache

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/picdex/picdex/index"
)

// Defaults for Options.
const (
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 64 << 20
)

// Options configure New. Zero fields take their defaults.
type Options struct {
	// MaxEntries bounds the number of results kept (default 10,000).
	MaxEntries int
	// MaxBytes bounds their estimated size in memory (default 64 MiB).
	MaxBytes int64
	// MaxEntryBytes is the largest result kept (default MaxBytes/16), so
	// that one deep page cannot push out hundreds of small ones.
	MaxEntryBytes int64
	// Version names the state of the index results come from; a result
	// is served only while Version returns what it did when the result
	// was searched for. Required.
	Version func() string
}

// Validate reports options New cannot use.
func (o Options) Validate() error {
	switch {
	case o.Version == nil:
		return errors.New("cache: Version is required: without it a write or a generation switch would serve stale results")
	case o.MaxEntries < 0:
		return fmt.Errorf("cache: MaxEntries %d: want at least 1 (0 for the default)", o.MaxEntries)
	case o.MaxBytes < 0:
		return fmt.Errorf("cache: MaxBytes %d: want at least 1 (0 for the default)", o.MaxBytes)
	case o.MaxEntryBytes < 0:
		return fmt.Errorf("cache: MaxEntryBytes %d: want at least 1 (0 for the default)", o.MaxEntryBytes)
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntryBytes == 0 {
		o.MaxEntryBytes = max(o.MaxBytes/16, 1)
	}
}

// Searcher is an index.Searcher that caches and collapses the searches
// of another. It is safe for concurrent use.
type Searcher struct {
	inner index.Searcher
	opts  Options

	mu      sync.Mutex
	lru     *list.List // of *entry, most recently used first
	byKey   map[string]*list.Element
	flights map[string]*flight
	bytes   int64
	stats   Stats
}

type entry struct {
	key  string
	res  *index.Result
	size int64
}

// flight is one inner search that callers of the same key share.
type flight struct {
	done    chan struct{} // closed once res and err are set
	res     *index.Result
	err     error
	expired bool // err came from the flight's own context ending
	// deadline is the flight's, the first caller's; zero for none.
	deadline time.Time
	waiters  int // guarded by Searcher.mu
	cancel   context.CancelFunc
}

// Stats are a Searcher's counters.
type Stats struct {
	Hits      uint64 // answered from the cache
	Misses    uint64 // inner searches started
	Collapsed uint64 // callers that joined a search already running
	Evictions uint64 // entries pushed out by the bounds
	Uncached  uint64 // results not kept: errors, partial, too large
	Entries   int
	Bytes     int64
}

// New returns a Searcher over inner. It panics if opts.Validate fails.
func New(inner index.Searcher, opts Options) *Searcher {
	if err := opts.Validate(); err != nil {
		panic("cache.New: " + err.Error())
	}
	opts.setDefaults()
	return &Searcher{inner: inner, opts: opts, lru: list.New(), byKey: map[string]*list.Element{}, flights: map[string]*flight{}}
}

func (c *Searcher) String() string { return "cache(" + c.inner.String() + ")" }

// Close drops every entry; it does not close the inner Searcher.
func (c *Searcher) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.byKey)
	c.bytes = 0
	return nil
}

// Stats returns the counters.
func (c *Searcher) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Entries, st.Bytes = c.lru.Len(), c.bytes
	return st
}

// Search implements index.Searcher.
func (c *Searcher) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	start := time.Now()
	if req == nil {
		return c.inner.Search(ctx, req)
	}
	norm, err := canonical(req)
	if err != nil {
		return c.inner.Search(ctx, req) // nothing the cache can key
	}
	key := c.opts.Version() + "\x00" + string(norm)
	for again := false; ; again = true {
		res, f, err := c.lookup(ctx, key, norm)
		if err != nil {
			return nil, err
		}
		if res == nil {
			select {
			case <-f.done:
			case <-ctx.Done():
				c.leave(key, f)
				return nil, ctx.Err()
			}
			if f.err != nil {
				if f.expired && !again && outlives(ctx, f.deadline) {
					continue // the flight's deadline, not ours: try under ours
				}
				return nil, f.err
			}
			res = f.res
		}
		out := clone(res)
		out.TookMS = time.Since(start).Milliseconds()
		return out, nil
	}
}

// outlives reports whether ctx is still alive and has time past a
// flight's deadline (zero: none, so a flight that ended was cancelled).
func outlives(ctx context.Context, deadline time.Time) bool {
	if ctx.Err() != nil || deadline.IsZero() {
		return false
	}
	d, ok := ctx.Deadline()
	return !ok || d.After(deadline)
}

// lookup returns the cached result of key, or the flight to wait for,
// which it starts if there is none.
func (c *Searcher) lookup(ctx context.Context, key string, norm []byte) (*index.Result, *flight, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(el)
		c.stats.Hits++
		return el.Value.(*entry).res, nil, nil
	}
	if f, ok := c.flights[key]; ok {
		f.waiters++
		c.stats.Collapsed++
		return nil, f, nil
	}
	// The flight searches its own copy of the request, decoded from the
	// key: the callers may reuse theirs once they stop waiting.
	req := new(index.Request)
	if err := json.Unmarshal(norm, req); err != nil {
		return nil, nil, fmt.Errorf("cache: decoding its own key: %w", err)
	}
	fctx := context.WithoutCancel(ctx)
	var cancel context.CancelFunc
	if d, ok := ctx.Deadline(); ok {
		fctx, cancel = context.WithDeadline(fctx, d)
	} else {
		fctx, cancel = context.WithCancel(fctx)
	}
	f := &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
	f.deadline, _ = ctx.Deadline()
	c.flights[key] = f
	c.stats.Misses++
	go c.fly(fctx, key, req, f)
	return nil, f, nil
}

// fly runs a flight's inner search and keeps its result if it may.
func (c *Searcher) fly(ctx context.Context, key string, req *index.Request, f *flight) {
	defer f.cancel()
	res, err := c.search(ctx, req)
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	f.res, f.err = res, err
	f.expired = err != nil && ctx.Err() != nil
	if err == nil && res.Shards.Failed == 0 {
		c.add(key, res)
	} else {
		c.stats.Uncached++
	}
	c.mu.Unlock()
	close(f.done)
}

// search runs the inner search, turning a panic into an error: the
// flight runs in a goroutine of its own, which nothing else recovers.
func (c *Searcher) search(ctx context.Context, req *index.Request) (res *index.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("%s: internal error (panic: %v)", c.inner, p)
		}
	}()
	res, err = c.inner.Search(ctx, req)
	if err == nil && res == nil {
		err = fmt.Errorf("%s: no result and no error", c.inner)
	}
	return res, err
}

// leave is a caller that stops waiting for f; the last one cancels it.
func (c *Searcher) leave(key string, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if c.flights[key] == f {
		delete(c.flights, key) // a later caller starts afresh
	}
	f.cancel()
}

// add keeps res under key, evicting as the bounds require; c.mu is held.
func (c *Searcher) add(key string, res *index.Result) {
	size := estimate(key, res)
	if size > c.opts.MaxEntryBytes {
		c.stats.Uncached++
		return
	}
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.lru.PushFront(&entry{key: key, res: res, size: size})
	c.bytes += size
	for c.lru.Len() > c.opts.MaxEntries || c.bytes > c.opts.MaxBytes {
		c.remove(c.lru.Back())
		c.stats.Evictions++
	}
}

func (c *Searcher) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.byKey, e.key)
	c.bytes -= e.size
}

// canonical is the key of a request: its JSON, with the spellings that
// cannot change a result made one.
func canonical(req *index.Request) ([]byte, error) {
	r := *req
	if r.Size == nil {
		r.Size = new(index.DefaultSize)
	}
	if len(r.Tags) > 1 {
		r.Tags = slices.Sorted(slices.Values(r.Tags))
	}
	if len(r.Format) > 1 {
		r.Format = slices.Sorted(slices.Values(r.Format))
	}
	return json.Marshal(&r)
}

// Overheads of the size estimate, roughly what Go spends on the headers
// of a result, a hit, a map entry and a string or slice.
const (
	resultOverhead = 256
	hitOverhead    = 128
	mapOverhead    = 48
	sliceOverhead  = 24
)

// estimate is the memory an entry holds, near enough to bound the cache
// by: the strings and records, plus the headers around them.
func estimate(key string, r *index.Result) int64 {
	n := resultOverhead + 2*len(key) + len(r.NextCursor)
	for _, h := range r.Hits {
		n += hitOverhead + len(h.ID) + len(h.Image)
		for f, frags := range h.Highlights {
			n += mapOverhead + len(f)
			for _, s := range frags {
				n += sliceOverhead + len(s)
			}
		}
	}
	for name, vs := range r.Facets {
		n += mapOverhead + len(name)
		for _, v := range vs {
			n += sliceOverhead + 8 + len(v.Value)
		}
	}
	for _, f := range r.Shards.Failures {
		n += 2*sliceOverhead + len(f.Shard) + len(f.Reason)
	}
	return int64(n)
}

// clone is a deep copy of r, for one caller to own.
func clone(r *index.Result) *index.Result {
	out := *r
	out.Hits = make([]index.Hit, len(r.Hits))
	for i, h := range r.Hits {
		if h.Distance != nil {
			h.Distance = new(*h.Distance)
		}
		h.Image = slices.Clone(h.Image)
		if h.Highlights != nil {
			hl := make(map[string][]string, len(h.Highlights))
			for f, frags := range h.Highlights {
				hl[f] = slices.Clone(frags)
			}
			h.Highlights = hl
		}
		out.Hits[i] = h
	}
	if r.Facets != nil {
		out.Facets = maps.Clone(r.Facets)
		for name, vs := range out.Facets {
			out.Facets[name] = slices.Clone(vs)
		}
	}
	out.Shards.Failures = slices.Clone(r.Shards.Failures)
	return &out
}
