package index

import (
	"context"
	"strconv"

	bq "github.com/blevesearch/bleve/v2/search/query"
)

// termAtATime enables the term-at-a-time path for plain word queries
// (taat.go); tests turn it off to compare with bleve's searchers.
var termAtATime = true

// SearchShard runs phase 2 of a search on this shard.
func (s *localShard) SearchShard(ctx context.Context, sr *ShardRequest) (*ShardResult, error) {
	p, snap, done, err := s.begin(sr)
	if err != nil {
		return nil, err
	}
	defer done()
	tr := translator{text: s.an.text, expand: sr.Stats.expander(), cols: &s.cols, guard: s.guard(ctx, sr)}
	var tree *textNode
	if termAtATime {
		// Plain words from a fan-out in this process: translated and
		// prepared once for all its shards.
		tree = sr.sharedTree()
	}
	shared := tree != nil
	var scored bq.Query
	if !shared {
		if tr.expand == nil {
			// Asked without phase 1: the shard's own terms, within the budget.
			ex, err := s.newExpansion(ctx, snap, p, sr)
			if err != nil {
				return nil, err
			}
			tr.expand = ex.terms
		}
		if scored, err = tr.query(p); err != nil {
			return nil, err
		}
	}
	var dist map[string]int
	var ids []string
	if p.similar != nil {
		matches := s.ph.search(p.similar.hash, p.similar.dist)
		dist = make(map[string]int, len(matches))
		ids = make([]string, len(matches))
		for i, m := range matches {
			dist[m.id] = m.dist
			ids[i] = m.id
		}
	}
	filter, ranges, err := tr.filter(&p.req.Filter, ids)
	if err != nil {
		return nil, err
	}
	if !shared && scored != nil && sr.Stats != nil && termAtATime {
		tree, _ = textTree(scored)
	}

	s.cols.retain(snap)
	s.cols.scheduleHot(snap)
	c, err := newCollector(snap, &s.cols, p, ranges, dist, s.guard(ctx, sr))
	if err != nil {
		return nil, err
	}
	if tree != nil {
		if !shared {
			if err := tree.prepare(sr.Stats, sr.bm25Stats(), snap); err != nil {
				return nil, err
			}
		}
		err = c.runText(ctx, tree, filter, s.idx.Mapping())
	} else {
		err = c.run(ctx, searchQuery(scored, filter, sr.Stats), s.idx.Mapping(), scored != nil)
	}
	if err != nil {
		return nil, err
	}
	res := c.result()
	if sr.Records > 0 {
		if err := s.inlineRecords(ctx, snap, sr, res); err != nil {
			return nil, err
		}
	}
	// The hits' places hold in snap alone, which closes on return.
	for i := range res.Hits {
		res.Hits[i].at = docAt{}
	}
	return res, nil
}

// searchQuery is the query bleve's searchers run for phase 2: the scored
// part with the global statistics, restricted by the filter (nil when
// there is neither: every live document).
func searchQuery(scored, filter bq.Query, stats *TermStats) bq.Query {
	switch {
	case scored != nil:
		if stats != nil {
			scored = &statsQuery{inner: scored, global: stats}
		}
		if filter == nil {
			return scored
		}
		b := bq.NewBooleanQuery([]bq.Query{scored}, nil, nil)
		b.AddFilter(filter)
		return b
	case filter != nil:
		return filter
	}
	return nil
}

// guard is what the walks of one shard call check: the call's deadline,
// and at low priority the index's foreground calls to step aside for.
func (s *localShard) guard(ctx context.Context, sr *ShardRequest) walkGuard {
	return walkGuard{ctx: ctx, yield: sr.LowPriority, fg: s.fg}
}

// compareHits orders two hits by the request's sort keys, the same way
// each shard ordered them, so the merged order equals a single index's.
func compareHits(a, b *ShardHit, keys []sortKey) int {
	return compareSortValues(keys, a.Score, b.Score, a.Sort, b.Sort)
}

// compareSortValues orders two hits given as scores and sort values (one
// per key; unused for _score): negative when the first comes first.
func compareSortValues(keys []sortKey, as, bs float64, av, bv []string) int {
	for i, k := range keys {
		c := 0
		if k.field == "_score" {
			switch {
			case as < bs:
				c = -1
			case as > bs:
				c = 1
			}
		} else if i < len(av) && i < len(bv) {
			c = compareStrings(av[i], bv[i])
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scoreString formats a score for a cursor so that it parses back to the
// same float64.
func scoreString(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
