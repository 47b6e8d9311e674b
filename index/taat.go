package index

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Plain word queries, by far the most common kind, are segMatches term at a
// time, segment by segment: each word's postings in each field are read
// straight from the segment into a dense per-document accumulator, the
// accumulated frequencies are saturated once per document, and words
// combine by merging sorted lists. bleve's document-at-a-time searchers
// would instead merge five postings lists per word through global ids,
// allocate a match per candidate and call several interfaces per posting;
// for a word in a third of all documents that was most of a search.
//
// The scores are the same numbers bleve's searcher tree computes for the
// same query (bm25Searcher, ConjunctionSearcher, DisjunctionSearcher with
// its coordination factor), added up in the same order;
// TestTermAtATimeMatchesSearchers holds the two paths to that.

// textNode is a query tree that term-at-a-time evaluation covers.
type textNode struct {
	op     textOp
	leaf   *bm25Query
	kids   []*textNode
	p      *bm25Searcher // leaf parameters (idf, field weights and average lengths)
	phrase *phraseQuery  // opPhrase: where the kids, its words, must stand
}

type textOp int

const (
	opLeaf   textOp = iota
	opNone          // matches nothing (a word that analyzes to no terms)
	opAnd           // every child; scores add up
	opOr            // any child; the sum times matched/children
	opPhrase        // every child, standing as the phrase says; scores add up
)

// textTree returns q as a textNode tree, or false when q has a part it
// does not cover (phrases, fuzzy or prefix terms, ranges, negation,
// boosts on compound clauses).
func textTree(q bq.Query) (*textNode, bool) {
	switch q := q.(type) {
	case *bm25Query:
		return &textNode{op: opLeaf, leaf: q}, true
	case *bq.MatchNoneQuery:
		return &textNode{op: opNone}, true
	case *phraseQuery:
		n, ok := textKids(opAnd, q.words.Conjuncts)
		if ok {
			n.op, n.phrase = opPhrase, q
		}
		return n, ok
	case *bq.ConjunctionQuery:
		if q.BoostVal != nil && *q.BoostVal != 1 {
			return nil, false
		}
		return textKids(opAnd, q.Conjuncts)
	case *bq.DisjunctionQuery:
		if (q.BoostVal != nil && *q.BoostVal != 1) || q.Min > 1 {
			return nil, false
		}
		return textKids(opOr, q.Disjuncts)
	case *bq.BooleanQuery:
		if (q.BoostVal != nil && *q.BoostVal != 1) || q.MustNot != nil || q.Filter != nil {
			return nil, false
		}
		switch {
		case q.Must != nil && q.Should == nil:
			return textTree(q.Must)
		case q.Must == nil && q.Should != nil:
			if d, ok := q.Should.(*bq.DisjunctionQuery); !ok || d.Min != 1 {
				return nil, false
			}
			return textTree(q.Should)
		}
	}
	return nil, false
}

func textKids(op textOp, qs []bq.Query) (*textNode, bool) {
	if len(qs) == 0 {
		return nil, false
	}
	n := &textNode{op: op}
	for _, q := range qs {
		k, ok := textTree(q)
		if !ok {
			return nil, false
		}
		n.kids = append(n.kids, k)
	}
	return n, true
}

// plainText returns p's scored query as the text analyzer an translates
// it, when it is a tree that term-at-a-time evaluation covers, else nil.
// Such a query is plain words and phrases on text fields and holds nothing of any
// shard (no expansion of a pattern, no column), so the fan-out's
// statistics keys and every shard in the process can share the one
// translation of a search. Made once per plan.
func (p *plan) plainText(an analysis.Analyzer) bq.Query {
	p.textOnce.Do(func() {
		q, err := translator{text: an}.query(p)
		if err != nil || q == nil {
			return
		}
		if _, ok := textTree(q); ok {
			p.text = q
		}
	})
	return p.text
}

// sharedTree returns the tree of the request's plain-text query prepared
// from its global statistics, made once for every shard in the process
// that runs the request; nil when the request did not come from a
// fan-out in this process, has no statistics, its query is not plain
// text, or a (field, term) is missing from the statistics (each shard
// then prepares its own, with its own count in its place).
func (sr *ShardRequest) sharedTree() *textNode {
	sr.treeOnce.Do(func() {
		if sr.plan == nil || sr.plan.req != sr.Request || sr.Stats == nil {
			return
		}
		an, err := textAnalyzerOnce()
		if err != nil {
			return
		}
		q := sr.plan.plainText(an)
		if q == nil {
			return
		}
		tree, _ := textTree(q)
		if tree.prepare(sr.Stats, sr.bm25Stats(), nil) == nil {
			sr.tree = tree
		}
	})
	return sr.tree
}

// errNotGlobal: a (field, term) is missing from the global statistics
// and there is no shard to count it on.
var errNotGlobal = errors.New("term statistics not in the global sums")

// prepare fixes every leaf's idf and field statistics from the global
// statistics, as the leaf's bleve searcher would over the statistics
// reader: a (field, term) phase 1 did not record (none in practice) falls
// back to the shard's own count in snap, as that reader does, or fails
// with errNotGlobal without a snap.
func (n *textNode) prepare(global *TermStats, lengths *search.BM25Stats, snap *scorch.IndexSnapshot) error {
	if n.op != opLeaf {
		for _, k := range n.kids {
			if err := k.prepare(global, lengths, snap); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	term := []byte(n.leaf.term)
	n.p = n.leaf.params(global.DocCount, lengths, func(i int) uint64 {
		field := n.leaf.fields[i].Name
		if df, ok := global.docFreq(field, term); ok {
			return df
		}
		if snap == nil {
			err = errNotGlobal
			return 0
		}
		tfr, e := snap.TermFieldReader(context.Background(), term, field, false, false, false)
		if e != nil {
			err = e
			return 0
		}
		defer tfr.Close()
		return tfr.Count()
	})
	return err
}

// segMatches is a segment's matches of a node: local document numbers in
// ascending order and their scores.
type segMatches struct {
	docs   []uint32
	scores []float64
}

// normLength is the zap posting's raw field length.
type normLength interface{ NormUint64() uint64 }

// taatBuffers is the dense accumulator of one segment's evaluation, and
// the lists of matches it produces, reused segment after segment.
type taatBuffers struct {
	acc   []float64 // per document: accumulated weighted term frequency, or score
	tf    []float64 // a short list's weights
	seen  []uint64  // bitset of documents with acc set; all clear between uses
	count []uint32  // per document: parts matched, for a union
	lists []segMatches
	used  int        // lists handed out for the current segment
	guard *walkGuard // of the search, checked once per leaf
	best  []ranked   // segmentBest's heap
	picks []int32    // and what it picked
}

// grow makes room in the accumulator for a segment of docs documents.
func (b *taatBuffers) grow(docs int) {
	if cap(b.acc) < docs {
		b.acc = make([]float64, docs)
		b.seen = make([]uint64, (docs+63)/64)
	}
}

// list returns an empty match list with room for n, valid until reset.
func (b *taatBuffers) list(n int) segMatches {
	if b.used == len(b.lists) {
		b.lists = append(b.lists, segMatches{})
	}
	l := &b.lists[b.used]
	b.used++
	if cap(l.docs) < n {
		l.docs, l.scores = make([]uint32, 0, n), make([]float64, 0, n)
	}
	return segMatches{docs: l.docs[:0], scores: l.scores[:0]}
}

// reset makes every list available again, for the next segment.
func (b *taatBuffers) reset() { b.used = 0 }

var taatPool = sync.Pool{New: func() any { return &taatBuffers{} }}

// eval computes the node's matches in one segment; deleted documents are
// skipped.
func (n *textNode) eval(seg segment.Segment, deleted *roaring.Bitmap, lists *segmentColumns, buf *taatBuffers) (segMatches, error) {
	switch n.op {
	case opNone:
		return segMatches{}, nil
	case opLeaf:
		if err := buf.guard.check(); err != nil {
			return segMatches{}, err
		}
		return n.evalLeaf(seg, deleted, lists, buf)
	}
	var small [8]segMatches
	parts := small[:0]
	if len(n.kids) > len(small) {
		parts = make([]segMatches, 0, len(n.kids))
	}
	for _, k := range n.kids {
		part, err := k.eval(seg, deleted, lists, buf)
		if err != nil {
			return segMatches{}, err
		}
		if n.op != opOr && len(part.docs) == 0 {
			return segMatches{}, nil
		}
		parts = append(parts, part)
	}
	switch n.op {
	case opAnd:
		return intersect(parts), nil
	case opPhrase:
		return n.phrase.keep(seg, lists, buf.guard, intersect(parts))
	}
	return buf.union(parts, int(seg.Count())), nil
}

func (n *textNode) evalLeaf(seg segment.Segment, deleted *roaring.Bitmap, lists *segmentColumns, buf *taatBuffers) (segMatches, error) {
	docs := int(seg.Count())
	buf.grow(docs)
	acc, seen := buf.acc[:docs], buf.seen[:(docs+63)/64]
	postings := 0
	hasDeleted := deleted != nil && !deleted.IsEmpty()
	for _, f := range n.p.fields {
		l, w, ok, pl, err := lists.postings(seg, f.field, n.leaf.term)
		if err != nil {
			return segMatches{}, err
		}
		if ok {
			var tf []float64
			if w != nil {
				tf = weighted(w, l, f)
			} else {
				buf.tf = l.weigh(f, buf.tf)
				tf = buf.tf
			}
			// Deleted documents are dropped below, once per document.
			postings += len(l.docs)
			for i, d := range l.docs {
				if d >= uint32(docs) {
					continue
				}
				if w := &seen[d>>6]; *w&(1<<(d&63)) == 0 {
					*w |= 1 << (d & 63)
					acc[d] = 0
				}
				acc[d] += tf[i]
			}
			continue
		}
		postings += int(pl.Count())
		it := pl.Iterator(true, true, false, nil)
		for {
			p, err := it.Next()
			if err != nil {
				return segMatches{}, err
			}
			if p == nil {
				break
			}
			d := p.Number()
			if d >= uint64(docs) {
				continue
			}
			if w := &seen[d>>6]; *w&(1<<(d&63)) == 0 {
				*w |= 1 << (d & 63)
				acc[d] = 0
			}
			if np, ok := p.(normLength); ok {
				acc[d] += f.weightedTFLen(p.Frequency(), float64(np.NormUint64()))
			} else {
				acc[d] += f.weightedTF(p.Frequency(), p.Norm())
			}
		}
	}
	out := buf.list(min(postings, docs))
	for i, w := range seen {
		for w != 0 {
			d := i<<6 + bits.TrailingZeros64(w)
			w &= w - 1
			if hasDeleted && deleted.Contains(uint32(d)) {
				continue
			}
			out.docs = append(out.docs, uint32(d))
			out.scores = append(out.scores, n.p.saturate(acc[d]))
		}
		seen[i] = 0
	}
	return out, nil
}

// intersect keeps the documents in every part, adding their scores in
// part order. It writes over the first part, which it alone reads.
func intersect(parts []segMatches) segMatches {
	out := parts[0]
	for _, p := range parts[1:] {
		k, i, j := 0, 0, 0
		for i < len(out.docs) && j < len(p.docs) {
			switch {
			case out.docs[i] < p.docs[j]:
				i++
			case out.docs[i] > p.docs[j]:
				j++
			default:
				out.docs[k] = out.docs[i]
				out.scores[k] = out.scores[i] + p.scores[j]
				k++
				i++
				j++
			}
		}
		out.docs, out.scores = out.docs[:k], out.scores[:k]
	}
	return out
}

// union keeps the documents of a segment of docs documents that are in
// any part: the sum of their scores, in part order, times the share of
// parts they are in. The sums build up in the dense accumulator, part
// after part, so each document's additions come in the same order as a
// merge of the parts would make them.
func (b *taatBuffers) union(parts []segMatches, docs int) segMatches {
	b.grow(docs)
	if cap(b.count) < docs {
		b.count = make([]uint32, docs)
	}
	acc, seen, count := b.acc[:docs], b.seen[:(docs+63)/64], b.count[:docs]
	n := 0
	for _, p := range parts {
		n += len(p.docs)
		for i, d := range p.docs {
			if w := &seen[d>>6]; *w&(1<<(d&63)) == 0 {
				*w |= 1 << (d & 63)
				acc[d], count[d] = 0, 0
			}
			acc[d] += p.scores[i]
			count[d]++
		}
	}
	out := b.list(min(n, docs))
	share := float64(len(parts))
	for i, w := range seen {
		for w != 0 {
			d := i<<6 + bits.TrailingZeros64(w)
			w &= w - 1
			out.docs = append(out.docs, uint32(d))
			out.scores = append(out.scores, acc[d]*float64(count[d])/share)
		}
		seen[i] = 0
	}
	return out
}

// runText collects the matches of a text tree, restricted by an optional
// unscored filter query.
func (c *collector) runText(ctx context.Context, tree *textNode, filter bq.Query, m mapping.IndexMapping) error {
	var allowed []*roaring.Bitmap // per segment, when filtered
	if filter != nil {
		var err error
		if allowed, err = c.matchSets(ctx, filter, m); err != nil {
			return err
		}
	}
	buf := taatPool.Get().(*taatBuffers)
	buf.guard = &c.guard
	defer func() {
		buf.guard = nil
		taatPool.Put(buf)
	}()
	for i, ss := range c.segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if allowed != nil && allowed[i].IsEmpty() {
			continue
		}
		buf.reset()
		res, err := tree.eval(ss.Segment(), ss.Deleted(), c.cols.entry(ss.Segment()), buf)
		if err != nil {
			return err
		}
		if len(res.docs) == 0 {
			continue
		}
		if err := c.enter(i); err != nil {
			return err
		}
		if allowed == nil && len(c.ranges) == 0 && len(c.facets) == 0 {
			// Nothing to filter or count per document: take the total at
			// once and skip, without a call, every score below the worst
			// kept hit when the sort is by score.
			c.total += uint64(len(res.docs))
			if sel, ok, err := buf.segmentBest(c, res); err != nil {
				return err
			} else if ok {
				for _, j := range sel {
					c.offer(uint64(res.docs[j]), res.scores[j])
				}
				continue
			}
			byScore := c.keys[0].field == "_score"
			for j, d := range res.docs {
				if err := c.guard.step(); err != nil {
					return err
				}
				if byScore && c.want > 0 && len(c.hits.e) >= c.want && res.scores[j] < c.hits.e[0].score {
					continue
				}
				c.offer(uint64(d), res.scores[j])
			}
			continue
		}
		for j, d := range res.docs {
			if err := c.guard.step(); err != nil {
				return err
			}
			if allowed == nil || allowed[i].Contains(d) {
				c.collect(uint64(d), res.scores[j])
			}
		}
	}
	return c.enter(-1)
}

// ranked is a segment's match by the order of a score sort: its score,
// its id's ordinal in the segment's id column, and where it is in the
// segment's matches.
type ranked struct {
	score float64
	ord   uint32
	j     int32
}

// segmentBest picks, for a sort by score then id, the matches of the
// current segment that can be among the kept hits: its own best c.want
// by score and then id, since a match that want others of the same
// segment come before cannot be. The picks are offered in place of every
// match, with the same outcome and far fewer offers when many matches
// tie on score (short texts, as in a catalogue of titles), each of which
// offer would compare by id as a string. Within a segment, ids compare
// as their ordinals do, the id column's terms being sorted. ok is false
// for another sort, a search_after page, or a segment with no more
// matches than want (each is offered then).
func (b *taatBuffers) segmentBest(c *collector, res segMatches) (picks []int32, ok bool, err error) {
	if c.want == 0 || c.after != nil || len(res.docs) <= c.want || len(c.keys) != 2 ||
		c.keys[0].field != "_score" || c.keys[1].field != "_id" {
		return nil, false, nil
	}
	idDesc := c.keys[1].desc
	// worse reports whether x comes after y in the sort.
	worse := func(x, y *ranked) bool {
		if x.score != y.score {
			return x.score < y.score
		}
		return (x.ord > y.ord) != idDesc
	}
	// h holds the best so far with the worst on top.
	h := b.best[:0]
	down := func() {
		for i := 0; ; {
			k := 2*i + 1
			if k >= len(h) {
				return
			}
			if k+1 < len(h) && worse(&h[k+1], &h[k]) {
				k++
			}
			if !worse(&h[k], &h[i]) {
				return
			}
			h[i], h[k] = h[k], h[i]
			i = k
		}
	}
	// The worst kept hit, when the heap is full, bounds every pick.
	bound := math.Inf(-1)
	if len(c.hits.e) >= c.want {
		bound = c.hits.e[0].score
	}
	for j, d := range res.docs {
		if err := c.guard.step(); err != nil {
			return nil, false, err
		}
		sc := res.scores[j]
		if sc < bound || (len(h) == c.want && sc < h[0].score) {
			continue
		}
		o, _ := c.ids.first(uint64(d))
		r := ranked{score: sc, ord: o, j: int32(j)}
		switch {
		case len(h) < c.want:
			h = append(h, r)
			for i := len(h) - 1; i > 0; {
				up := (i - 1) / 2
				if !worse(&h[i], &h[up]) {
					break
				}
				h[i], h[up] = h[up], h[i]
				i = up
			}
		case worse(&h[0], &r):
			h[0] = r
			down()
		}
	}
	b.best = h
	picks = b.picks[:0]
	for _, r := range h {
		picks = append(picks, r.j)
	}
	b.picks = picks
	return picks, true, nil
}

// matchSets runs an unscored query and returns its matches per segment.
func (c *collector) matchSets(ctx context.Context, q bq.Query, m mapping.IndexMapping) ([]*roaring.Bitmap, error) {
	sets := make([]*roaring.Bitmap, len(c.segs))
	for i := range sets {
		sets[i] = roaring.New()
	}
	err := c.drain(ctx, q, m, false, func(seg int, doc uint64, _ float64) error {
		sets[seg].Add(uint32(doc))
		return nil
	})
	return sets, err
}
