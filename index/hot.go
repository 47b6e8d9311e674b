package index

import (
	"context"
	"hash/maphash"
	"math"
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

// flatLists are decoded postings lists in a few flat arrays and a map of
// integers, none holding a pointer: the garbage collector marks them as a
// handful of objects, not several per list (a million kept lists made
// every collection's marking take a second). The arrays only grow, and a
// list, once added, never changes, so a reader may keep a slice of them
// while later lists are appended (under the owner's lock).
type flatLists struct {
	seed    maphash.Seed
	index   map[uint64]uint32 // hash of field and term: 1 + first entry
	entries []flatEntry
	keys    []byte   // each entry's field, then its term
	data    []uint32 // each list's documents, then frequencies, then lengths
}

// flatEntry is one list: where its key and postings are.
type flatEntry struct {
	key, field, term uint32 // offset in keys; lengths of field and term
	off, n           uint32 // offset in data; postings
	next             uint32 // 1 + the next entry of the same hash; 0: none
}

// flatList is a decoded postings list: documents ascending, each with the
// term's frequency and the field's length.
type flatList struct {
	docs, freqs, lens []uint32
}

func newFlatLists() flatLists {
	return flatLists{seed: maphash.MakeSeed(), index: map[uint64]uint32{}}
}

func (fl *flatLists) hash(field, term string) uint64 {
	return maphash.String(fl.seed, field)*0x9e3779b97f4a7c15 ^ maphash.String(fl.seed, term)
}

// find returns the entry of field and term, or -1.
func (fl *flatLists) find(field, term string) int {
	if fl.index == nil {
		return -1
	}
	return fl.findHashed(fl.hash(field, term), field, term)
}

// findHashed is find given the key's hash.
func (fl *flatLists) findHashed(h uint64, field, term string) int {
	for i := fl.index[h]; i != 0; i = fl.entries[i-1].next {
		e := &fl.entries[i-1]
		k := fl.keys[e.key : e.key+e.field+e.term]
		if string(k[:e.field]) == field && string(k[e.field:]) == term {
			return int(i - 1)
		}
	}
	return -1
}

// list returns entry i's postings.
func (fl *flatLists) list(i int) flatList {
	e := &fl.entries[i]
	n := e.n
	d := fl.data[e.off : e.off+3*n : e.off+3*n]
	return flatList{docs: d[:n:n], freqs: d[n : 2*n : 2*n], lens: d[2*n:]}
}

// docsOf returns entry i's documents, of a list added by addDocs.
func (fl *flatLists) docsOf(i int) []uint32 {
	e := &fl.entries[i]
	return fl.data[e.off : e.off+e.n : e.off+e.n]
}

// fits reports whether a list of n postings of the given width (3 for a
// postings list, 1 for documents alone) keyed by field and term can be
// added without an offset outgrowing its 32 bits.
func (fl *flatLists) fits(field, term string, n, width int) bool {
	const max = uint64(math.MaxUint32)
	return uint64(len(fl.data))+uint64(width)*uint64(n) <= max && uint64(len(fl.keys)+len(field)+len(term)) <= max && uint64(len(fl.entries)) < max
}

// add appends a list that find does not hold.
func (fl *flatLists) add(field, term string, l flatList) {
	fl.addHashed(fl.hash(field, term), field, term, l.docs, l.freqs, l.lens)
}

// addHashed appends, given the key's hash, the parts of a list of
// len(parts[0]) postings that find does not hold.
func (fl *flatLists) addHashed(h uint64, field, term string, parts ...[]uint32) {
	fl.entries = append(fl.entries, flatEntry{key: uint32(len(fl.keys)), field: uint32(len(field)), term: uint32(len(term)),
		off: uint32(len(fl.data)), n: uint32(len(parts[0])), next: fl.index[h]})
	fl.index[h] = uint32(len(fl.entries))
	fl.keys = append(append(fl.keys, field...), term...)
	for _, p := range parts {
		fl.data = append(fl.data, p...)
	}
}

// hotPostings are a segment's decoded long lists, and the weights last
// computed for each.
type hotPostings struct {
	flatLists
	// weights are (one pointer per long list, few beside the short
	// lists), per list, the postings' weighted, length-normalized
	// term frequencies for the field parameters last asked for: those
	// change only when writes move the field's average length, while
	// computing them was most of reading a list.
	weights []atomic.Pointer[listWeights]
}

// listWeights are posting.weightedTFLen of each posting of a list.
type listWeights struct {
	weight, avgLen float64
	tf             []float64
}

// lookup returns the decoded list of field and term and its entry (the
// index of its weights), or -1 when the list is not decoded (short, or h
// nil).
func (h *hotPostings) lookup(field, term string) (flatList, int) {
	if h == nil {
		return flatList{}, -1
	}
	i := h.find(field, term)
	if i < 0 {
		return flatList{}, -1
	}
	return h.list(i), i
}

// weightsOf returns the holder of list i's weights.
func (h *hotPostings) weightsOf(i int) *atomic.Pointer[listWeights] { return &h.weights[i] }

// weighted returns f.weightedTFLen of each posting of l, kept in w for
// f's weight and average length.
func weighted(w *atomic.Pointer[listWeights], l flatList, f *posting) []float64 {
	if lw := w.Load(); lw != nil && lw.weight == f.weight && lw.avgLen == f.avgLen {
		return lw.tf
	}
	lw := &listWeights{weight: f.weight, avgLen: f.avgLen, tf: l.weigh(f, make([]float64, 0, len(l.docs)))}
	w.Store(lw)
	return lw.tf
}

// weigh appends f.weightedTFLen of each posting of l to buf.
func (l flatList) weigh(f *posting, buf []float64) []float64 {
	buf = buf[:0]
	for i := range l.docs {
		buf = append(buf, f.weightedTFLen(uint64(l.freqs[i]), float64(l.lens[i])))
	}
	return buf
}

// buildHot decodes every list of at least min postings in the given
// fields of seg. It stops early, returning nil, when ctx is done.
func buildHot(ctx context.Context, seg segment.Segment, fields []WeightedField, min uint64) (*hotPostings, error) {
	h := &hotPostings{flatLists: newFlatLists()}
	var scratch flatList
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
			pl, err := dict.PostingsList([]byte(e.Term), nil, nil)
			if err != nil {
				return nil, err
			}
			ok, err := decodePostings(pl, &scratch)
			if err != nil {
				return nil, err
			}
			if ok && h.fits(f.Name, e.Term, len(scratch.docs), 3) {
				h.add(f.Name, e.Term, scratch)
			}
		}
	}
	h.weights = make([]atomic.Pointer[listWeights], len(h.entries))
	return h, nil
}

// decodePostings reads the postings of pl into l, reusing its arrays; ok
// is false when a value does not fit the flat form.
func decodePostings(pl segment.PostingsList, l *flatList) (ok bool, err error) {
	l.docs, l.freqs, l.lens = l.docs[:0], l.freqs[:0], l.lens[:0]
	it := pl.Iterator(true, true, false, nil)
	for {
		p, err := it.Next()
		if err != nil {
			return false, err
		}
		if p == nil {
			return true, nil
		}
		np, ok := p.(normLength)
		if !ok || p.Number() > 1<<32-1 || p.Frequency() > 1<<32-1 || np.NormUint64() > 1<<32-1 {
			return false, nil
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
// a floor, a segment keeps in short lists (12 bytes each).
const (
	shortListsPerDoc = 4
	shortListsFloor  = 1 << 16
)

// shortLists are a segment's kept short lists.
type shortLists struct {
	mu       sync.RWMutex
	lists    flatLists
	postings int // kept, counting an empty list as one
}

// lookup returns the kept list of field and term, if it is kept.
func (s *shortLists) lookup(field, term string) (flatList, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i := s.lists.find(field, term); i >= 0 {
		return s.lists.list(i), true
	}
	return flatList{}, false
}

// keep adds a decoded short list, starting afresh past budget postings.
func (s *shortLists) keep(field, term string, l flatList, budget int) {
	s.keepParts(field, term, budget, l.docs, l.freqs, l.lens)
}

// lookupDocs returns the kept documents of field and term, if kept by
// keepDocs.
func (s *shortLists) lookupDocs(field, term string) ([]uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i := s.lists.find(field, term); i >= 0 {
		return s.lists.docsOf(i), true
	}
	return nil, false
}

// keepDocs adds a list of documents alone, starting afresh past budget.
func (s *shortLists) keepDocs(field, term string, docs []uint32, budget int) {
	s.keepParts(field, term, budget, docs)
}

// keepParts adds the parts of a list, starting afresh past budget
// postings.
func (s *shortLists) keepParts(field, term string, budget int, parts ...[]uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(parts[0])
	if s.lists.index == nil || s.postings+n+1 > budget || !s.lists.fits(field, term, n, len(parts)) {
		// Fresh arrays, not truncated ones: readers may hold slices of
		// the old.
		s.lists, s.postings = newFlatLists(), 0
	}
	h := s.lists.hash(field, term)
	if s.lists.findHashed(h, field, term) >= 0 {
		return // kept meanwhile by another search
	}
	s.lists.addHashed(h, field, term, parts...)
	s.postings += n + 1
}

// postings returns field's list of term in seg, decoded (ok) as l, with
// the holder of its weights w when it is a long one (nil for a kept short
// one); or else zap's postings list as pl.
func (sc *segmentColumns) postings(seg segment.Segment, field, term string) (l flatList, w *atomic.Pointer[listWeights], ok bool, pl segment.PostingsList, err error) {
	h := sc.hot.Load()
	if l, i := h.lookup(field, term); i >= 0 {
		return l, h.weightsOf(i), true, nil, nil
	}
	if shortListCache {
		if l, ok = sc.short.lookup(field, term); ok {
			return l, nil, true, nil, nil
		}
	}
	dict, err := seg.Dictionary(field)
	if err != nil {
		return flatList{}, nil, false, nil, err
	}
	// No preallocated list: zap's reuse of one for a term the dictionary
	// lacks leaves it pointing at no segment. Deleted documents are
	// dropped by the caller, so the list is the segment's, whatever the
	// snapshot.
	if pl, err = dict.PostingsList([]byte(term), nil, nil); err != nil {
		return flatList{}, nil, false, nil, err
	}
	if !shortListCache || pl.Count() >= hotMinPostings {
		return flatList{}, nil, false, pl, nil
	}
	if ok, err = decodePostings(pl, &l); err != nil || !ok {
		return flatList{}, nil, false, pl, err
	}
	sc.short.keep(field, term, l, shortListsFloor+shortListsPerDoc*int(seg.Count()))
	return l, nil, true, nil, nil
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
