package index

import (
	"fmt"
	"slices"
	"time"
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
			vals = topFacetValues(vals, fs.size)
		}
		out[fs.name] = vals
	}
	return out
}

// topFacetValues returns the n values with the highest counts (ties by
// value), in that order. A term facet can have thousands of values of
// which a page shows ten, so it keeps a bounded min-heap instead of
// sorting them all.
func topFacetValues(vals []FacetValue, n int) []FacetValue {
	better := func(a, b FacetValue) bool {
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Value < b.Value
	}
	if len(vals) > n {
		h := vals[:n:n] // worst on top
		down := func(i int) {
			for {
				w, l, r := i, 2*i+1, 2*i+2
				if l < n && better(h[w], h[l]) {
					w = l
				}
				if r < n && better(h[w], h[r]) {
					w = r
				}
				if w == i {
					return
				}
				h[i], h[w] = h[w], h[i]
				i = w
			}
		}
		for i := n/2 - 1; i >= 0; i-- {
			down(i)
		}
		for _, v := range vals[n:] {
			if better(v, h[0]) {
				h[0] = v
				down(0)
			}
		}
		vals = h
	}
	slices.SortFunc(vals, func(a, b FacetValue) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	return vals
}
