package index

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
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
	var snap *scorch.IndexSnapshot
	switch r := r.(type) {
	case *scorch.IndexSnapshot:
		snap = r
	case *statsReader:
		snap = r.IndexSnapshot
	default:
		return nil, fmt.Errorf("term ranges need a scorch index reader, got %T", r)
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
	out := roaring.New()
	var base uint64
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		n := seg.Count()
		if base+n > 1<<32 {
			return nil, fmt.Errorf("term range over a shard of more than 2^32 documents")
		}
		col, err := q.cols.column(seg, q.field)
		if err != nil {
			return nil, err
		}
		if lo, hi := col.ordRange(r); lo < hi {
			deleted := ss.Deleted()
			for doc := range n {
				if err := guard.step(); err != nil {
					return nil, err
				}
				for _, o := range col.values(doc) {
					if o >= lo && o < hi {
						if deleted == nil || !deleted.Contains(uint32(doc)) {
							out.Add(uint32(base + doc))
						}
						break
					}
				}
			}
		}
		base += n
	}
	return out, ctx.Err()
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
