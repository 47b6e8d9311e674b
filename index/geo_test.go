package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/blevesearch/bleve/v2/geo"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestGeoFiltersFindWhatEveryPointSays: near and bbox filters, which look
// only at the points of their latitude band, find exactly the documents a
// test of every document's point finds (bleve's box tolerance and
// haversine), near the poles, across the date line and with updates and
// deletes that leave several segments.
func TestGeoFiltersFindWhatEveryPointSays(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	var recs []record.Record
	points := map[string]record.Location{}
	for i := range 1500 {
		loc := record.Location{Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180}
		switch i % 5 {
		case 0: // crowded around a few places, poles and the date line
			c := []record.Location{{Lat: 48.85, Lon: 2.35}, {Lat: 89.9, Lon: 10}, {Lat: -89.5, Lon: -170}, {Lat: 10, Lon: 179.95}}[r.IntN(4)]
			loc = record.Location{Lat: max(-90, min(90, c.Lat+r.NormFloat64()*0.3)), Lon: c.Lon + r.NormFloat64()*0.3}
			loc.Lon = max(-180, min(180, loc.Lon))
		}
		id := fmt.Sprintf("g%04d", i)
		recs = append(recs, record.Record{ID: id, URL: "https://example.com/" + id + ".jpg", Title: "place", Location: &loc})
		points[id] = loc
	}
	ix := openWith(t, 3, recs)
	// A second segment per shard: moved and deleted points.
	var moved []record.Record
	for i := 0; i < 1500; i += 7 {
		id := fmt.Sprintf("g%04d", i)
		loc := record.Location{Lat: 48.85 + r.NormFloat64()*0.2, Lon: 2.35 + r.NormFloat64()*0.2}
		moved = append(moved, record.Record{ID: id, URL: "https://example.com/" + id + ".jpg", Title: "place", Location: &loc})
		points[id] = loc
	}
	require.NoError(t, ix.Apply(context.Background(), moved))
	var gone []string
	for i := 3; i < 1500; i += 11 {
		gone = append(gone, fmt.Sprintf("g%04d", i))
		delete(points, fmt.Sprintf("g%04d", i))
	}
	require.NoError(t, ix.Delete(context.Background(), gone...))

	type filter struct {
		req  Request
		test func(record.Location) bool
	}
	var filters []filter
	for _, c := range []record.Location{{Lat: 48.85, Lon: 2.35}, {Lat: 89.9, Lon: 10}, {Lat: -89.5, Lon: -170}, {Lat: 10, Lon: 179.95}, {Lat: 0, Lon: 0}} {
		for _, km := range []float64{1, 20, 50, 500, 3000} {
			filters = append(filters, filter{Request{Filter: Filter{Near: fmt.Sprintf("%g,%g,%g", c.Lat, c.Lon, km)}}, func(p record.Location) bool {
				return geo.Haversin(p.Lon, p.Lat, c.Lon, c.Lat) <= km
			}})
		}
	}
	for _, b := range [][4]float64{{50, 1, 47, 4}, {90, -180, 85, 180}, {12, 179, 8, -179}, {-85, -175, -90, -165}, {10, -10, -10, 10}} {
		top, left, bottom, right := b[0], b[1], b[2], b[3]
		filters = append(filters, filter{Request{Filter: Filter{BBox: fmt.Sprintf("%g,%g,%g,%g", top, left, bottom, right)}}, func(p record.Location) bool {
			if left <= right {
				return geo.BoundingBoxContains(p.Lon, p.Lat, left, bottom, right, top)
			}
			return geo.BoundingBoxContains(p.Lon, p.Lat, left, bottom, 180, top) || geo.BoundingBoxContains(p.Lon, p.Lat, -180, bottom, right, top)
		}})
	}
	for _, f := range filters {
		var want []string
		for id, p := range points {
			// The index keeps a point to Morton precision, as bleve does.
			h := geo.MortonHash(p.Lon, p.Lat)
			if f.test(record.Location{Lat: geo.MortonUnhashLat(h), Lon: geo.MortonUnhashLon(h)}) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		var got []string
		for from := 0; ; from += 1000 {
			req := f.req
			req.Size, req.From, req.Sort = new(1000), from, []string{"_id"}
			res, err := ix.Search(context.Background(), &req)
			require.NoError(t, err)
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
			if len(res.Hits) < 1000 {
				break
			}
		}
		require.Equal(t, want, got, "near %q bbox %q", f.req.Near, f.req.BBox)
	}
}
