package index

import (
	"context"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
)

// Idle merges. bleve's tiered merge policy, like Lucene's, leaves a shard
// in several segments (six to ten at 125,000 documents), and much of a
// search's work is per segment: every word's list looked up in every
// field of every segment, a collector and columns entered for each. At a
// million documents in eight shards, the same searches cost a sixth less
// CPU on one segment a shard than on seven. A shard that takes writes
// all the time has to live with its segments, but most image indexes are
// loaded and then read; so a shard that no write has reached for a while
// merges its segments into one (what Elasticsearch users do by hand with
// a force merge after a bulk load), then builds the new segment's
// columns and decoded lists before it goes back to sleep. To bound the
// rewriting a shard with bursts of writes would do, it merges again only
// once the segments besides its largest hold an eighth as many documents
// as that one, or there are idleMergeSegments of them, and never past
// idleMergeMaxDocs.

// DefaultIdleMerge is how long a shard waits without writes before it
// merges its segments, unless Options.IdleMerge says otherwise.
const DefaultIdleMerge = 30 * time.Second

const (
	idleMergeSegments = 8
	idleMergeMaxDocs  = 5_000_000
)

// idleState is what a shard's idle merging knows of its writes.
type idleState struct {
	gen    uint64    // content version last seen
	since  time.Time // when it was first seen
	merged uint64    // content version last merged or found not worth it; 1 + gen, 0: none
}

// idleMergeDue reports whether the shard should merge now: no write for
// idle, and its segments worth merging.
func (s *localShard) idleMergeDue(st *idleState, now time.Time, idle time.Duration) bool {
	g, stable := s.ContentVersion()
	if !stable || g != st.gen || st.since.IsZero() {
		st.gen, st.since = g, now
		return false
	}
	if now.Sub(st.since) < idle || st.merged == g+1 {
		return false
	}
	st.merged = g + 1 // decided for this version, either way
	snap, err := s.snapshot()
	if err != nil {
		return false
	}
	defer snap.Close()
	var counts []uint64
	for _, ss := range snap.Segments() {
		counts = append(counts, ss.Segment().Count())
	}
	return worthMerging(counts)
}

// worthMerging applies the rule above to the segments' document counts.
func worthMerging(counts []uint64) bool {
	if len(counts) < 2 {
		return false
	}
	var largest, total uint64
	for _, n := range counts {
		largest, total = max(largest, n), total+n
	}
	if total > idleMergeMaxDocs {
		return false
	}
	return len(counts) >= idleMergeSegments || 8*(total-largest) >= largest
}

// Merge merges each shard's segments into one now, as an idle shard does
// on its own, and returns once the merged segments' caches are built: a
// force merge, for a loaded index about to be read.
func (ix *Index) Merge(ctx context.Context) error {
	for _, s := range ix.shards {
		if err := s.merge(ctx); err != nil {
			return fmt.Errorf("%s: merge: %w", s, err)
		}
	}
	return nil
}

// merge merges the shard's segments into one and warms the result.
func (s *localShard) merge(ctx context.Context) error {
	adv, err := s.idx.Advanced()
	if err != nil {
		return err
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	opts := mergeplan.SingleSegmentMergePlanOptions
	if err := sc.ForceMerge(ctx, &opts); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.warm(ctx)
}

// startIdleMerge runs the shards' idle merging until Close, one shard at
// a time.
func (ix *Index) startIdleMerge(idle time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	ix.stopIdle, ix.idleDone = cancel, make(chan struct{})
	tick := min(max(idle/4, 10*time.Millisecond), 5*time.Second)
	go func() {
		defer close(ix.idleDone)
		states := make([]idleState, len(ix.shards))
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i, s := range ix.shards {
				if !s.idleMergeDue(&states[i], time.Now(), idle) {
					continue
				}
				err := s.merge(ctx)
				if err == nil {
					ix.idleMerges.Add(1)
				} else if ctx.Err() == nil && ix.fan.opts.Logger != nil {
					ix.fan.opts.Logger.Warn("merging an idle shard", "shard", s.name, "err", err)
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
	}()
}
