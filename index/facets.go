package index

import (
	"fmt"
	"sort"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
)

// Facet counts are exact: every shard reports every value it has (bleve
// would otherwise trim each shard to its own top N and the merged counts
// would be approximate), and the fan-out adds them up and trims once.
// Numeric and date facets are fixed buckets, exact by construction.

const allTerms = 1 << 30

type bucket struct {
	name     string
	min, max *float64
}

func fp(v float64) *float64 { return &v }

// numericBuckets are the ranges reported for numeric facets, in order.
var numericBuckets = map[string][]bucket{
	fieldWidth:  pixelBuckets,
	fieldHeight: pixelBuckets,
	fieldBytes: {
		{"<100KB", nil, fp(100 << 10)}, {"100KB-1MB", fp(100 << 10), fp(1 << 20)},
		{"1MB-5MB", fp(1 << 20), fp(5 << 20)}, {"5MB-20MB", fp(5 << 20), fp(20 << 20)}, {">=20MB", fp(20 << 20), nil},
	},
	fieldISO: {
		{"<200", nil, fp(200)}, {"200-800", fp(200), fp(800)}, {"800-3200", fp(800), fp(3200)}, {">=3200", fp(3200), nil},
	},
	fieldFNumber: {
		{"<2", nil, fp(2)}, {"2-4", fp(2), fp(4)}, {"4-8", fp(4), fp(8)}, {">=8", fp(8), nil},
	},
	fieldFocal: {
		{"<24mm", nil, fp(24)}, {"24-50mm", fp(24), fp(50)}, {"50-105mm", fp(50), fp(105)}, {">=105mm", fp(105), nil},
	},
	fieldExposure: {
		{"<1/1000s", nil, fp(0.001)}, {"1/1000-1/60s", fp(0.001), fp(1.0 / 60)}, {"1/60-1s", fp(1.0 / 60), fp(1)}, {">=1s", fp(1), nil},
	},
}

var pixelBuckets = []bucket{
	{"<640", nil, fp(640)}, {"640-1280", fp(640), fp(1280)}, {"1280-1920", fp(1280), fp(1920)},
	{"1920-3840", fp(1920), fp(3840)}, {">=3840", fp(3840), nil},
}

type dateBucket struct {
	name       string
	start, end time.Time
}

// dateBuckets for taken_at: centuries before 1900, decades to 1990, then
// years up to next year.
var dateBuckets = func() []dateBucket {
	y := func(n int) time.Time { return time.Date(n, 1, 1, 0, 0, 0, 0, time.UTC) }
	var out []dateBucket
	out = append(out, dateBucket{"<1500", time.Time{}, y(1500)})
	for c := 1500; c < 1900; c += 100 {
		out = append(out, dateBucket{fmt.Sprintf("%ds", c), y(c), y(c + 100)})
	}
	for d := 1900; d < 1990; d += 10 {
		out = append(out, dateBucket{fmt.Sprintf("%ds", d), y(d), y(d + 10)})
	}
	last := time.Now().UTC().Year() + 1
	for n := 1990; n <= last; n++ {
		out = append(out, dateBucket{fmt.Sprint(n), y(n), y(n + 1)})
	}
	return out
}()

func facetRequest(fs facetSpec) *bleve.FacetRequest {
	switch fs.kind {
	case kindNumber:
		fr := bleve.NewFacetRequest(fs.field, len(numericBuckets[fs.field]))
		for _, b := range numericBuckets[fs.field] {
			fr.AddNumericRange(b.name, b.min, b.max)
		}
		return fr
	case kindDate:
		// Buckets over the compact Unix-seconds twin of the date.
		fr := bleve.NewFacetRequest(fs.field, len(dateBuckets))
		for _, b := range dateBuckets {
			var lo *float64
			if !b.start.IsZero() {
				lo = fp(unixSeconds(b.start))
			}
			fr.AddNumericRange(b.name, lo, fp(unixSeconds(b.end)))
		}
		return fr
	}
	return bleve.NewFacetRequest(fs.field, allTerms)
}

func facetValues(fr *search.FacetResult) []FacetValue {
	var out []FacetValue
	if fr.Terms != nil {
		for _, t := range fr.Terms.Terms() {
			out = append(out, FacetValue{t.Term, t.Count})
		}
	}
	for _, r := range fr.NumericRanges {
		out = append(out, FacetValue{r.Name, r.Count})
	}
	for _, r := range fr.DateRanges {
		out = append(out, FacetValue{r.Name, r.Count})
	}
	return out
}

// mergeFacets adds up the shards' counts and orders each facet: term facets
// by count then value, trimmed to the requested size; bucket facets in
// bucket order, empty buckets dropped.
func mergeFacets(specs []facetSpec, shards []map[string][]FacetValue) map[string][]FacetValue {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string][]FacetValue, len(specs))
	for _, fs := range specs {
		counts := map[string]int{}
		for _, sh := range shards {
			for _, v := range sh[fs.name] {
				counts[v.Value] += v.Count
			}
		}
		vals := []FacetValue{}
		switch fs.kind {
		case kindNumber:
			for _, b := range numericBuckets[fs.field] {
				if c := counts[b.name]; c > 0 {
					vals = append(vals, FacetValue{b.name, c})
				}
			}
		case kindDate:
			for _, b := range dateBuckets {
				if c := counts[b.name]; c > 0 {
					vals = append(vals, FacetValue{b.name, c})
				}
			}
		default:
			for v, c := range counts {
				if c > 0 {
					vals = append(vals, FacetValue{v, c})
				}
			}
			sort.Slice(vals, func(i, j int) bool {
				if vals[i].Count != vals[j].Count {
					return vals[i].Count > vals[j].Count
				}
				return vals[i].Value < vals[j].Value
			})
			if len(vals) > fs.size {
				vals = vals[:fs.size]
			}
		}
		out[fs.name] = vals
	}
	return out
}
