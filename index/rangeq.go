package index

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/geo"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"
)

// termRangeQuery matches the documents holding a term of field between
// two bounds ("" is unbounded), for the ranges a query string asks for on
// numbers and keywords (bytes:>0, tags:>=m). bleve's term range query opens
// a searcher for every distinct term in the range — bytes:>0 on 100,000
// records was 100,000 searchers, seconds and gigabytes. This one reads the
// shard's columns, as the width and date filters do: per segment, the range
// is an interval of term ordinals, and a document matches when one of its
// ordinals falls in it. The matches are found on first use, so building
// the searcher tree for phase 1 costs nothing. It scores a constant; the
// translator wraps it as every range is.
type termRangeQuery struct {
	cols       *columnCache
	guard      walkGuard // of the shard call; its context is the searcher's
	field      string
	lo, hi     string
	loIn, hiIn bool
}

func (q *termRangeQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping, _ search.SearcherOptions) (search.Searcher, error) {
	snap, err := scorchOf(r)
	if err != nil {
		return nil, err
	}
	if q.cols == nil {
		return nil, fmt.Errorf("term range on %s outside a shard", q.field)
	}
	return &bitmapSearcher{match: func() (*roaring.Bitmap, error) { return q.match(ctx, snap) }}, nil
}

// match returns the global numbers of the matching live documents.
func (q *termRangeQuery) match(ctx context.Context, snap *scorch.IndexSnapshot) (*roaring.Bitmap, error) {
	guard := q.guard
	guard.ctx = ctx
	r := termRange{field: q.field, lo: q.lo, hi: q.hi, loIn: q.loIn, hiIn: q.hiIn}
	return eachLiveDoc(snap, q.cols, q.field, &guard, func(col *column) func(doc uint64) bool {
		lo, hi := col.ordRange(r)
		if lo >= hi {
			return nil // no document of the segment can match
		}
		return func(doc uint64) bool {
			for _, o := range col.values(doc) {
				if o >= lo && o < hi {
					return true
				}
			}
			return false
		}
	})
}

// geoQuery matches the documents whose location is in a bounding box or
// within a distance of a point, for the bbox and near filters. bleve's geo
// searchers cover the shape with geohash term ranges before they look at
// a document, which for an unaligned box near the poles or the date line
// took seconds of CPU, gigabytes, and no look at the deadline. This one
// reads each document's point from the location column (the full-precision
// term of every geopoint, decoded once per segment) and tests it as bleve's
// own final check does: the box with bleve's tolerance, the distance by
// haversine.
type geoQuery struct {
	cols  *columnCache
	guard walkGuard
	box   *bbox
	near  *near
}

func (q *geoQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping, _ search.SearcherOptions) (search.Searcher, error) {
	snap, err := scorchOf(r)
	if err != nil {
		return nil, err
	}
	if q.cols == nil {
		return nil, fmt.Errorf("geo filter outside a shard")
	}
	return &bitmapSearcher{match: func() (*roaring.Bitmap, error) { return q.match(ctx, snap) }}, nil
}

func (q *geoQuery) contains(p geoPoint) bool {
	if q.near != nil {
		return geo.Haversin(p.lon, p.lat, q.near.lon, q.near.lat) <= q.near.km
	}
	b := q.box
	if !geo.BoundingBoxContains(p.lon, p.lat, -180, b.bottom, 180, b.top) {
		return false
	}
	if b.left <= b.right {
		return geo.BoundingBoxContains(p.lon, p.lat, b.left, b.bottom, b.right, b.top)
	}
	// Across the date line: two boxes, as bleve splits it.
	return geo.BoundingBoxContains(p.lon, p.lat, b.left, b.bottom, 180, b.top) ||
		geo.BoundingBoxContains(p.lon, p.lat, -180, b.bottom, b.right, b.top)
}

// latBand returns latitudes that every point the filter contains lies
// between, with a margin: a box's own, and for a distance at most km over
// the shortest length of a degree of latitude (110.5 km), taken as 100.
func (q *geoQuery) latBand() (lo, hi float64) {
	const margin = 1e-3
	if q.near != nil {
		d := q.near.km/100 + margin
		return max(q.near.lat-d, -90), min(q.near.lat+d, 90)
	}
	return q.box.bottom - margin, q.box.top + margin
}

// match tests, in each segment, only the points of the filter's latitude
// band (byLatitude), then takes the live documents that hold the points
// it contains.
func (q *geoQuery) match(ctx context.Context, snap *scorch.IndexSnapshot) (*roaring.Bitmap, error) {
	guard := q.guard
	guard.ctx = ctx
	lo, hi := q.latBand()
	out := roaring.New()
	err := eachSegment(snap, q.cols, fieldLocation, func(ss *scorch.SegmentSnapshot, col *column, base uint32) error {
		points, li := col.geoPoints(), col.byLatitude()
		deleted := ss.Deleted()
		i, j := li.band(lo, hi)
		for _, o := range li.ords[i:j] {
			if err := guard.step(); err != nil {
				return err
			}
			if !q.contains(points[o]) {
				continue
			}
			for _, d := range li.holders(o) {
				if deleted == nil || !deleted.Contains(d) {
					out.Add(base + d)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, guard.ctx.Err()
}

// eachSegment calls fn with every segment of snap, its column of field
// and the global number of its first document.
func eachSegment(snap *scorch.IndexSnapshot, cols *columnCache, field string, fn func(ss *scorch.SegmentSnapshot, col *column, base uint32) error) error {
	var base uint64
	for _, ss := range snap.Segments() {
		n := ss.Segment().Count()
		if base+n > 1<<32 {
			return fmt.Errorf("a shard of more than 2^32 documents")
		}
		col, err := cols.column(ss.Segment(), field)
		if err != nil {
			return err
		}
		if err := fn(ss, col, uint32(base)); err != nil {
			return err
		}
		base += n
	}
	return nil
}

// eachLiveDoc returns the global numbers of the live documents of snap
// for which the test that match builds for each segment's column of field
// holds.
func eachLiveDoc(snap *scorch.IndexSnapshot, cols *columnCache, field string, guard *walkGuard,
	match func(col *column) func(doc uint64) bool) (*roaring.Bitmap, error) {
	out := roaring.New()
	err := eachSegment(snap, cols, field, func(ss *scorch.SegmentSnapshot, col *column, base uint32) error {
		test := match(col)
		if test == nil {
			return nil
		}
		deleted := ss.Deleted()
		for doc := range ss.Segment().Count() {
			if err := guard.step(); err != nil {
				return err
			}
			if test(doc) && (deleted == nil || !deleted.Contains(uint32(doc))) {
				out.Add(base + uint32(doc))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, guard.ctx.Err()
}

func scorchOf(r bindex.IndexReader) (*scorch.IndexSnapshot, error) {
	switch r := r.(type) {
	case *scorch.IndexSnapshot:
		return r, nil
	case *statsReader:
		return r.IndexSnapshot, nil
	}
	return nil, fmt.Errorf("need a scorch index reader, got %T", r)
}

// bitmapSearcher iterates a bitmap of global document numbers, each with
// the same score; match computes the bitmap when it is first needed.
type bitmapSearcher struct {
	match func() (*roaring.Bitmap, error)
	docs  *roaring.Bitmap
	it    roaring.IntPeekable
}

func (s *bitmapSearcher) load() error {
	if s.docs != nil {
		return nil
	}
	docs, err := s.match()
	if err != nil {
		return err
	}
	s.docs, s.it = docs, docs.Iterator()
	return nil
}

func (s *bitmapSearcher) next(sctx *search.SearchContext) (*search.DocumentMatch, error) {
	if !s.it.HasNext() {
		return nil, nil
	}
	dm := sctx.DocumentMatchPool.Get()
	dm.IndexInternalID = bindex.NewIndexInternalID(dm.IndexInternalID, uint64(s.it.Next()))
	dm.Score = 1
	return dm, nil
}

func (s *bitmapSearcher) Next(sctx *search.SearchContext) (*search.DocumentMatch, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	return s.next(sctx)
}

func (s *bitmapSearcher) Advance(sctx *search.SearchContext, id bindex.IndexInternalID) (*search.DocumentMatch, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	if v := id.Value(); v < 1<<32 {
		s.it.AdvanceIfNeeded(uint32(v))
	} else {
		return nil, nil
	}
	return s.next(sctx)
}

// Count is exact once the matches are known; before, it says nothing
// more than "some".
func (s *bitmapSearcher) Count() uint64 {
	if s.docs == nil {
		return 1
	}
	return s.docs.GetCardinality()
}

func (s *bitmapSearcher) Size() int {
	if s.docs == nil {
		return 64
	}
	return int(s.docs.GetSizeInBytes()) + 64
}

func (s *bitmapSearcher) Close() error               { return nil }
func (s *bitmapSearcher) Weight() float64            { return 1 }
func (s *bitmapSearcher) SetQueryNorm(float64)       {}
func (s *bitmapSearcher) Min() int                   { return 0 }
func (s *bitmapSearcher) DocumentMatchPoolSize() int { return 1 }
