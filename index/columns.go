package index

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/geo"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/numeric"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// A column is one field of one segment, uninverted: for every document the
// ordinals of its terms in the segment's sorted term dictionary. Facets
// count ordinals, sorts compare terms, and numeric range filters become an
// ordinal interval, all with array lookups instead of bleve's doc values,
// which snappy-decode a chunk and walk varints for every matching document.
//
// Segments never change once written (deletions are a separate bitmap), so
// a column is built once per segment and field, on first use, and dropped
// when merging retires its segment.
type column struct {
	terms []string // the field's terms in this segment, in byte order
	start []uint32 // document d's ordinals are ords[start[d]:start[d+1]]
	ords  []uint32 // ascending within a document

	bucketOnce sync.Once
	buckets    []int32 // term → numeric facet bucket; see bucketOrds

	pointsOnce sync.Once
	points     []geoPoint // term → the point it encodes; see geoPoints

	latOnce sync.Once
	lat     *latIndex // the points by latitude; see byLatitude

	holdersOnce sync.Once
	holders     []uint32 // term → its document + 1, 0 for none, sharedTerm for several; see holder
}

// holder returns the one document of the segment that has term, looked up
// by binary search in the terms; several is true when more than one does
// (found is false then).
func (col *column) holder(term string) (doc uint64, found, several bool) {
	col.holdersOnce.Do(func() {
		col.holders = make([]uint32, len(col.terms))
		if uint64(len(col.start)-1) >= sharedTerm-1 {
			// A document + 1 could read as sharedTerm: every term is
			// looked up in the dictionary instead.
			for o := range col.holders {
				col.holders[o] = sharedTerm
			}
			return
		}
		for d := range len(col.start) - 1 {
			for _, o := range col.values(uint64(d)) {
				if col.holders[o] == 0 {
					col.holders[o] = uint32(d) + 1
				} else {
					col.holders[o] = sharedTerm
				}
			}
		}
	})
	o, ok := slices.BinarySearch(col.terms, term)
	switch {
	case !ok || col.holders[o] == 0:
		return 0, false, false
	case col.holders[o] == sharedTerm:
		return 0, false, true
	}
	return uint64(col.holders[o] - 1), true, false
}

// sharedTerm marks, in column.holders, a term of several documents.
const sharedTerm = 1<<32 - 1

// geoPoint is a location, when ok.
type geoPoint struct {
	lat, lon float64
	ok       bool
}

// geoPoints decodes, once per column of a geopoint field, the point each
// of its full-precision terms encodes (a geopoint is indexed as a Morton
// hash at several precisions; only the shift-0 term is the point).
func (col *column) geoPoints() []geoPoint {
	col.pointsOnce.Do(func() {
		col.points = make([]geoPoint, len(col.terms))
		for o, t := range col.terms {
			pc := numeric.PrefixCoded(t)
			if shift, err := pc.Shift(); err != nil || shift != 0 {
				continue
			}
			if h, err := pc.Int64(); err == nil {
				col.points[o] = geoPoint{lat: geo.MortonUnhashLat(uint64(h)), lon: geo.MortonUnhashLon(uint64(h)), ok: true}
			}
		}
	})
	return col.points
}

// latIndex is a geopoint column's points in order of latitude, with the
// documents that hold each, so that a geo filter looks only at the points
// of its latitude band instead of at every document.
type latIndex struct {
	ords  []uint32  // the terms that are points, by latitude
	lats  []float64 // their latitudes, ascending
	start []uint32  // term o's documents are docs[start[o]:start[o+1]]
	docs  []uint32
}

// byLatitude builds, once per column of a geopoint field, its latIndex.
func (col *column) byLatitude() *latIndex {
	col.latOnce.Do(func() {
		points := col.geoPoints()
		li := &latIndex{start: make([]uint32, len(col.terms)+1)}
		type point struct {
			lat float64
			o   uint32
		}
		var ps []point
		for o, p := range points {
			if p.ok {
				ps = append(ps, point{p.lat, uint32(o)})
			}
		}
		slices.SortFunc(ps, func(a, b point) int { return cmp.Compare(a.lat, b.lat) })
		li.ords, li.lats = make([]uint32, len(ps)), make([]float64, len(ps))
		for i, p := range ps {
			li.ords[i], li.lats[i] = p.o, p.lat
		}
		for _, o := range col.ords {
			if points[o].ok {
				li.start[o+1]++
			}
		}
		for o := range points {
			li.start[o+1] += li.start[o]
		}
		li.docs = make([]uint32, li.start[len(points)])
		next := slices.Clone(li.start[:len(points)])
		for d := range len(col.start) - 1 {
			for _, o := range col.values(uint64(d)) {
				if points[o].ok {
					li.docs[next[o]] = uint32(d)
					next[o]++
				}
			}
		}
		col.lat = li
	})
	return col.lat
}

// band returns the positions [i, j) of the points with latitudes in
// [lo, hi].
func (li *latIndex) band(lo, hi float64) (i, j int) {
	i, _ = slices.BinarySearch(li.lats, lo)
	j = i
	for j < len(li.lats) && li.lats[j] <= hi {
		j++
	}
	return i, j
}

// holders returns the documents that hold term o.
func (li *latIndex) holders(o uint32) []uint32 { return li.docs[li.start[o]:li.start[o+1]] }

// values returns the ordinals of document doc's terms, smallest first.
func (c *column) values(doc uint64) []uint32 { return c.ords[c.start[doc]:c.start[doc+1]] }

// first returns the ordinal of the document's smallest term.
func (c *column) first(doc uint64) (uint32, bool) {
	s, e := c.start[doc], c.start[doc+1]
	if s == e {
		return 0, false
	}
	return c.ords[s], true
}

// ordRange returns the ordinals [lo, hi) of the terms within the bounds
// ("" is unbounded).
func (c *column) ordRange(r termRange) (lo, hi uint32) {
	lo, hi = 0, uint32(len(c.terms))
	if r.lo != "" {
		lo = uint32(searchStrings(c.terms, r.lo, !r.loIn))
	}
	if r.hi != "" {
		hi = uint32(searchStrings(c.terms, r.hi, r.hiIn))
	}
	return lo, max(lo, hi)
}

// searchStrings is the index of the first term ≥ s, or > s when after.
func searchStrings(terms []string, s string, after bool) int {
	lo, hi := 0, len(terms)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if terms[m] < s || (after && terms[m] == s) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// buildColumn uninverts field in seg by walking its term dictionary and
// each term's postings. Deleted documents are included; callers only look
// up live ones.
func buildColumn(seg segment.Segment, field string) (*column, error) {
	docs := seg.Count()
	if docs >= 1<<32 {
		return nil, fmt.Errorf("segment of %d documents is too large for a column", docs)
	}
	c := &column{start: make([]uint32, docs+1)}
	var postings []uint64 // (doc<<32 | ord), in term order
	var terms stringArena
	err := walkPostings(seg, field, false, func(term string) {
		c.terms = append(c.terms, terms.add(term))
	}, func(p segment.Posting) {
		if n := p.Number(); n < docs {
			postings = append(postings, n<<32|uint64(len(c.terms)-1))
			c.start[n+1]++
		}
	})
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", field, err)
	}
	for d := 1; d < len(c.start); d++ {
		c.start[d] += c.start[d-1]
	}
	// A counting sort by document keeps each document's ordinals in term
	// order, so the first is the smallest.
	c.ords = make([]uint32, len(postings))
	next := append([]uint32(nil), c.start[:docs]...)
	for _, p := range postings {
		d := p >> 32
		c.ords[next[d]] = uint32(p)
		next[d]++
	}
	return c, nil
}

// columnCache holds the columns and decoded long postings lists
// (hot.go) of a shard's live segments.
type columnCache struct {
	mu   sync.Mutex
	segs map[segment.Segment]*segmentColumns
	hot  hotBuilder
}

type segmentColumns struct {
	mu      sync.Mutex
	cols    map[string]*column
	lengths map[string]*fieldLengths
	hot     atomic.Pointer[hotPostings] // nil until decoded
	short   shortLists
	phrases shortLists // documents in which a phrase stands, see phraseQuery.keep
}

// entry returns seg's entry, creating it.
func (cc *columnCache) entry(seg segment.Segment) *segmentColumns {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.segs == nil {
		cc.segs = map[segment.Segment]*segmentColumns{}
	}
	sc := cc.segs[seg]
	if sc == nil {
		sc = &segmentColumns{cols: map[string]*column{}, lengths: map[string]*fieldLengths{}}
		cc.segs[seg] = sc
	}
	return sc
}

// hotPostings returns seg's decoded long lists, or nil while they are not
// ready.
func (cc *columnCache) hotPostings(seg segment.Segment) *hotPostings {
	return cc.entry(seg).hot.Load()
}

// column returns field's column of seg, building it on first use.
func (cc *columnCache) column(seg segment.Segment, field string) (*column, error) {
	sc := cc.entry(seg)
	return cachedPerField(&sc.mu, sc.cols, seg, field, buildColumn)
}

// cachedPerField returns m[field], building it with build on first use;
// mu guards m.
func cachedPerField[T any](mu *sync.Mutex, m map[string]*T, seg segment.Segment, field string,
	build func(segment.Segment, string) (*T, error)) (*T, error) {
	mu.Lock()
	defer mu.Unlock()
	if v := m[field]; v != nil {
		return v, nil
	}
	v, err := build(seg, field)
	if err != nil {
		return nil, err
	}
	m[field] = v
	return v, nil
}

// retain drops the columns of segments that snap no longer has (merged
// away or superseded by their persisted copy).
func (cc *columnCache) retain(snap *scorch.IndexSnapshot) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.segs) == 0 {
		return
	}
	live := make(map[segment.Segment]bool, len(snap.Segments()))
	for _, ss := range snap.Segments() {
		live[ss.Segment()] = true
	}
	for seg := range cc.segs {
		if !live[seg] {
			delete(cc.segs, seg)
		}
	}
}

// fieldLengths are a text field's lengths in tokens, per document of one
// segment, as its norms record them, and their sum.
type fieldLengths struct {
	perDoc []uint32
	total  uint64
}

// fieldLengths returns field's lengths in seg, reading them on first use.
func (cc *columnCache) fieldLengths(seg segment.Segment, field string) (*fieldLengths, error) {
	sc := cc.entry(seg)
	return cachedPerField(&sc.mu, sc.lengths, seg, field, readFieldLengths)
}

// readFieldLengths takes each document's length from the norm of any of
// its postings in the field: every posting of a document carries it.
func readFieldLengths(seg segment.Segment, field string) (*fieldLengths, error) {
	docs := seg.Count()
	fl := &fieldLengths{perDoc: make([]uint32, docs)}
	err := walkPostings(seg, field, true, nil, func(p segment.Posting) {
		n := p.Number()
		if n >= docs || fl.perDoc[n] != 0 {
			return
		}
		length := uint64(0)
		if np, ok := p.(normLength); ok {
			length = np.NormUint64()
		} else if norm := p.Norm(); norm > 0 {
			length = uint64(math.Round(1 / (norm * norm)))
		}
		fl.perDoc[n] = uint32(min(length, math.MaxUint32))
		fl.total += uint64(fl.perDoc[n])
	})
	if err != nil {
		return nil, fmt.Errorf("lengths %s: %w", field, err)
	}
	return fl, nil
}

// walkPostings calls onTerm (when set) for each term of field's dictionary
// in seg, in term order, then onPosting for each of the term's postings.
func walkPostings(seg segment.Segment, field string, norms bool,
	onTerm func(string), onPosting func(segment.Posting)) error {
	dict, err := seg.Dictionary(field)
	if err != nil {
		return err
	}
	var pl segment.PostingsList
	var pit segment.PostingsIterator
	it := dict.AutomatonIterator(nil, nil, nil)
	for {
		e, err := it.Next()
		if err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		if onTerm != nil {
			onTerm(e.Term)
		}
		if pl, err = dict.PostingsList([]byte(e.Term), nil, pl); err != nil {
			return err
		}
		pit = pl.Iterator(false, norms, false, pit)
		for {
			p, err := pit.Next()
			if err != nil {
				return err
			}
			if p == nil {
				break
			}
			onPosting(p)
		}
	}
}

// liveLength is the field's total length over the snapshot's live
// documents.
func (cc *columnCache) liveLength(snap *scorch.IndexSnapshot, field string) (uint64, error) {
	var n uint64
	for _, ss := range snap.Segments() {
		fl, err := cc.fieldLengths(ss.Segment(), field)
		if err != nil {
			return 0, err
		}
		n += fl.total
		if d := ss.Deleted(); d != nil {
			it := d.Iterator()
			for it.HasNext() {
				if i := it.Next(); int(i) < len(fl.perDoc) {
					n -= uint64(fl.perDoc[i])
				}
			}
		}
	}
	return n, nil
}
