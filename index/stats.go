package index

import (
	"context"
	"fmt"
	"sync"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
)

// TermStats are the corpus statistics a score depends on. Scoring every
// shard with the same, global TermStats makes a document's score independent
// of which shard holds it and of how many shards there are: the search is
// "dfs_query_then_fetch", always.
//
// Phase 1 asks every shard for its local statistics of the terms a query
// touches (after analysis and after fuzzy/prefix/wildcard expansion); the
// fan-out adds them up; phase 2 hands the sums to every shard.
type TermStats struct {
	// DocCount is the number of live documents.
	DocCount uint64 `json:"doc_count"`
	// FieldLength is, per text field, the number of (document, term)
	// postings: the sum of the document frequencies of every term in the
	// field. Divided by DocCount it is the average field length BM25 needs.
	FieldLength map[string]uint64 `json:"field_length"`
	// DocFreq is, per field and term, the number of documents containing it.
	DocFreq map[string]map[string]uint64 `json:"doc_freq"`
	// Expansions lists, per multi-term clause (fuzzy, prefix, wildcard,
	// regexp; keyed by multiTerm.signature), the sorted terms it matches.
	Expansions map[string][]string `json:"expansions,omitempty"`
}

func newTermStats() *TermStats {
	return &TermStats{FieldLength: map[string]uint64{}, DocFreq: map[string]map[string]uint64{}, Expansions: map[string][]string{}}
}

// Add accumulates another shard's statistics.
func (s *TermStats) Add(o *TermStats) {
	s.DocCount += o.DocCount
	for f, n := range o.FieldLength {
		s.FieldLength[f] += n
	}
	for f, terms := range o.DocFreq {
		dst := s.DocFreq[f]
		if dst == nil {
			dst = make(map[string]uint64, len(terms))
			s.DocFreq[f] = dst
		}
		for t, n := range terms {
			dst[t] += n
		}
	}
	for sig, terms := range o.Expansions {
		s.Expansions[sig] = unionSorted(s.Expansions[sig], terms)
	}
}

// unionSorted merges two sorted, duplicate-free lists.
func unionSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// expander hands back the global expansions in phase 2.
func (s *TermStats) expander() expander {
	if s == nil {
		return nil
	}
	return func(mt multiTerm) ([]string, error) { return s.Expansions[mt.signature()], nil }
}

func (s *TermStats) docFreq(field string, term []byte) (uint64, bool) {
	n, ok := s.DocFreq[field][string(term)]
	return n, ok
}

// bm25Stats converts to the form bleve's BM25 scorer reads from the
// context. bleve divides FieldCardinality by DocCount to get the average
// field length, so passing the posting count there gives it a true average
// rather than the number of distinct terms it would use on its own.
func (s *TermStats) bm25Stats() *search.BM25Stats {
	fc := make(map[string]int, len(s.FieldLength))
	for f, n := range s.FieldLength {
		fc[f] = int(n)
	}
	return &search.BM25Stats{DocCount: float64(s.DocCount), FieldCardinality: fc}
}

// statsQuery wraps the scored part of a query. In recording mode it builds
// the searcher tree only to note which terms it opens and their local
// document frequency; in scoring mode every term searcher below it sees
// the global document frequency instead of the shard's.
type statsQuery struct {
	inner  query.Query
	global *TermStats // scoring mode when set

	mu       sync.Mutex
	recorded *TermStats // recording mode when set
}

func (q *statsQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	if q.global != nil {
		ctx = context.WithValue(ctx, search.BM25StatsKey, q.global.bm25Stats())
	}
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		// Every picdex shard is a scorch index; anything else could not
		// offer the optional reader interfaces the wrapper must keep.
		return nil, fmt.Errorf("global statistics need a scorch index reader, got %T", r)
	}
	return q.inner.Searcher(ctx, &statsReader{IndexSnapshot: snap, q: q}, m, opts)
}

// termFieldReader is the shared override of both reader wrappers.
func (q *statsQuery) termFieldReader(tfr bindex.TermFieldReader, term []byte, field string) bindex.TermFieldReader {
	if q.recorded != nil {
		q.mu.Lock()
		terms := q.recorded.DocFreq[field]
		if terms == nil {
			terms = map[string]uint64{}
			q.recorded.DocFreq[field] = terms
		}
		terms[string(term)] = tfr.Count()
		q.mu.Unlock()
		return tfr
	}
	if n, ok := q.global.docFreq(field, term); ok {
		return &globalCountTFR{TermFieldReader: tfr, count: n}
	}
	return tfr
}

func (q *statsQuery) docCount(local uint64) uint64 {
	if q.global != nil {
		return q.global.DocCount
	}
	return local
}

// statsReader embeds the concrete scorch snapshot so that every optional
// reader interface bleve's searchers look for (fuzzy, regexp, geo, BM25)
// is still there.
type statsReader struct {
	*scorch.IndexSnapshot
	q *statsQuery
}

func (r *statsReader) TermFieldReader(ctx context.Context, term []byte, field string, freq, norm, vectors bool) (bindex.TermFieldReader, error) {
	tfr, err := r.IndexSnapshot.TermFieldReader(ctx, term, field, freq, norm, vectors)
	if err != nil {
		return nil, err
	}
	return r.q.termFieldReader(tfr, term, field), nil
}

func (r *statsReader) DocCount() (uint64, error) {
	n, err := r.IndexSnapshot.DocCount()
	return r.q.docCount(n), err
}

// globalCountTFR reports the global document frequency of its term.
type globalCountTFR struct {
	bindex.TermFieldReader
	count uint64
}

func (t *globalCountTFR) Count() uint64 { return t.count }
