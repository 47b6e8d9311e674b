package index

import (
	"math/bits"
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// phashIndex finds images whose 64-bit perceptual hash is within Hamming
// distance k of a query hash, by multi-index hashing: the hash is cut into
// four 16-bit chunks, each with a table from chunk value to the bitmap of
// images having it. Two hashes within distance k differ in at most ⌊k/4⌋
// bits of at least one chunk (pigeonhole), so probing every chunk value
// within that radius of the query's chunks finds every true match; each
// candidate's full distance is then verified, so none is reported falsely.
//
// Ordinals are per shard and in memory; the index is rebuilt from the
// shard's phash terms when the shard opens.
type phashIndex struct {
	mu     sync.RWMutex
	ords   map[string]uint32
	ids    []string
	hashes []uint64
	live   *roaring.Bitmap
	tables [phashChunks]map[uint16]*roaring.Bitmap
}

const (
	phashChunks    = 4
	phashChunkBits = 64 / phashChunks
)

type phashMatch struct {
	id   string
	dist int
}

func newPHashIndex() *phashIndex {
	p := &phashIndex{ords: map[string]uint32{}, live: roaring.New()}
	for i := range p.tables {
		p.tables[i] = map[uint16]*roaring.Bitmap{}
	}
	return p
}

func chunk(h uint64, i int) uint16 { return uint16(h >> (phashChunkBits * i)) }

// set records id's hash, replacing any earlier one.
func (p *phashIndex) set(id string, h uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(id)
	ord := uint32(len(p.ids))
	p.ids = append(p.ids, id)
	p.hashes = append(p.hashes, h)
	p.ords[id] = ord
	p.live.Add(ord)
	for i := range p.tables {
		c := chunk(h, i)
		b := p.tables[i][c]
		if b == nil {
			b = roaring.New()
			p.tables[i][c] = b
		}
		b.Add(ord)
	}
	p.maybeCompactLocked()
}

func (p *phashIndex) remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(id)
}

func (p *phashIndex) removeLocked(id string) {
	ord, ok := p.ords[id]
	if !ok {
		return
	}
	delete(p.ords, id)
	p.live.Remove(ord)
	h := p.hashes[ord]
	for i := range p.tables {
		c := chunk(h, i)
		if b := p.tables[i][c]; b != nil {
			b.Remove(ord)
			if b.IsEmpty() {
				delete(p.tables[i], c)
			}
		}
	}
}

// maybeCompactLocked renumbers once dead ordinals outnumber live ones, so
// churn does not grow memory without bound.
func (p *phashIndex) maybeCompactLocked() {
	if len(p.ids) < 1024 || uint64(len(p.ids)) < 2*p.live.GetCardinality() {
		return
	}
	// Rebuild field by field: p.mu is held by the caller and must survive.
	ids, hashes, live := p.ids, p.hashes, p.live
	p.ords, p.ids, p.hashes, p.live = map[string]uint32{}, nil, nil, roaring.New()
	for i := range p.tables {
		p.tables[i] = map[uint16]*roaring.Bitmap{}
	}
	it := live.Iterator()
	for it.HasNext() {
		ord := it.Next()
		id, h := ids[ord], hashes[ord]
		n := uint32(len(p.ids))
		p.ids = append(p.ids, id)
		p.hashes = append(p.hashes, h)
		p.ords[id] = n
		p.live.Add(n)
		for i := range p.tables {
			c := chunk(h, i)
			b := p.tables[i][c]
			if b == nil {
				b = roaring.New()
				p.tables[i][c] = b
			}
			b.Add(n)
		}
	}
}

// candidates returns the bitmap of ordinals that may be within k of h.
func (p *phashIndex) candidates(h uint64, k int) *roaring.Bitmap {
	radius := k / phashChunks
	var probe []*roaring.Bitmap
	for i := range p.tables {
		forEachNeighbour(chunk(h, i), radius, func(v uint16) {
			if b := p.tables[i][v]; b != nil {
				probe = append(probe, b)
			}
		})
	}
	if len(probe) == 0 {
		return roaring.New()
	}
	c := roaring.FastOr(probe...)
	c.And(p.live)
	return c
}

// search returns every image within distance k of h, nearest first, ties
// by id.
func (p *phashIndex) search(h uint64, k int) []phashMatch {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []phashMatch
	it := p.candidates(h, k).Iterator()
	for it.HasNext() {
		ord := it.Next()
		if d := bits.OnesCount64(p.hashes[ord] ^ h); d <= k {
			out = append(out, phashMatch{p.ids[ord], d})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].dist != out[j].dist {
			return out[i].dist < out[j].dist
		}
		return out[i].id < out[j].id
	})
	return out
}

func (p *phashIndex) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return int(p.live.GetCardinality())
}

// forEachNeighbour calls fn for every 16-bit value within Hamming distance
// radius of v (radius ≤ 2 for k ≤ 11: at most 1+16+120 values).
func forEachNeighbour(v uint16, radius int, fn func(uint16)) {
	fn(v)
	if radius < 1 {
		return
	}
	for i := 0; i < phashChunkBits; i++ {
		vi := v ^ 1<<i
		fn(vi)
		if radius < 2 {
			continue
		}
		for j := i + 1; j < phashChunkBits; j++ {
			fn(vi ^ 1<<j)
		}
	}
	if radius >= 3 {
		// Distances ≤ 10 never need radius 3; larger radii enumerate the
		// whole combination space generically.
		for mask := 0; mask < 1<<phashChunkBits; mask++ {
			if n := bits.OnesCount16(uint16(mask)); n >= 3 && n <= radius {
				fn(v ^ uint16(mask))
			}
		}
	}
}
