package index

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	bq "github.com/blevesearch/bleve/v2/search/query"
)

// Searcher is the one interface at the centre of picdex: a shard set, a
// remote query tier or a caching wrapper all answer searches the same way.
type Searcher interface {
	Search(ctx context.Context, req *Request) (*Result, error)
	Close() error
	String() string
}

// FanoutOptions bound the work one search may do.
type FanoutOptions struct {
	// MaxConcurrency is how many shard calls may run at once across all
	// searches (default 64).
	MaxConcurrency int
	// ShardTimeout bounds each shard call (default 10s).
	ShardTimeout time.Duration
	// Logger receives the stack of a shard call that panicked (the caller
	// only sees that it did). Nil discards it.
	Logger *slog.Logger
	// Budget bounds the work of one search; a search over it fails with a
	// *BudgetError before any shard works.
	Budget Budget
	// Admission bounds how many expensive searches run at once.
	Admission Admission
	// InlineRecords is the largest from+size for which every shard sends
	// the records of its best hits with them (phase 2: a high percentile
	// of its share of from+size, see inlineShare), so the page needs no fetch
	// round: worth it when a round costs more than reading the records
	// of the hits that miss the page, as it does
	// over a network, not in one process (BenchmarkRemoteFanout in
	// index/remote). Larger pages, and every page when it is 0 or less
	// (the default), fetch only the page's records (phase 3).
	InlineRecords int
	// Searches is how many cheap searches run at once; more wait for
	// their turn, first come first served, until their deadline (see
	// Turns). 0 means twice the cores when every shard is in this
	// process, and four times the cores with a remote shard: such a
	// search spends most of its time waiting on the shard servers, so
	// more of them keep this process's cores busy, while a bound still
	// keeps the searches in one order on every shard server (without
	// it, each server's queue serves them in its own order, and each
	// search waits for the slowest of its queues). Negative: no limit.
	Searches int
}

func (o *FanoutOptions) setDefaults() {
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = 64
	}
	if o.ShardTimeout <= 0 {
		o.ShardTimeout = 10 * time.Second
	}
	o.Budget = o.Budget.withDefaults()
}

// Fanout searches a set of shards as one index. Scoring is two-phase:
// first the shards' term statistics are summed, then every shard scores
// with the sums, so scores do not depend on how documents are spread.
// The sums of shards that report a content version are kept per version
// (see VersionedShard): a search of known terms then skips the first
// phase, with the same statistics and so the same scores.
// Each shard returns its best from+size hits; they are merge-sorted and
// paged here. A failing shard is reported in the result's shard status
// rather than failing the whole search, unless every shard fails.
type Fanout struct {
	shards []Shard
	sem    chan struct{}
	admit  *admission
	turns  Turns
	opts   FanoutOptions
	// facetValues is, per term facet field, the most distinct values one
	// shard has returned for it: what a request for that facet may cost,
	// which the request alone cannot tell (see heavyFacets).
	facetValues sync.Map // field → int
	// cache holds, per shard, the term statistics of its current
	// version (VersionedShard), so that a search whose terms are all
	// known skips phase 1.
	cache    []shardStats
	base     atomic.Pointer[keptBase] // of cache, at the latest versions summed
	counters fanoutCounters
	analyzed analyzedTexts // for highlights
	// local is whether every shard is in this process (no call waits on
	// a network), and active how many searches are running: see busy.
	local  bool
	active atomic.Int64
}

// inProcess is implemented by shards whose calls run in this process on
// the caller's goroutine, using the CPU all the while.
type inProcess interface{ inProcess() }

// busy reports whether a search's in-process shard calls should run one
// after another on the calling goroutine rather than a goroutine each:
// every shard is local and at least as many searches run as there are
// cores, so the other cores have work and a goroutine per shard would
// add only its cost (the start, a stack grown to a shard call's depth,
// the hand-off of the answer) to the same CPU time. A lone search still
// spreads its shards over the cores, for its latency.
func (f *Fanout) busy() bool {
	return f.local && f.active.Load() >= int64(runtime.GOMAXPROCS(0))
}

// remoteTurnsPerCore is the default turns per core of a fan-out to remote
// shards (FanoutOptions.Searches).
const remoteTurnsPerCore = 4

// NewFanout returns a Searcher over shards; it does not own them.
func NewFanout(shards []Shard, opts FanoutOptions) *Fanout {
	opts.setDefaults()
	f := &Fanout{shards: shards, sem: make(chan struct{}, opts.MaxConcurrency), admit: newAdmission(opts.Admission), opts: opts,
		cache: make([]shardStats, len(shards)), local: true}
	for _, sh := range shards {
		if _, ok := sh.(inProcess); !ok {
			f.local = false
		}
	}
	n := opts.Searches
	if n == 0 && !f.local {
		n = remoteTurnsPerCore * runtime.GOMAXPROCS(0)
	}
	f.turns = NewTurns(n)
	return f
}

func (f *Fanout) String() string { return fmt.Sprintf("fanout(%d shards)", len(f.shards)) }

// Close does nothing: the shards belong to the caller.
func (f *Fanout) Close() error { return nil }

// ErrAllShardsFailed is returned when no shard could answer.
var ErrAllShardsFailed = errors.New("all shards failed")

// ErrPartial is returned, wrapping ErrAllShardsFailed's kind of fault,
// when some shards failed and the request does not allow a partial
// answer (Request.AllowPartial false).
var ErrPartial = errors.New("some shards failed and allow_partial is false")

// callShards runs fn on every shard, bounded by the semaphore and the
// shard timeout, turning panics into errors; sequential runs the calls one
// after another (for low-priority searches). It returns when every call
// has, or when ctx ends: a call still running then gets ctx's error in its
// slot and goes on alone until it notices (shard work checks its context),
// holding its semaphore slot until then. When the fan-out is busy the
// calls run one after another on this goroutine; a call running as ctx
// ends is then waited for, until it notices.
func callShards[T any](ctx context.Context, f *Fanout, sequential bool, fn func(context.Context, int, Shard) (T, error)) ([]T, []error) {
	type answer struct {
		i   int
		v   T
		err error
	}
	out := make([]T, len(f.shards))
	errs := make([]error, len(f.shards))
	call := func(ctx context.Context, i int, sh Shard) (a answer) {
		a.i = i
		defer func() {
			if r := recover(); r != nil {
				a.err = fmt.Errorf("%s: internal error (panic)", sh)
				if f.opts.Logger != nil {
					f.opts.Logger.Error("shard call panicked", "shard", sh.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				}
			}
		}()
		if a.err = ctx.Err(); a.err != nil {
			return a // a sequential run that ended meanwhile
		}
		select {
		case f.sem <- struct{}{}:
			defer func() { <-f.sem }()
		case <-ctx.Done():
			a.err = ctx.Err()
			return a
		}
		cctx, cancel := f.shardContext(ctx)
		defer cancel()
		a.v, a.err = fn(cctx, i, sh)
		return a
	}
	if f.busy() {
		// The calls share one deadline, ShardTimeout from the start of
		// the phase, as side by side they would: one timer, not one each.
		pctx, cancel := f.shardContext(ctx)
		defer cancel()
		for i, sh := range f.shards {
			a := call(pctx, i, sh)
			out[i], errs[i] = a.v, a.err
		}
		return out, errs
	}
	done := make([]bool, len(f.shards))
	answers := make(chan answer, len(f.shards))
	if sequential {
		go func() {
			for i, sh := range f.shards {
				answers <- call(ctx, i, sh)
			}
		}()
	} else {
		for i, sh := range f.shards {
			go func() { answers <- call(ctx, i, sh) }()
		}
	}
	for range f.shards {
		select {
		case a := <-answers:
			out[a.i], errs[a.i], done[a.i] = a.v, a.err, true
		case <-ctx.Done():
			for i := range errs {
				if !done[i] {
					errs[i] = ctx.Err()
				}
			}
			return out, errs
		}
	}
	return out, errs
}

// shardContext bounds shard calls by the shard timeout; with no timer
// of its own when ctx ends first anyway.
func (f *Fanout) shardContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= f.opts.ShardTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, f.opts.ShardTimeout)
}

// Search implements Searcher.
func (f *Fanout) Search(ctx context.Context, req *Request) (*Result, error) {
	start := time.Now()
	p, err := req.validate()
	if err != nil {
		return nil, err
	}
	an, err := textAnalyzerOnce()
	if err != nil {
		return nil, err
	}
	// Only whether there is a scored part matters here; plain words have
	// one, translated once for the whole search, and another query is
	// translated to find out, and to report what is wrong with it.
	var scored bq.Query
	if q := p.plainText(an); q != nil {
		scored = q
	} else if scored, err = translateQuery(p); err != nil {
		return nil, err
	}
	cost, err := p.cost(an, f.opts.Budget)
	if err != nil {
		return nil, err
	}
	if !cost.Expensive && f.heavyFacets(p) {
		cost.Expensive = true
	}
	if cost.Expensive {
		release, err := f.admit.admit(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	} else {
		release, waited, err := f.turns.Take(ctx)
		if waited {
			f.counters.waited.Add(1)
		}
		if err != nil {
			return nil, err
		}
		defer release()
	}
	low := cost.Expensive
	f.active.Add(1)
	defer f.active.Add(-1)
	res, err := f.search(ctx, req, p, scored, an, cost, low, false)
	if errors.Is(err, errStaleStats) {
		f.counters.stale.Add(1)
		res, err = f.search(ctx, req, p, scored, an, cost, low, true)
	}
	if err != nil {
		return nil, err
	}
	res.TookMS = time.Since(start).Milliseconds()
	return res, nil
}

// moved reports whether a shard whose statistics were kept for version
// kept[i] (0: not kept) holds another version now.
func (f *Fanout) moved(kept []uint64) bool {
	for i, v := range kept {
		if v == 0 {
			continue
		}
		if cur, ok := f.shards[i].(VersionedShard).ContentVersion(); !ok || cur != v {
			return true
		}
	}
	return false
}

// errStaleStats: a shard was scored with statistics kept for a version it
// no longer holds (a write landed as the search ran, or since a remote
// shard's version was last read), which may lack its new terms and
// documents; the search is run once more, afresh.
var errStaleStats = errors.New("kept statistics went stale during the search")

// search runs one search of the validated p: statistics, phase 2, the
// fetch of the page. Unless last, it fails with errStaleStats when kept
// statistics went stale meanwhile.
func (f *Fanout) search(ctx context.Context, req *Request, p *plan, scored bq.Query, an analysis.Analyzer, cost Cost, low, last bool) (*Result, error) {
	status := ShardStatus{Total: len(f.shards), Failures: []ShardFailure{}}
	alive := make([]bool, len(f.shards))
	for i := range alive {
		alive[i] = true
	}
	fail := func(i int, err error) {
		alive[i] = false
		status.Failures = append(status.Failures, ShardFailure{Shard: f.shards[i].String(), Reason: err.Error()})
	}
	requestErr := func(errs []error) error {
		for _, err := range errs {
			if errors.Is(err, ErrBadRequest) {
				return err
			}
		}
		return nil
	}

	var stats *TermStats
	var kept []uint64
	if scored != nil {
		var err error
		if stats, kept, err = f.termStats(ctx, req, p, an, low, fail); err != nil {
			return nil, err
		}
	}

	if stats != nil {
		if err := f.checkExpansions(stats, cost.Terms); err != nil {
			return nil, err
		}
	}
	sreq := &ShardRequest{Request: req, Stats: stats, Budget: f.opts.Budget, LowPriority: low, plan: p}
	if window := p.from + p.size; p.size > 0 && window <= f.opts.InlineRecords {
		sreq.Records = inlineShare(window, len(f.shards))
	}
	results, errs := callShards(ctx, f, low, func(ctx context.Context, i int, s Shard) (*ShardResult, error) {
		if !alive[i] {
			return nil, errSkipped
		}
		return s.SearchShard(ctx, sreq)
	})
	if err := requestErr(errs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("search phase 2: %w", err)
	}
	if !last && f.moved(kept) {
		return nil, errStaleStats
	}
	res := &Result{}
	var lists [][]ShardHit
	var facetParts []map[string][]FacetValue
	for i, r := range results {
		if r != nil {
			for j := range r.Hits {
				r.Hits[j].shard = i
			}
		}
		if errs[i] != nil {
			if errs[i] != errSkipped {
				fail(i, errs[i])
			}
			continue
		}
		if !alive[i] {
			continue
		}
		status.Successful++
		f.learnFacets(p, r.Facets)
		res.Total += r.Total
		lists = append(lists, r.Hits)
		facetParts = append(facetParts, r.Facets)
	}
	status.Failed = status.Total - status.Successful
	if status.Successful == 0 && status.Total > 0 {
		return nil, fmt.Errorf("%w: %w", ErrAllShardsFailed, firstFailure(errs))
	}

	skip := p.from
	if p.after != nil {
		skip = 0
	}
	merged := mergeHits(lists, p.sort, skip+p.size)
	if skip < len(merged) {
		merged = merged[skip:]
	} else {
		merged = nil
	}
	if err := f.fetch(ctx, merged, &status, low); err != nil {
		return nil, err
	}
	res.Shards = status
	if status.Failed > 0 && req.AllowPartial != nil && !*req.AllowPartial {
		return nil, fmt.Errorf("%w: %d of %d shards: %s", ErrPartial, status.Failed, status.Total, status.Failures[0].Reason)
	}
	if p.highlight && stats != nil {
		hl := &highlighter{an: an, terms: stats.DocFreq, known: &f.analyzed}
		if err := hl.highlightAll(ctx, merged, low || f.busy()); err != nil {
			return nil, fmt.Errorf("highlighting: %w", err)
		}
	}
	res.Hits = make([]Hit, 0, len(merged))
	for i := range merged {
		if merged[i].Image == nil {
			continue // its shard failed to fetch it; reported in status
		}
		res.Hits = append(res.Hits, merged[i].Hit)
	}
	if len(merged) == p.size && p.size > 0 {
		last := merged[len(merged)-1]
		values := make([]string, len(p.sort))
		for i, k := range p.sort {
			switch {
			case k.field == "_score":
				values[i] = scoreString(last.Score)
			case i < len(last.Sort):
				values[i] = last.Sort[i]
			}
		}
		res.NextCursor = encodeCursor(p.sort, values)
	}
	res.Facets = mergeFacets(p.facets, facetParts)
	res.Cost = cost
	return res, nil
}

var errSkipped = errors.New("skipped after failing phase 1")

// inlineShare is how many of its best hits' records each of n shards
// sends with phase 2 for a window of the best window hits. Ids are spread
// over the shards by hash, so the number of the window's hits one shard
// holds is Binomial(window, 1/n): each shard sends records up to that
// count's inlineQuantile, which covers the page in all but about
// n×(1−inlineQuantile) of searches (a fetch round brings the missing
// records then), and spares reading, sending and decoding the records of
// hits that miss the page. (At 10 hits over 8 shards that is 4 records a
// shard, not the 6 of twice the mean share plus two; a fetch round for
// about 4% of the pages.)
func inlineShare(window, n int) int {
	if n <= 1 || window <= 1 {
		return window
	}
	p := 1 / float64(n)
	if window > maxQuantileWindow {
		// (1-p)^window would underflow; the normal approximation is close
		// at this size (z of the 99.5th percentile).
		mean, sd := float64(window)*p, math.Sqrt(float64(window)*p*(1-p))
		return min(window, int(math.Ceil(mean+2.576*sd)))
	}
	return binomialQuantile(window, p, inlineQuantile)
}

const (
	inlineQuantile    = 0.995
	maxQuantileWindow = 1000 // (1-p)^window stays a normal float64 up to it
)

// binomialQuantile returns the smallest k with P(X ≤ k) ≥ q for X ~
// Binomial(n, p).
func binomialQuantile(n int, p, q float64) int {
	pmf := math.Pow(1-p, float64(n)) // P(X = 0)
	cdf := 0.0
	for k := 0; k < n; k++ {
		cdf += pmf
		if cdf >= q {
			return k
		}
		pmf *= float64(n-k) / float64(k+1) * p / (1 - p)
	}
	return n
}

// fetch loads the records of the final page that phase 2 did not bring
// from the shards that hold them (phase 3), so only size records are read
// rather than from+size per shard. A shard that fails here is reported
// and its hits dropped.
func (f *Fanout) fetch(ctx context.Context, page []ShardHit, status *ShardStatus, low bool) error {
	byShard := make([][]int, len(f.shards))
	missing := 0
	for i, h := range page {
		if h.Image == nil {
			byShard[h.shard] = append(byShard[h.shard], i)
			missing++
		}
	}
	var errs []error
	if missing > 0 {
		// Each call returns its records rather than storing them: a
		// call still running when ctx ends must not write into the page.
		var raws [][]json.RawMessage
		raws, errs = callShards(ctx, f, low, func(ctx context.Context, s int, sh Shard) ([]json.RawMessage, error) {
			if len(byShard[s]) == 0 {
				return nil, nil
			}
			ids := make([]string, len(byShard[s]))
			for j, i := range byShard[s] {
				ids[j] = page[i].ID
			}
			return sh.Fetch(ctx, ids)
		})
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fetching the page: %w", err)
		}
		for _, err := range errs {
			if errors.Is(err, ErrBadRequest) {
				return err // the page is too large: the request's doing
			}
		}
		for s, err := range errs {
			if err != nil {
				status.Failed++
				status.Successful--
				status.Failures = append(status.Failures, ShardFailure{Shard: f.shards[s].String(), Reason: "fetch: " + err.Error()})
				continue
			}
			for j, i := range byShard[s] {
				if j < len(raws[s]) {
					page[i].Image = raws[s][j]
				}
			}
		}
	}
	size := 0
	for i := range page {
		size += len(page[i].Image)
	}
	if size > f.opts.Budget.MaxPageBytes {
		return &BudgetError{Limit: "max_page_bytes", Param: "size", Max: f.opts.Budget.MaxPageBytes, Got: size,
			What: "bytes of records in the page; ask for fewer hits (size)"}
	}
	if status.Successful <= 0 && len(page) > 0 {
		return fmt.Errorf("%w: %w", ErrAllShardsFailed, firstFailure(errs))
	}
	return nil
}

// heavyFacetValues is how many distinct values per shard make a term
// facet expensive: every shard reports every value of a term facet, so
// that the counts are exact, and a facet on colours or free-form tags of
// a large index is then tens of thousands of values to count, send and
// merge (about 100 ms at 100,000 records).
const heavyFacetValues = 5000

// heavyFacets reports whether a request asks for a term facet whose field
// has had more than heavyFacetValues values on one shard.
func (f *Fanout) heavyFacets(p *plan) bool {
	for _, fs := range p.facets {
		if !fs.isTerms() {
			continue
		}
		if n, ok := f.facetValues.Load(fs.field); ok && n.(int) > heavyFacetValues {
			return true
		}
	}
	return false
}

// learnFacets records how many values a shard returned for each term
// facet, keeping the most seen: a field whose values are many for some
// queries stays expensive for all, so that light queries cannot be mixed
// in to get heavy ones past admission.
func (f *Fanout) learnFacets(p *plan, facets map[string][]FacetValue) {
	for _, fs := range p.facets {
		if !fs.isTerms() {
			continue
		}
		n := len(facets[fs.name])
		for {
			old, loaded := f.facetValues.LoadOrStore(fs.field, n)
			if !loaded || old.(int) >= n || f.facetValues.CompareAndSwap(fs.field, old, n) {
				break
			}
		}
	}
}

// firstFailure is the first error of a phase, for the error that says
// every shard failed: a deadline there makes the answer a timeout.
func firstFailure(errs []error) error {
	for _, err := range errs {
		if err != nil && err != errSkipped {
			return err
		}
	}
	return errors.New("no shard answered")
}

// checkExpansions holds the union of every shard's expansions to the term
// budget; each shard held its own part to it already.
func (f *Fanout) checkExpansions(st *TermStats, static int) error {
	n := static
	for _, terms := range st.Expansions {
		n += len(terms)
	}
	if n > f.opts.Budget.MaxTerms {
		return &BudgetError{Limit: "max_terms", Param: "q", Max: f.opts.Budget.MaxTerms, Got: n,
			What: "terms searched once patterns are expanded on every shard"}
	}
	return nil
}

// mergeHits k-way merges the shards' sorted lists, keeping the first n.
func mergeHits(lists [][]ShardHit, keys []sortKey, n int) []ShardHit {
	h := &hitHeap{keys: keys}
	for i, l := range lists {
		if len(l) > 0 {
			h.items = append(h.items, cursorPos{list: i})
		}
	}
	h.lists = lists
	heap.Init(h)
	out := make([]ShardHit, 0, n)
	for h.Len() > 0 && len(out) < n {
		top := h.items[0]
		out = append(out, lists[top.list][top.pos])
		if top.pos+1 < len(lists[top.list]) {
			h.items[0].pos++
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return out
}

type cursorPos struct{ list, pos int }

type hitHeap struct {
	items []cursorPos
	lists [][]ShardHit
	keys  []sortKey
}

func (h *hitHeap) Len() int { return len(h.items) }
func (h *hitHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return compareHits(&h.lists[a.list][a.pos], &h.lists[b.list][b.pos], h.keys) < 0
}
func (h *hitHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *hitHeap) Push(x any)    { h.items = append(h.items, x.(cursorPos)) }
func (h *hitHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
