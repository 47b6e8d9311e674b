package index

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/analysis"
)

// VersionedShard is a Shard that can tell when its contents change. The
// fan-out keeps the term statistics such a shard reported for as long as
// its version stays the same, and skips phase 1 for a search whose terms
// it knows on every shard: one call per shard instead of two. A shard
// that cannot tell (a remote shard without the information, say) simply
// does not implement it and answers phase 1 every time.
type VersionedShard interface {
	Shard
	// ContentVersion returns a number that two calls return alike only
	// if the shard's searchable contents did not change between them.
	// stable is false while a change is under way: the contents may
	// change at any moment, and statistics read then are not kept.
	ContentVersion() (version uint64, stable bool)
}

// FanoutStats count how searches got their global term statistics.
type FanoutStats struct {
	// StatsCached is the searches scored with kept statistics alone,
	// without a phase 1.
	StatsCached uint64
	// StatsRounds is the searches that asked the shards (phase 1).
	StatsRounds uint64
	// StatsStale is the searches run twice because a shard's contents
	// changed while it was scored with statistics kept for the old ones.
	StatsStale uint64
	// Waited is the cheap searches that waited for their turn, whether
	// they got it or their deadline came first
	// (FanoutOptions.Searches).
	Waited uint64
}

type fanoutCounters struct{ cached, rounds, stale, waited atomic.Uint64 }

// Stats returns the fan-out's counters.
func (f *Fanout) Stats() FanoutStats {
	return FanoutStats{StatsCached: f.counters.cached.Load(), StatsRounds: f.counters.rounds.Load(), StatsStale: f.counters.stale.Load(), Waited: f.counters.waited.Load()}
}

// maxCachedTerms bounds the (field, term) statistics kept per shard; past
// it the shard's terms are dropped and learnt again.
const maxCachedTerms = 1 << 18

type fieldTerm struct{ field, term string }

// shardStats are one shard's statistics at one version: its document
// count and field lengths, and the document frequency of every (field,
// term) a phase 1 on it has reported since.
type shardStats struct {
	mu          sync.RWMutex
	valid       bool
	version     uint64
	docCount    uint64
	fieldLength map[string]uint64
	docFreq     map[fieldTerm]uint64
}

// addTo adds the shard's statistics of keys to dst when it has them all
// at version, and reports whether it did; dst is untouched otherwise.
func (c *shardStats) addTo(dst *TermStats, version uint64, keys []fieldTerm) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.valid || c.version != version {
		return false
	}
	for _, k := range keys {
		if _, ok := c.docFreq[k]; !ok {
			return false
		}
	}
	dst.DocCount += c.docCount
	for f, n := range c.fieldLength {
		dst.FieldLength[f] += n
	}
	for _, k := range keys {
		terms := dst.DocFreq[k.field]
		if terms == nil {
			terms = map[string]uint64{}
			dst.DocFreq[k.field] = terms
		}
		terms[k.term] += c.docFreq[k]
	}
	return true
}

// addFreqs adds the shard's document frequency of each of keys to df
// when it has them all at version, and reports whether it did (df is of
// no use otherwise).
func (c *shardStats) addFreqs(df []uint64, version uint64, keys []fieldTerm) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.valid || c.version != version {
		return false
	}
	for i, k := range keys {
		n, ok := c.docFreq[k]
		if !ok {
			return false
		}
		df[i] += n
	}
	return true
}

// keptBase is the part of the kept statistics that no search's terms
// change: the shards' document counts and field lengths summed, at the
// shards' versions. It is summed once per change of any shard rather
// than per search.
type keptBase struct {
	versions    []uint64
	docCount    uint64
	fieldLength map[string]uint64 // read only: shared by every search's statistics
}

// keptSums returns the global statistics of keys summed from what every
// shard is known to hold at its version, when every shard is stable and
// has every key kept at that version.
func (f *Fanout) keptSums(versions []uint64, stable []bool, keys []fieldTerm) (*TermStats, bool) {
	for _, ok := range stable {
		if !ok {
			return nil, false
		}
	}
	df := make([]uint64, len(keys))
	for i := range f.shards {
		if !f.cache[i].addFreqs(df, versions[i], keys) {
			return nil, false
		}
	}
	b := f.base.Load()
	if b == nil || !slices.Equal(b.versions, versions) {
		if b = f.sumBase(versions); b == nil {
			return nil, false
		}
		f.base.Store(b)
	}
	st := newTermStats()
	st.DocCount, st.FieldLength = b.docCount, b.fieldLength
	for i, k := range keys {
		terms := st.DocFreq[k.field]
		if terms == nil {
			terms = map[string]uint64{}
			st.DocFreq[k.field] = terms
		}
		terms[k.term] += df[i]
	}
	return st, true
}

// sumBase sums the kept document counts and field lengths of every shard
// at versions; nil when a shard has none kept at its version.
func (f *Fanout) sumBase(versions []uint64) *keptBase {
	b := &keptBase{versions: slices.Clone(versions), fieldLength: map[string]uint64{}}
	for i := range f.shards {
		c := &f.cache[i]
		c.mu.RLock()
		ok := c.valid && c.version == versions[i]
		if ok {
			b.docCount += c.docCount
			for field, n := range c.fieldLength {
				b.fieldLength[field] += n
			}
		}
		c.mu.RUnlock()
		if !ok {
			return nil
		}
	}
	return b
}

// store keeps what a phase 1 at version reported.
func (c *shardStats) store(version uint64, part *TermStats) {
	if part == nil || part.FieldLength == nil {
		return // a query with nothing to score: no field lengths to keep
	}
	n := 0
	for _, terms := range part.DocFreq {
		n += len(terms)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.version != version || len(c.docFreq)+n > maxCachedTerms {
		c.valid, c.version = true, version
		c.docCount, c.fieldLength = part.DocCount, maps.Clone(part.FieldLength)
		c.docFreq = make(map[fieldTerm]uint64, n)
	}
	for f, terms := range part.DocFreq {
		for t, df := range terms {
			c.docFreq[fieldTerm{f, t}] = df
		}
	}
}

// statKeys lists, without repeats, the (field, term) pairs whose
// statistics scoring p reads, when p is plain words that the
// term-at-a-time tree covers (the words analyze the same everywhere, and
// each opens exactly its term in each of its fields); ok is false for
// any other query, whose terms only a shard can tell.
func statKeys(p *plan, an analysis.Analyzer) (keys []fieldTerm, ok bool) {
	q := p.plainText(an)
	if q == nil {
		return nil, false
	}
	tree, _ := textTree(q)
	// A few words' keys are told apart by a look along the list; a map
	// takes over for many.
	var seen map[fieldTerm]bool
	var walk func(n *textNode)
	walk = func(n *textNode) {
		if n.op == opLeaf {
			for _, f := range n.leaf.fields {
				k := fieldTerm{f.Name, n.leaf.term}
				if seen == nil && len(keys) >= 32 {
					seen = make(map[fieldTerm]bool, 2*len(keys))
					for _, k := range keys {
						seen[k] = true
					}
				}
				if (seen == nil && !slices.Contains(keys, k)) || (seen != nil && !seen[k]) {
					if seen != nil {
						seen[k] = true
					}
					keys = append(keys, k)
				}
			}
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(tree)
	return keys, true
}

// termStats returns the global statistics for scoring p: summed from
// what the shards' versions are known to hold when every term is known,
// else from a phase 1 (kept for next time). Shards that fail phase 1 are
// passed to fail and left out of the sums. kept is, per shard, the
// version whose kept statistics went into the sums (0: the shard's came
// from phase 1).
func (f *Fanout) termStats(ctx context.Context, req *Request, p *plan, an analysis.Analyzer, low bool, fail func(int, error)) (_ *TermStats, kept []uint64, _ error) {
	keys, known := statKeys(p, an)
	versions := make([]uint64, len(f.shards))
	stable := make([]bool, len(f.shards))
	for i, sh := range f.shards {
		if vs, ok := sh.(VersionedShard); ok {
			versions[i], stable[i] = vs.ContentVersion()
		}
	}
	if known {
		if st, ok := f.keptSums(versions, stable, keys); ok {
			f.counters.cached.Add(1)
			return st, versions, nil
		}
	}
	kept = make([]uint64, len(f.shards))
	f.counters.rounds.Add(1)
	phase1 := &ShardRequest{Request: req, Budget: f.opts.Budget, LowPriority: low, plan: p}
	parts, errs := callShards(ctx, f, low, func(ctx context.Context, i int, s Shard) (*TermStats, error) {
		if known && stable[i] {
			if part := newTermStats(); f.cache[i].addTo(part, versions[i], keys) {
				kept[i] = versions[i]
				return part, nil
			}
		}
		part, err := s.TermStats(ctx, phase1)
		if err == nil && stable[i] {
			// Kept only when no change began or ended during the call,
			// so that the statistics are exactly those of the version.
			if v, ok := s.(VersionedShard).ContentVersion(); ok && v == versions[i] {
				f.cache[i].store(v, part)
			}
		}
		return part, err
	})
	for _, err := range errs {
		if errors.Is(err, ErrBadRequest) {
			return nil, nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("search phase 1: %w", err)
	}
	stats := newTermStats()
	for i, part := range parts {
		if errs[i] != nil {
			fail(i, errs[i])
			continue
		}
		stats.Add(part)
	}
	return stats, kept, nil
}
