package apibench

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// BleveSearchHandler answers the /v1/search requests of Mixed and
// MixedGeo from a bleve index with the default mapping, each with the
// closest query a bleve user would write:
//
//   - q: a query string query (words are alternatives, quotes a phrase);
//   - tags, make: a match query on the tags or camera.make field;
//   - similar: a match of the exact hash on phash (bleve has no Hamming
//     distance; picdex finds every hash within distance);
//   - near and bbox: numeric ranges on location.lat and location.lon (the
//     default mapping indexes a location as two numbers, not a point;
//     near becomes the box around its circle);
//   - facet: a terms facet of ten on the field, but taken_at, whose date
//     histogram has no counterpart, is left out;
//   - sort, from, size as they are, 10 hits by default, stored fields.
func BleveSearchHandler(idx bleve.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query()
		var must []query.Query
		if q := p.Get("q"); q != "" {
			must = append(must, bleve.NewQueryStringQuery(q))
		}
		for param, field := range map[string]string{"tags": "tags", "make": "camera.make", "similar": "phash"} {
			if v := p.Get(param); v != "" {
				m := bleve.NewMatchQuery(v)
				m.SetField(field)
				m.SetOperator(query.MatchQueryOperatorAnd)
				must = append(must, m)
			}
		}
		if box, ok := bleveBox(p.Get("near"), p.Get("bbox")); ok {
			lat := bleve.NewNumericRangeInclusiveQuery(&box[2], &box[0], &yes, &yes)
			lat.SetField("location.lat")
			lon := bleve.NewNumericRangeInclusiveQuery(&box[1], &box[3], &yes, &yes)
			lon.SetField("location.lon")
			must = append(must, lat, lon)
		}
		var q query.Query = bleve.NewMatchAllQuery()
		if len(must) > 0 {
			q = bleve.NewConjunctionQuery(must...)
		}
		size, from := 10, 0
		if v, err := strconv.Atoi(p.Get("size")); err == nil {
			size = v
		}
		if v, err := strconv.Atoi(p.Get("from")); err == nil {
			from = v
		}
		req := bleve.NewSearchRequestOptions(q, size, from, false)
		req.Fields = []string{"*"}
		if s := p["sort"]; len(s) > 0 {
			req.SortBy(append(s, "-_score"))
		}
		for _, f := range p["facet"] {
			f, _, _ = strings.Cut(f, ":")
			if f != "taken_at" {
				req.AddFacet(f, bleve.NewFacetRequest(f, 10))
			}
		}
		writeBleve(w, r, idx, req)
	})
}

var yes = true

// bleveBox reads near=lat,lon,km or bbox=top,left,bottom,right as a box
// [top, left, bottom, right].
func bleveBox(near, bbox string) ([4]float64, bool) {
	var box [4]float64
	parse := func(s string, n int) ([]float64, bool) {
		parts := strings.Split(s, ",")
		if len(parts) != n {
			return nil, false
		}
		out := make([]float64, n)
		for i, part := range parts {
			v, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	}
	if v, ok := parse(near, 3); ok {
		d := v[2] / 111.2 // degrees of latitude
		dl := d / max(0.01, math.Cos(v[0]*math.Pi/180))
		box = [4]float64{v[0] + d, v[1] - dl, v[0] - d, v[1] + dl}
		return box, true
	}
	if v, ok := parse(bbox, 4); ok {
		copy(box[:], v)
		return box, true
	}
	return box, false
}
