package index

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// termRange keeps documents whose field has a term within the bounds (""
// is unbounded). Numeric filters are term ranges because every number is
// one order-preserving term (numberTerm); they run on columns.
type termRange struct {
	field      string
	lo, hi     string
	loIn, hiIn bool
}

// collector runs phase 2 of a search on one shard snapshot: it drains the
// bleve searcher of the query (or every live document when there is none),
// applies the column filters, counts facets from columns and keeps the
// best hits in a heap ordered by the request's sort. It replaces bleve's
// TopN collector, which loads every candidate's external id to sort by id,
// reads doc values through snappy-compressed chunks for facets and sorts,
// and cannot take column filters.
type collector struct {
	snap   *scorch.IndexSnapshot
	cols   *columnCache
	keys   []sortKey
	ranges []termRange
	facets []facetSpec
	dist   map[string]int // near-duplicate distances by id
	want   int            // hits to keep
	after  *entry         // search_after position, or nil
	guard  walkGuard      // checked per document: the deadline, and yielding

	segs    []*scorch.SegmentSnapshot
	offsets []uint64 // global number of each segment's first document

	total  uint64
	hits   entryHeap
	counts []map[string]int // per facet

	// state of the current segment
	cur      int
	seg      segment.Segment
	ids      *column
	sortCols []*column
	rangeOrd [][2]uint32
	rangeCol []*column
	facetCol []*column
	facetCnt [][]uint32
	buckets  [][]int32 // facet ordinal → bucket, for numeric facets
	scratch  entry
	slab     []entry  // the kept entries, allocated at once on first need
	slabVals []string // and their sort values

	// The worst kept hit's place in the current segment's sorted term
	// lists, one per sort key and the last for the id: a candidate is
	// compared with it by ordinals, without looking up its strings.
	// worst[k] is valid while placed[k] holds; the heap's top or the
	// segment changing clears them.
	worst  []ordBound
	placed []bool
}

// ordBound is where a value falls in a sorted term list: at ord, which
// holds the value itself when exact. ok is false where ordinals cannot
// decide (a missing value, a distance).
type ordBound struct {
	ord       uint32
	exact, ok bool
}

// cmp compares the term at ordinal o with the bound's value.
func (b ordBound) cmp(o uint32) int {
	switch {
	case o < b.ord:
		return -1
	case b.exact && o == b.ord:
		return 0
	}
	return 1
}

// entry is a hit with its sort values: vals[i] is the value for keys[i]
// (unused for _score).
type entry struct {
	score float64
	vals  []string
	id    string
	at    docAt // where the hit is in the collector's snapshot
}

func newCollector(snap *scorch.IndexSnapshot, cols *columnCache, p *plan, ranges []termRange, dist map[string]int, guard walkGuard) (*collector, error) {
	c := &collector{
		snap: snap, cols: cols, keys: p.sort, ranges: ranges, facets: p.facets, dist: dist, guard: guard,
		want: p.from + p.size,
		segs: snap.Segments(),
		cur:  -1,
	}
	if p.after != nil {
		c.want = p.size
		a := &entry{vals: p.after}
		for i, k := range p.sort {
			switch k.field {
			case "_score":
				a.score, _ = strconv.ParseFloat(p.after[i], 64) // checked by decodeCursor
			case "_id":
				a.id = p.after[i]
			}
		}
		c.after = a
	}
	var off uint64
	for _, s := range c.segs {
		c.offsets = append(c.offsets, off)
		off += s.Segment().Count()
	}
	c.counts = make([]map[string]int, len(p.facets))
	for i := range c.counts {
		c.counts[i] = map[string]int{}
	}
	c.sortCols = make([]*column, len(p.sort))
	c.rangeCol = make([]*column, len(ranges))
	c.rangeOrd = make([][2]uint32, len(ranges))
	c.facetCol = make([]*column, len(p.facets))
	c.facetCnt = make([][]uint32, len(p.facets))
	c.buckets = make([][]int32, len(p.facets))
	c.scratch.vals = make([]string, len(p.sort))
	c.worst, c.placed = make([]ordBound, len(p.sort)+1), make([]bool, len(p.sort)+1)
	c.hits.c = c
	return c, nil
}

// run collects the matches of q, or of every live document when q is nil.
func (c *collector) run(ctx context.Context, q bq.Query, m mapping.IndexMapping, score bool) error {
	if q == nil {
		return c.all(ctx)
	}
	err := c.drain(ctx, q, m, score, func(seg int, doc uint64, sc float64) error {
		if seg != c.cur {
			if err := c.enter(seg); err != nil {
				return err
			}
		}
		c.collect(doc, sc)
		return nil
	})
	if err != nil {
		return err
	}
	return c.enter(-1)
}

// drain runs q's bleve searcher over the snapshot and hands every match to
// fn as (segment, local document, score), in document order.
func (c *collector) drain(ctx context.Context, q bq.Query, m mapping.IndexMapping, score bool, fn func(seg int, doc uint64, score float64) error) error {
	ctx = context.WithValue(ctx, search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return bindex.BM25Scoring }))
	opts := search.SearcherOptions{Score: "none"}
	if score {
		opts.Score = ""
	}
	s, err := q.Searcher(ctx, c.snap, m, opts)
	if err != nil {
		return queryBuildError(err)
	}
	defer s.Close()
	sctx := &search.SearchContext{
		DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0),
		IndexReader:       c.snap,
	}
	seg := -1
	for {
		if err := c.guard.step(); err != nil {
			return err
		}
		dm, err := s.Next(sctx)
		if err != nil {
			return err
		}
		if dm == nil {
			return nil
		}
		g := dm.IndexInternalID.Value()
		if seg < 0 || g < c.offsets[seg] || (seg+1 < len(c.offsets) && g >= c.offsets[seg+1]) {
			seg = sort.Search(len(c.offsets), func(i int) bool { return c.offsets[i] > g }) - 1
		}
		sc := 0.0
		if score {
			sc = dm.Score
		}
		if err := fn(seg, g-c.offsets[seg], sc); err != nil {
			return err
		}
		sctx.DocumentMatchPool.Put(dm)
	}
}

// all collects every live document.
func (c *collector) all(ctx context.Context) error {
	for i, ss := range c.segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.enter(i); err != nil {
			return err
		}
		live := roaring.New()
		live.AddRange(0, ss.Segment().Count())
		if d := ss.Deleted(); d != nil {
			live.AndNot(d)
		}
		it := live.Iterator()
		for it.HasNext() {
			if err := c.guard.step(); err != nil {
				return err
			}
			c.collect(uint64(it.Next()), 0)
		}
	}
	return c.enter(-1)
}

// enter switches to segment i (-1: none), flushing the facet counts of the
// segment it leaves.
func (c *collector) enter(i int) error {
	if c.cur >= 0 {
		c.flushFacets()
	}
	c.cur = i
	clear(c.placed)
	if i < 0 {
		return nil
	}
	c.seg = c.segs[i].Segment()
	var err error
	if c.ids, err = c.cols.column(c.seg, "_id"); err != nil {
		return err
	}
	for k, key := range c.keys {
		c.sortCols[k] = nil
		if key.field != "_score" && key.field != "_id" && key.field != distanceKey {
			if c.sortCols[k], err = c.cols.column(c.seg, key.field); err != nil {
				return err
			}
		}
	}
	for k, r := range c.ranges {
		if c.rangeCol[k], err = c.cols.column(c.seg, r.field); err != nil {
			return err
		}
		lo, hi := c.rangeCol[k].ordRange(r)
		c.rangeOrd[k] = [2]uint32{lo, hi}
	}
	for k, fs := range c.facets {
		col, err := c.cols.column(c.seg, fs.field)
		if err != nil {
			return err
		}
		c.facetCol[k] = col
		c.buckets[k] = nil
		switch fs.kind {
		case kindNumber, kindDate:
			c.buckets[k] = col.bucketOrds(fs)
			c.facetCnt[k] = resize(c.facetCnt[k], len(bucketNames(fs)))
		default:
			c.facetCnt[k] = resize(c.facetCnt[k], len(col.terms))
		}
	}
	return nil
}

func resize(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func (c *collector) flushFacets() {
	for k, fs := range c.facets {
		names := c.facetCol[k].terms
		if c.buckets[k] != nil {
			names = bucketNames(fs)
		}
		for o, n := range c.facetCnt[k] {
			if n > 0 {
				c.counts[k][names[o]] += int(n)
			}
		}
	}
}

// collect takes one matching document of the current segment.
func (c *collector) collect(doc uint64, score float64) {
	if c.match(doc) {
		c.offer(doc, score)
	}
}

// match applies the column filters to a document of the current segment
// and, when it passes, counts it in the total and the facets.
func (c *collector) match(doc uint64) bool {
	for k, col := range c.rangeCol {
		in := false
		for _, o := range col.values(doc) {
			if o >= c.rangeOrd[k][0] && o < c.rangeOrd[k][1] {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	c.total++
	for k, col := range c.facetCol {
		cnt, b := c.facetCnt[k], c.buckets[k]
		for _, o := range col.values(doc) {
			if b == nil {
				cnt[o]++
			} else if b[o] >= 0 {
				cnt[b[o]]++
			}
		}
	}
	return true
}

// offer considers a counted document of the current segment for the kept
// hits.
func (c *collector) offer(doc uint64, score float64) {
	// A hit that cannot beat the worst kept one on score alone is out
	// before its sort values are looked up.
	full := c.want > 0 && len(c.hits.e) >= c.want
	if full && c.keys[0].field == "_score" && score < c.hits.e[0].score {
		return
	}
	if full && c.behindWorst(doc, score) {
		return
	}
	e := &c.scratch
	e.score = score
	e.at = docAt{seg: c.cur + 1, doc: doc}
	o, _ := c.ids.first(doc)
	e.id = c.ids.terms[o]
	for k, key := range c.keys {
		switch key.field {
		case "_score":
		case "_id":
			e.vals[k] = e.id
		case distanceKey:
			e.vals[k] = fmt.Sprintf("%03d", c.dist[e.id])
		default:
			col := c.sortCols[k]
			if o, ok := col.first(doc); ok {
				e.vals[k] = col.terms[o]
			} else if key.desc {
				e.vals[k] = search.LowTerm // missing values sort last
			} else {
				e.vals[k] = search.HighTerm
			}
		}
	}
	if c.after != nil && c.compare(e, c.after) <= 0 {
		return
	}
	if c.want == 0 || (full && c.compare(e, c.hits.e[0]) >= 0) {
		return
	}
	if full {
		// The worst kept hit is out: its entry takes the new one.
		kept := c.hits.e[0]
		kept.score, kept.id, kept.at = e.score, e.id, e.at
		copy(kept.vals, e.vals)
		heap.Fix(&c.hits, 0)
	} else {
		heap.Push(&c.hits, c.newEntry(e))
	}
	clear(c.placed)
}

// behindWorst reports whether a document of the current segment sorts at
// or after the worst kept hit, deciding by ordinals in the segment's
// sorted term lists: a full heap turns most candidates away this way,
// without their sort strings. false when it comes first or ordinals
// cannot tell.
func (c *collector) behindWorst(doc uint64, score float64) bool {
	w := c.hits.e[0]
	for k, key := range c.keys {
		r := 0
		switch key.field {
		case "_score":
			switch {
			case score < w.score:
				r = -1
			case score > w.score:
				r = 1
			}
		case "_id":
			o, _ := c.ids.first(doc)
			r = c.worstAt(len(c.keys)).cmp(o)
		default:
			b := c.worstAt(k)
			if !b.ok {
				return false
			}
			o, has := c.sortCols[k].first(doc)
			if !has {
				return false
			}
			r = b.cmp(o)
		}
		if key.desc {
			r = -r
		}
		if r != 0 {
			return r > 0
		}
	}
	return true // the same as the worst on every key, the id (always the last) too
}

// worstAt returns the worst kept hit's place in the current segment's
// terms of sort key k (k = len(keys): the id), finding it on first need:
// a candidate decided by its score needs none.
func (c *collector) worstAt(k int) ordBound {
	if c.placed[k] {
		return c.worst[k]
	}
	w := c.hits.e[0]
	b := ordBound{}
	switch {
	case k == len(c.keys):
		b = place(c.ids.terms, w.id)
	case c.sortCols[k] != nil && w.vals[k] != search.LowTerm && w.vals[k] != search.HighTerm:
		b = place(c.sortCols[k].terms, w.vals[k])
	}
	c.worst[k], c.placed[k] = b, true
	return b
}

// place finds v in sorted terms.
func place(terms []string, v string) ordBound {
	o, exact := slices.BinarySearch(terms, v)
	return ordBound{ord: uint32(o), exact: exact, ok: true}
}

// newEntry returns a copy of e for the heap, from a slab of as many
// entries as the heap keeps (one per search_after page, at most).
func (c *collector) newEntry(e *entry) *entry {
	if len(c.slab) == 0 {
		n := min(c.want, maxSlabEntries)
		c.slab, c.slabVals = make([]entry, n), make([]string, n*len(e.vals))
	}
	kept := &c.slab[0]
	c.slab = c.slab[1:]
	kept.score, kept.id, kept.at = e.score, e.id, e.at
	kept.vals, c.slabVals = c.slabVals[:len(e.vals):len(e.vals)], c.slabVals[len(e.vals):]
	copy(kept.vals, e.vals)
	return kept
}

// maxSlabEntries bounds the entries allocated at once: a deep page fills
// its heap slab after slab.
const maxSlabEntries = 256

// compare orders two entries by the sort keys, then id: negative when a
// comes first.
func (c *collector) compare(a, b *entry) int {
	if r := compareSortValues(c.keys, a.score, b.score, a.vals, b.vals); r != 0 {
		return r
	}
	return compareStrings(a.id, b.id)
}

// result returns the kept hits in order, and the facet counts.
func (c *collector) result() *ShardResult {
	es := c.hits.e
	sort.Slice(es, func(i, j int) bool { return c.compare(es[i], es[j]) < 0 })
	out := &ShardResult{Total: c.total, Hits: make([]ShardHit, 0, len(es))}
	for _, e := range es {
		h := ShardHit{Hit: Hit{ID: e.id, Score: e.score}, Sort: e.vals, at: e.at}
		for k, key := range c.keys {
			if key.field == "_score" {
				e.vals[k] = scoreString(e.score)
			}
		}
		if d, ok := c.dist[e.id]; ok {
			h.Distance = &d
		}
		out.Hits = append(out.Hits, h)
	}
	if len(c.facets) > 0 {
		out.Facets = make(map[string][]FacetValue, len(c.facets))
		for k, fs := range c.facets {
			vals := make([]FacetValue, 0, len(c.counts[k]))
			for v, n := range c.counts[k] {
				vals = append(vals, FacetValue{v, n})
			}
			out.Facets[fs.name] = vals
		}
	}
	return out
}

// entryHeap keeps the worst kept entry on top.
type entryHeap struct {
	e []*entry
	c *collector
}

func (h *entryHeap) Len() int           { return len(h.e) }
func (h *entryHeap) Less(i, j int) bool { return h.c.compare(h.e[i], h.e[j]) > 0 }
func (h *entryHeap) Swap(i, j int)      { h.e[i], h.e[j] = h.e[j], h.e[i] }
func (h *entryHeap) Push(x any)         { h.e = append(h.e, x.(*entry)) }
func (h *entryHeap) Pop() any {
	x := h.e[len(h.e)-1]
	h.e = h.e[:len(h.e)-1]
	return x
}

// bucketNames lists a numeric or date facet's buckets, in order.
func bucketNames(fs facetSpec) []string {
	if fs.kind == kindDate {
		return dateBucketNames
	}
	bs := numericBuckets[fs.field]
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.name
	}
	return out
}

var dateBucketNames = func() []string {
	out := make([]string, len(dateBuckets))
	for i, b := range dateBuckets {
		out[i] = b.name
	}
	return out
}()

// bucketOrds maps each term of a numeric column to its facet bucket (-1:
// none), once per column: a field's buckets never change. Buckets include
// their lower bound and exclude their upper one.
func (col *column) bucketOrds(fs facetSpec) []int32 {
	col.bucketOnce.Do(func() {
		type span struct{ lo, hi *float64 }
		var spans []span
		if fs.kind == kindDate {
			for _, b := range dateBuckets {
				s := span{hi: fp(unixSeconds(b.end))}
				if !b.start.IsZero() {
					s.lo = fp(unixSeconds(b.start))
				}
				spans = append(spans, s)
			}
		} else {
			for _, b := range numericBuckets[fs.field] {
				spans = append(spans, span{b.min, b.max})
			}
		}
		col.buckets = make([]int32, len(col.terms))
		b := 0 // terms ascend, and so do the buckets
		for o, t := range col.terms {
			col.buckets[o] = -1
			i, err := numeric.PrefixCoded(t).Int64()
			if err != nil {
				continue
			}
			v := numeric.Int64ToFloat64(i)
			for b < len(spans) && spans[b].hi != nil && v >= *spans[b].hi {
				b++
			}
			if b < len(spans) && (spans[b].lo == nil || v >= *spans[b].lo) {
				col.buckets[o] = int32(b)
			}
		}
	})
	return col.buckets
}
