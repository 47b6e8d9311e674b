package index

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"
)

// BM25 parameters (Robertson's usual values, as Lucene and FTS5 use).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// bm25Query matches one analyzed term in any of several weighted fields and
// scores it with BM25F: the fields' term frequencies, each weighted and
// normalized by its field's length, are added up and saturated once,
//
//	tf~   = Σ_f w_f · tf_f / (1 − b + b·len_f/avglen_f)
//	score = boost · idf · tf~·(k1+1) / (tf~ + k1)
//
// with one idf for the term (from its largest per-field document
// frequency, the closest available bound of "documents containing it").
//
// It replaces bleve's match query for plain words because bleve's term
// scorer multiplies by idf twice (once more through the query weight),
// saturates √tf rather than tf, rounds the average length, and a bleve
// disjunction over the fields multiplies by the share of fields matched, so
// a word repeated in title, caption and tags outweighs a document matching
// every word of the query once. Document frequencies, the document count
// and field lengths come from the reader and context, which the two-phase
// fan-out fills with global values, so scores do not depend on sharding.
type bm25Query struct {
	term   string
	fields []WeightedField
	boost  float64
}

func (q *bm25Query) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	docs, err := r.DocCount()
	if err != nil {
		return nil, err
	}
	lengths, _ := ctx.Value(search.BM25StatsKey).(*search.BM25Stats)
	tfrs := make([]bindex.TermFieldReader, 0, len(q.fields))
	closeAll := func() {
		for _, tfr := range tfrs {
			tfr.Close()
		}
	}
	for _, f := range q.fields {
		tfr, err := r.TermFieldReader(ctx, []byte(q.term), f.Name, true, true, opts.IncludeTermVectors)
		if err != nil {
			closeAll()
			return nil, err
		}
		tfrs = append(tfrs, tfr)
	}
	s := q.params(docs, lengths, func(i int) uint64 { return tfrs[i].Count() })
	s.score, s.vectors = opts.Score != "none", opts.IncludeTermVectors
	for i, p := range s.fields {
		p.tfr, p.tfd = tfrs[i], &bindex.TermFieldDoc{}
		if p.cur, err = p.tfr.Next(p.tfd); err != nil {
			closeAll()
			return nil, err
		}
	}
	return s, nil
}

// params fixes the scoring parameters of the term: the average length of
// each field, and the idf from the document count and each field's
// document frequency df(i) (of q.fields[i]). The term-at-a-time path calls
// it with the same global figures, so both score alike.
func (q *bm25Query) params(docs uint64, lengths *search.BM25Stats, df func(i int) uint64) *bm25Searcher {
	s := &bm25Searcher{term: q.term, score: true, fields: make([]*posting, len(q.fields))}
	ps := make([]posting, len(q.fields))
	for i, f := range q.fields {
		avg := 1.0
		if lengths != nil && lengths.DocCount > 0 {
			if n := lengths.FieldCardinality[f.Name]; n > 0 {
				avg = float64(n) / lengths.DocCount
			}
		}
		s.df = max(s.df, df(i))
		ps[i] = posting{field: f.Name, weight: f.Boost, avgLen: avg}
		s.fields[i] = &ps[i]
	}
	s.idf = q.boost * math.Log(1+(float64(docs)-float64(s.df)+0.5)/(float64(s.df)+0.5))
	return s
}

// posting is one field's postings list for the term, positioned at cur.
type posting struct {
	tfr    bindex.TermFieldReader
	field  string
	weight float64
	avgLen float64
	tfd    *bindex.TermFieldDoc
	cur    *bindex.TermFieldDoc // nil when exhausted
}

// weightedTF is the field's length-normalized, weighted term frequency of
// a posting with the given frequency and norm.
func (p *posting) weightedTF(freq uint64, norm float64) float64 {
	length := p.avgLen
	if norm > 0 {
		length = math.Round(1 / (norm * norm)) // bleve stores 1/√length
	}
	return p.weightedTFLen(freq, length)
}

// weightedTFLen is weightedTF given the field's length itself, which
// segments store and the term-at-a-time path reads without bleve's
// 1/√length round trip (exact for any length below 2²⁴).
func (p *posting) weightedTFLen(freq uint64, length float64) float64 {
	return p.weight * float64(freq) / (1 - bm25B + bm25B*length/p.avgLen)
}

// bm25Searcher merges the fields' postings in document order.
type bm25Searcher struct {
	term    string
	df      uint64
	idf     float64 // includes the query boost
	fields  []*posting
	score   bool
	vectors bool
}

func (s *bm25Searcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	var min bindex.IndexInternalID
	for _, p := range s.fields {
		if p.cur != nil && (min == nil || p.cur.ID.Compare(min) < 0) {
			min = p.cur.ID
		}
	}
	if min == nil {
		return nil, nil
	}
	rv := ctx.DocumentMatchPool.Get()
	rv.IndexInternalID = append(rv.IndexInternalID[:0], min...)
	tf := 0.0
	for _, p := range s.fields {
		if p.cur == nil || !p.cur.ID.Equals(rv.IndexInternalID) {
			continue
		}
		if s.score {
			tf += p.weightedTF(p.cur.Freq, p.cur.Norm)
		}
		if s.vectors {
			for _, v := range p.cur.Vectors {
				rv.FieldTermLocations = append(rv.FieldTermLocations, search.FieldTermLocation{
					Field: v.Field, Term: s.term,
					Location: search.Location{Pos: v.Pos, Start: v.Start, End: v.End, ArrayPositions: append([]uint64(nil), v.ArrayPositions...)},
				})
			}
		}
		var err error
		if p.cur, err = p.tfr.Next(p.tfd.Reset()); err != nil {
			return nil, err
		}
	}
	if s.score {
		rv.Score = s.saturate(tf)
	}
	return rv, nil
}

// saturate turns a document's summed weighted term frequency into its
// score.
func (s *bm25Searcher) saturate(tf float64) float64 {
	return s.idf * tf * (bm25K1 + 1) / (tf + bm25K1)
}

func (s *bm25Searcher) Advance(ctx *search.SearchContext, id bindex.IndexInternalID) (*search.DocumentMatch, error) {
	for _, p := range s.fields {
		if p.cur != nil && p.cur.ID.Compare(id) < 0 {
			var err error
			if p.cur, err = p.tfr.Advance(id, p.tfd.Reset()); err != nil {
				return nil, err
			}
		}
	}
	return s.Next(ctx)
}

func (s *bm25Searcher) Close() error {
	var first error
	for _, p := range s.fields {
		if p.tfr == nil {
			continue
		}
		if err := p.tfr.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Weight and SetQueryNorm take no part in query normalization: BM25 scores
// are not normalized.
func (s *bm25Searcher) Weight() float64      { return 1 }
func (s *bm25Searcher) SetQueryNorm(float64) {}

func (s *bm25Searcher) Count() uint64 {
	var n uint64
	for _, p := range s.fields {
		n += p.tfr.Count()
	}
	return n
}

func (s *bm25Searcher) Min() int                   { return 0 }
func (s *bm25Searcher) Size() int                  { return 64 + 96*len(s.fields) }
func (s *bm25Searcher) DocumentMatchPoolSize() int { return 1 }
