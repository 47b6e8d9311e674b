package index

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/index/scorch"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Long postings lists decide how long a plain word query takes: a word in
// a third of the documents has tens of thousands of postings, and reading
// them through zap's iterator (a roaring bitmap walk plus varint-coded
// frequencies and norms) costs some 30 ns each. So every segment's long
// lists in the text fields are decoded once, in the background, into flat
// arrays (12 bytes a posting, 8 more for its weight once read), which
// term-at-a-time scoring reads in a few nanoseconds each. Which lists are decoded depends only on the segment
// (every list of at least hotMinPostings postings), never on the queries
// seen, so no query is slow for being the first of its kind once a segment
// is ready; until then, and for short lists, postings come from zap.
// Segments never change, so neither do their decoded lists; they are
// dropped with the segment's columns.

// hotMinPostings is the length from which a segment's list is decoded.
var hotMinPostings uint64 = 128

// hotBuildSync builds decoded lists on the searching goroutine instead of
// in the background, for tests.
var hotBuildSync = false

type hotKey struct{ field, term string }

// hotList is a decoded postings list: documents ascending, each with the
// term's frequency and the field's length.
type hotList struct {
	docs  []uint32
	freqs []uint32
	lens  []uint32
	// weights are the postings' weighted, length-normalized term
	// frequencies for the field parameters last asked for: those change
	// only when writes move the field's average length, while computing
	// them was most of reading a list.
	weights atomic.Pointer[listWeights]
}

// listWeights are posting.weightedTFLen of each posting of a list.
type listWeights struct {
	weight, avgLen float64
	tf             []float64
}

// weighted returns f.weightedTFLen of each posting, computed once for f's
// weight and average length.
func (l *hotList) weighted(f *posting) []float64 {
	if w := l.weights.Load(); w != nil && w.weight == f.weight && w.avgLen == f.avgLen {
		return w.tf
	}
	w := &listWeights{weight: f.weight, avgLen: f.avgLen, tf: make([]float64, len(l.docs))}
	for i := range l.docs {
		w.tf[i] = f.weightedTFLen(uint64(l.freqs[i]), float64(l.lens[i]))
	}
	l.weights.Store(w)
	return w.tf
}

// hotPostings are a segment's decoded long lists.
type hotPostings struct {
	lists map[hotKey]*hotList
}

func (h *hotPostings) lookup(field, term string) *hotList {
	if h == nil {
		return nil
	}
	return h.lists[hotKey{field, term}]
}

// buildHot decodes every list of at least min postings in the given
// fields of seg. It stops early, returning nil, when ctx is done.
func buildHot(ctx context.Context, seg segment.Segment, fields []WeightedField, min uint64) (*hotPostings, error) {
	h := &hotPostings{lists: map[hotKey]*hotList{}}
	for _, f := range fields {
		dict, err := seg.Dictionary(f.Name)
		if err != nil {
			return nil, err
		}
		it := dict.AutomatonIterator(nil, nil, nil)
		for {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e, err := it.Next()
			if err != nil {
				return nil, err
			}
			if e == nil {
				break
			}
			if e.Count < min {
				continue
			}
			l, ok, err := decodeList(dict, e.Term, e.Count)
			if err != nil {
				return nil, err
			}
			if ok {
				h.lists[hotKey{f.Name, e.Term}] = l
			}
		}
	}
	return h, nil
}

// decodeList reads one postings list; ok is false when a value does not
// fit the flat form (then the list stays with zap).
func decodeList(dict segment.TermDictionary, term string, n uint64) (*hotList, bool, error) {
	pl, err := dict.PostingsList([]byte(term), nil, nil)
	if err != nil {
		return nil, false, err
	}
	return decodePostings(pl, n)
}

// decodePostings reads the n postings of pl into the flat form; ok is
// false when a value does not fit it.
func decodePostings(pl segment.PostingsList, n uint64) (*hotList, bool, error) {
	l := &hotList{docs: make([]uint32, 0, n), freqs: make([]uint32, 0, n), lens: make([]uint32, 0, n)}
	it := pl.Iterator(true, true, false, nil)
	for {
		p, err := it.Next()
		if err != nil {
			return nil, false, err
		}
		if p == nil {
			return l, true, nil
		}
		np, ok := p.(normLength)
		if !ok || p.Number() > 1<<32-1 || p.Frequency() > 1<<32-1 || np.NormUint64() > 1<<32-1 {
			return nil, false, nil
		}
		l.docs = append(l.docs, uint32(p.Number()))
		l.freqs = append(l.freqs, uint32(p.Frequency()))
		l.lens = append(l.lens, uint32(np.NormUint64()))
	}
}

// The short lists, under hotMinPostings, are most of the lists a query
// opens, and for them finding the list costs more than reading it: a
// lookup in the field's FST, then a postings list and an iterator set up,
// per field, per segment, per shard. So a segment keeps the short lists
// it was asked for, decoded (a list the dictionary lacks as an empty
// one), up to a bound in postings proportional to its size; past it, it
// starts afresh. A kept list is the segment's data, which never changes,
// not an answer to a query, so nothing in it goes stale.

// shortListCache turns the keeping of short lists off, for tests that
// compare with zap's reading.
var shortListCache = true

// shortListBudget is how many postings, per document of the segment plus
// a floor, a segment keeps in short lists (12 bytes each, and a map entry
// per list).
const (
	shortListsPerDoc = 4
	shortListsFloor  = 1 << 16
)

type shortLists struct {
	mu       sync.RWMutex
	lists    map[hotKey]*hotList
	postings int // kept, counting an empty list as one
}

// postings returns field's list of term in seg: a decoded one (long, or
// short and kept) as l, or else zap's postings list as pl.
func (sc *segmentColumns) postings(seg segment.Segment, field, term string) (l *hotList, pl segment.PostingsList, err error) {
	if l = sc.hot.Load().lookup(field, term); l != nil {
		return l, nil, nil
	}
	k := hotKey{field, term}
	if shortListCache {
		sc.short.mu.RLock()
		l = sc.short.lists[k]
		sc.short.mu.RUnlock()
		if l != nil {
			return l, nil, nil
		}
	}
	dict, err := seg.Dictionary(field)
	if err != nil {
		return nil, nil, err
	}
	// No preallocated list: zap's reuse of one for a term the dictionary
	// lacks leaves it pointing at no segment. Deleted documents are
	// dropped by the caller, so the list is the segment's, whatever the
	// snapshot.
	if pl, err = dict.PostingsList([]byte(term), nil, nil); err != nil {
		return nil, nil, err
	}
	n := pl.Count()
	if !shortListCache || n >= hotMinPostings {
		return nil, pl, nil
	}
	l, ok, err := decodePostings(pl, n)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, pl, nil
	}
	sc.short.keep(k, l, shortListsFloor+shortListsPerDoc*int(seg.Count()))
	return l, nil, nil
}

// keep adds a decoded short list, starting afresh past budget postings.
func (s *shortLists) keep(k hotKey, l *hotList, budget int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists == nil || s.postings+len(l.docs)+1 > budget {
		s.lists, s.postings = map[hotKey]*hotList{}, 0
	}
	if _, ok := s.lists[k]; !ok {
		s.lists[k] = l
		s.postings += len(l.docs) + 1
	}
}

// hotBuilder decodes new segments' long lists one segment at a time, in
// the background, each under a reference to its snapshot so that a merge
// cannot close the segment underneath.
type hotBuilder struct {
	mu      sync.Mutex
	started map[segment.Segment]bool
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	queue   chan hotJob
}

type hotJob struct {
	snap *scorch.IndexSnapshot
	seg  segment.Segment
	sc   *segmentColumns
}

// schedule starts decoding the segments of snap not seen before.
func (cc *columnCache) scheduleHot(snap *scorch.IndexSnapshot) {
	b := &cc.hot
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started == nil {
		b.started = map[segment.Segment]bool{}
		b.ctx, b.stop = context.WithCancel(context.Background())
		b.queue = make(chan hotJob, 1024)
		b.wg.Add(1)
		go b.run()
	}
	if b.ctx.Err() != nil {
		return
	}
	live := make(map[segment.Segment]bool, len(snap.Segments()))
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		live[seg] = true
		if b.started[seg] {
			continue
		}
		sc := cc.entry(seg)
		if hotBuildSync {
			b.started[seg] = true
			h, err := buildHot(b.ctx, seg, DefaultFields, hotMinPostings)
			if err == nil {
				sc.hot.Store(h)
			}
			continue
		}
		snap.AddRef()
		select {
		case b.queue <- hotJob{snap, seg, sc}:
			b.started[seg] = true
		default:
			snap.DecRef() // queue full: try again on a later search
		}
	}
	for seg := range b.started {
		if !live[seg] {
			delete(b.started, seg)
		}
	}
}

func (b *hotBuilder) run() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			for {
				select {
				case j := <-b.queue:
					j.snap.DecRef()
				default:
					return
				}
			}
		case j := <-b.queue:
			h, err := buildHot(b.ctx, j.seg, DefaultFields, hotMinPostings)
			if err == nil {
				j.sc.hot.Store(h)
			}
			j.snap.DecRef()
		}
	}
}

// close stops the background decoding and waits for it.
func (cc *columnCache) close() {
	b := &cc.hot
	b.mu.Lock()
	if b.stop != nil {
		b.stop()
	}
	b.mu.Unlock()
	b.wg.Wait()
}
