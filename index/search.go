package index

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	bq "github.com/blevesearch/bleve/v2/search/query"
)

// SearchShard runs phase 2 of a search on this shard.
func (s *localShard) SearchShard(ctx context.Context, sr *ShardRequest) (*ShardResult, error) {
	p, err := sr.Request.validate()
	if err != nil {
		return nil, err
	}
	tr := translator{text: s.an.text, expand: sr.Stats.expander()}
	scored, err := tr.query(p)
	if err != nil {
		return nil, err
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
	filter, err := translateFilter(&p.req.Filter, ids)
	if err != nil {
		return nil, err
	}
	var q bq.Query
	score := ""
	switch {
	case scored != nil:
		if sr.Stats != nil {
			scored = &statsQuery{inner: scored, global: sr.Stats}
		}
		if filter != nil {
			b := bq.NewBooleanQuery([]bq.Query{scored}, nil, nil)
			b.AddFilter(filter)
			q = b
		} else {
			q = scored
		}
	case filter != nil:
		q, score = filter, "none"
	default:
		q, score = bq.NewMatchAllQuery(), "none"
	}

	byDistance := p.sort[0].field == distanceKey
	want := p.from + p.size
	if p.after != nil {
		want = p.size
	}
	// The default order is score, then id. Sorting by id inside bleve
	// loads the id of every matching document; sorting by score alone does
	// not. So ask for one hit more by score alone, order those few by id
	// within equal scores, and use the exact sort only when equal scores
	// straddle the end of the window (then which of them belong in it
	// depends on ids bleve did not look at).
	fast := score == "" && p.after == nil && !byDistance && isDefaultSort(p.sort)
	run := func(fast bool) (*bleve.SearchResult, error) {
		req := bleve.NewSearchRequest(q)
		req.Score = score
		switch {
		case byDistance:
			// Every candidate is already known and verified; fetch them all
			// (filtered) and order by distance here.
			req.Size = len(ids)
			req.SortByCustom(search.SortOrder{&search.SortDocID{}})
		case fast:
			req.Size = want + 1
			req.SortByCustom(search.SortOrder{&search.SortScore{Desc: true}})
		default:
			req.Size = want
			req.SearchAfter = p.after
			req.SortByCustom(bleveSort(p.sort))
		}
		for _, fs := range p.facets {
			req.AddFacet(fs.name, facetRequest(fs))
		}
		res, err := s.idx.SearchInContext(ctx, req)
		if err != nil {
			return nil, queryBuildError(err)
		}
		return res, nil
	}
	res, err := run(fast)
	if err != nil {
		return nil, err
	}
	if fast {
		hits := res.Hits
		sort.SliceStable(hits, func(i, j int) bool {
			if hits[i].Score != hits[j].Score {
				return hits[i].Score > hits[j].Score
			}
			return hits[i].ID < hits[j].ID
		})
		if len(hits) > want && want > 0 && hits[want-1].Score == hits[want].Score {
			if res, err = run(false); err != nil {
				return nil, err
			}
		} else {
			res.Hits = hits[:min(len(hits), want)]
			for _, h := range res.Hits {
				h.Sort = []string{"_score", h.ID}
			}
		}
	}
	out := &ShardResult{Total: res.Total, Hits: make([]ShardHit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		sh := ShardHit{Hit: Hit{ID: h.ID, Score: h.Score}, Sort: h.Sort}
		if d, ok := dist[h.ID]; ok {
			d := d
			sh.Distance = &d
		}
		if byDistance {
			sh.Sort = []string{fmt.Sprintf("%03d", *sh.Distance), h.ID}
		}
		out.Hits = append(out.Hits, sh)
	}
	if byDistance {
		out.Hits = pageByDistance(out.Hits, p)
	}
	if len(p.facets) > 0 {
		out.Facets = make(map[string][]FacetValue, len(p.facets))
		for name, fr := range res.Facets {
			out.Facets[name] = facetValues(fr)
		}
	}
	return out, nil
}

// pageByDistance orders a shard's near-duplicates by (distance, id) and
// keeps the window the fan-out needs.
func pageByDistance(hits []ShardHit, p *plan) []ShardHit {
	sort.Slice(hits, func(i, j int) bool { return compareSortStrings(hits[i].Sort, hits[j].Sort, p.sort) < 0 })
	if p.after != nil {
		i := sort.Search(len(hits), func(i int) bool { return compareSortStrings(hits[i].Sort, p.after, p.sort) > 0 })
		hits = hits[i:]
		return hits[:min(len(hits), p.size)]
	}
	return hits[:min(len(hits), p.from+p.size)]
}

func isDefaultSort(keys []sortKey) bool {
	return len(keys) == 2 && keys[0].field == "_score" && keys[0].desc && keys[1].field == "_id" && !keys[1].desc
}

func bleveSort(keys []sortKey) search.SortOrder {
	out := make(search.SortOrder, 0, len(keys))
	for _, k := range keys {
		switch k.field {
		case "_score":
			out = append(out, &search.SortScore{Desc: k.desc})
		case "_id":
			out = append(out, &search.SortDocID{Desc: k.desc})
		default:
			sf := &search.SortField{Field: k.field, Desc: k.desc, Missing: search.SortFieldMissingLast}
			// Every sortable field holds one term per value, and numbers
			// and dates are one prefix-coded term whose byte order is
			// their numeric order, so all compare as strings. That keeps
			// the raw sort values usable as search_after values, including
			// the marker of a missing value, which bleve cannot decode.
			sf.Type = search.SortFieldAsString
			out = append(out, sf)
		}
	}
	return out
}

// compareHits orders two hits by the request's sort keys, the same way
// each shard ordered them, so the merged order equals a single index's.
func compareHits(a, b *ShardHit, keys []sortKey) int {
	for i, k := range keys {
		c := 0
		if k.field == "_score" {
			switch {
			case a.Score < b.Score:
				c = -1
			case a.Score > b.Score:
				c = 1
			}
		} else if i < len(a.Sort) && i < len(b.Sort) {
			c = compareStrings(a.Sort[i], b.Sort[i])
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

func compareSortStrings(a, b []string, keys []sortKey) int {
	for i, k := range keys {
		c := compareStrings(a[i], b[i])
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
