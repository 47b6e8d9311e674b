package index

import (
	"context"
	"slices"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/picdex/picdex/index/query"
)

// A phrase on text fields is scored as its words are, with BM25F over the
// fields (so "red car" and red car rank on one scale), and matches only
// where its words stand in order, with the gaps of the stop words left
// out, within one field and one value of it. Term at a time, the words'
// documents come from the accumulator like any words' and only those are
// checked for the phrase, through the positions zap keeps; bleve's phrase
// searcher instead builds a map of every location of every candidate.

// phraseQuery is a phrase's words, scored, and the check that they stand
// together.
type phraseQuery struct {
	words   *bq.ConjunctionQuery // bm25Query per word, in order
	check   bq.Query             // bleve's phrase queries per field, scoring nothing
	fields  []string
	terms   []string
	offsets []uint64 // each term's position after the first's
	key     string   // fields, terms and offsets: what decides the documents
}

// bm25Phrase translates a phrase on text fields into a phraseQuery; ok is
// false without the text analyzer, when it is on another kind of field,
// or when two of its terms share a position (bleve's multi-phrase then
// matches either of them).
func (tr translator) bm25Phrase(n *query.Phrase) (bq.Query, bool, error) {
	if tr.text == nil {
		return nil, false, nil
	}
	fields, boost, ok, err := textFields(n.Field, n.Boost, n.Pos())
	if !ok || err != nil {
		return nil, false, err
	}
	toks := tr.text.Analyze([]byte(n.Text))
	switch len(toks) {
	case 0:
		return bq.NewMatchNoneQuery(), true, nil
	case 1:
		return &bm25Query{term: string(toks[0].Term), fields: fields, boost: boost}, true, nil
	}
	p := &phraseQuery{}
	words := make([]bq.Query, 0, len(toks))
	for i, tok := range toks {
		if i > 0 && tok.Position <= toks[i-1].Position {
			return nil, false, nil
		}
		p.terms = append(p.terms, string(tok.Term))
		p.offsets = append(p.offsets, uint64(tok.Position-toks[0].Position))
		words = append(words, &bm25Query{term: string(tok.Term), fields: fields, boost: boost})
	}
	p.words = bq.NewConjunctionQuery(words)
	checks := make([]bq.Query, 0, len(fields))
	for _, f := range fields {
		p.fields = append(p.fields, f.Name)
		c := bq.NewMatchPhraseQuery(n.Text)
		c.SetField(f.Name)
		checks = append(checks, c)
	}
	p.check = bq.NewDisjunctionQuery(checks)
	p.key = phraseKey(p.fields, p.terms, p.offsets)
	return p, true, nil
}

// Searcher is the words' conjunction filtered by bleve's phrase search,
// which scores nothing: the same documents and scores as term at a time.
func (q *phraseQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	b := bq.NewBooleanQuery([]bq.Query{q.words}, nil, nil)
	b.AddFilter(q.check)
	return b.Searcher(ctx, r, m, opts)
}

// A segment's documents in which a phrase stands never change, as the
// segment does not, so each segment keeps those of the phrases it was
// asked for, a few bytes a match, up to a bound proportional to its
// size; past it, it starts afresh (as Lucene's query cache keeps a
// filter's documents per segment). They are found among every document
// holding the words in a field, not only a query's candidates, so that
// they serve the next query too: the same work, since a phrase's
// candidates are its words' documents. Reading positions through zap is
// most of a phrase's cost; a kept phrase costs a merge.
const (
	phraseListsPerDoc = 2 // documents kept per document of the segment
	phraseListsFloor  = 1 << 12
)

// keep keeps the documents of m (ascending, not deleted) in which the
// phrase stands in one of its fields of seg.
func (q *phraseQuery) keep(seg segment.Segment, lists *segmentColumns, guard *walkGuard, m segMatches) (segMatches, error) {
	if len(m.docs) == 0 {
		return m, nil
	}
	if shortListCache {
		if docs, ok := lists.phrases.lookupDocs(q.key, ""); ok {
			return m.among(docs), nil
		}
		docs, ok, err := q.standing(seg, lists, guard, nil)
		if err != nil {
			return segMatches{}, err
		}
		if ok {
			lists.phrases.keepDocs(q.key, "", docs, phraseListsFloor+phraseListsPerDoc*int(seg.Count()))
			return m.among(docs), nil
		}
	}
	docs, _, err := q.standing(seg, lists, guard, m.docs)
	if err != nil {
		return segMatches{}, err
	}
	return m.among(docs), nil
}

// among keeps the matches whose documents are in docs (ascending), in
// place.
func (m segMatches) among(docs []uint32) segMatches {
	k, j := 0, 0
	for i, d := range m.docs {
		for j < len(docs) && docs[j] < d {
			j++
		}
		if j == len(docs) {
			break
		}
		if docs[j] == d {
			m.docs[k], m.scores[k] = d, m.scores[i]
			k++
		}
	}
	return segMatches{docs: m.docs[:k], scores: m.scores[:k]}
}

// standing returns, ascending, the documents of seg in which the phrase
// stands: of those given, or with among nil of all the segment's. In each
// field, the candidates are first cut to the documents holding every word
// there, from the decoded lists, so that positions (which zap decodes
// posting by posting on the way to a document) are read for few of them.
// ok is false, with among nil, when a word's list in a field is not
// decoded, so that the candidates cannot be listed without zap.
func (q *phraseQuery) standing(seg segment.Segment, lists *segmentColumns, guard *walkGuard, among []uint32) (_ []uint32, ok bool, _ error) {
	found := roaring.New()
	its := make([]phraseCursor, len(q.terms))
	var cands, next []uint32
	for _, field := range q.fields {
		cands = append(cands[:0], among...)
		dict, err := seg.Dictionary(field)
		if err != nil {
			return nil, false, err
		}
		for i, t := range q.terms {
			l, _, ok, pl, err := lists.postings(seg, field, t)
			if err != nil {
				return nil, false, err
			}
			switch {
			case ok && among == nil && i == 0:
				cands = append(cands[:0], l.docs...)
			case ok:
				next = intersectDocs(next[:0], cands, l.docs)
				cands, next = next, cands
			case among == nil && pl != nil && pl.Count() > 0:
				return nil, false, nil
			}
			if len(cands) == 0 || (!ok && (pl == nil || pl.Count() == 0)) {
				cands = cands[:0]
				break
			}
			if pl == nil {
				if pl, err = dict.PostingsList([]byte(t), nil, nil); err != nil {
					return nil, false, err
				}
			}
			its[i] = phraseCursor{it: pl.Iterator(false, false, true, nil)}
		}
	docs:
		for _, d := range cands {
			if guard != nil {
				// Positions of common words are read for many documents.
				if err := guard.step(); err != nil {
					return nil, false, err
				}
			}
			if found.Contains(d) {
				continue
			}
			for i := range its {
				p, err := its[i].at(uint64(d))
				if err != nil {
					return nil, false, err
				}
				if p == nil {
					break docs // a word has no more documents in this field
				}
				if p.Number() != uint64(d) {
					continue docs
				}
			}
			if q.standsIn(its) {
				found.Add(d)
			}
		}
	}
	return found.ToArray(), true, nil
}

// intersectDocs appends to dst the documents in both ascending lists.
func intersectDocs(dst, a, b []uint32) []uint32 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			dst = append(dst, a[i])
			i++
			j++
		}
	}
	return dst
}

// phraseCursor is a postings iterator with locations and the posting it
// last returned, which zap's Advance would otherwise step past.
type phraseCursor struct {
	it  segment.PostingsIterator
	cur segment.Posting
}

// at returns the first posting of document d or after, or nil past the
// last.
func (c *phraseCursor) at(d uint64) (segment.Posting, error) {
	if c.cur != nil && c.cur.Number() >= d {
		return c.cur, nil
	}
	p, err := c.it.Advance(d)
	c.cur = p
	return p, err
}

// standsIn reports whether the cursors' current postings, all of one
// document, hold the terms at their offsets from one start, within one
// value of the field.
func (q *phraseQuery) standsIn(its []phraseCursor) bool {
	first := its[0].cur.Locations()
starts:
	for _, l0 := range first {
		for i := 1; i < len(its); i++ {
			want := l0.Pos() + q.offsets[i]
			ok := false
			for _, l := range its[i].cur.Locations() {
				if l.Pos() == want && slices.Equal(l.ArrayPositions(), l0.ArrayPositions()) {
					ok = true
					break
				}
			}
			if !ok {
				continue starts
			}
		}
		return true
	}
	return false
}

// phraseKey is the key of a phrase's kept documents: its fields, then
// each term with its offset, apart by bytes no term holds (the analyzer
// keeps no control characters).
func phraseKey(fields, terms []string, offsets []uint64) string {
	b := []byte("phrase\x00")
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	for i, t := range terms {
		b = strconv.AppendUint(append(append(append(b, 1), t...), 0), offsets[i], 10)
	}
	return string(b)
}
