package index

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

var (
	fuzzOnce sync.Once
	fuzzIx   *Index
)

// FuzzSearch drives the whole query path (parse, validate, translate,
// two-phase fan-out) with arbitrary query strings and parameters: it may
// reject them, but only as a bad request, and never panics.
func FuzzSearch(f *testing.F) {
	for _, seed := range []struct {
		q, sort, facet, near, similar string
		size, from                    int
	}{
		{"bus", "", "tags", "", "", 10, 0},
		{`"red bus" +river -dog`, "-width", "format:3", "37.5,127,10", "", 5, 2},
		{"zeph* z?phyr /qu.kka/ zephir~2", "taken_at", "taken_at", "", "0123456789abcdef", 20, 0},
		{"width:>100 taken_at:<2020-01-01 title:\"a b\"^2", "_score", "width", "", "", 1, 9990},
		{"(a OR b) AND NOT c", "format,-_id", "camera.make:1000", "", "ffffffffffffffff", 1000, 0},
		{"강아지 東京タワー", "", "", "-91,0,1", "", -1, -1},
		{"*", "", "tags:0", "", "xyz", 0, 0},
		{"/(a+)+$/", "", "", "", "", 10, 0},
	} {
		f.Add(seed.q, seed.sort, seed.facet, seed.near, seed.similar, seed.size, seed.from)
	}
	f.Fuzz(func(t *testing.T, q, sort, facet, near, similar string, size, from int) {
		fuzzOnce.Do(func() {
			// Shared by every input of this process, so not under a
			// per-input t.TempDir; the OS temp dir is cleaned by its owner.
			dir, err := os.MkdirTemp("", "picdex-fuzz-")
			if err != nil {
				t.Fatal(err)
			}
			ix, err := Open(dir, Options{Shards: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Apply(context.Background(), skewedCorpus(300, 4)); err != nil {
				t.Fatal(err)
			}
			fuzzIx = ix
		})
		req := &Request{Query: q, Size: new(size), From: from, Filter: Filter{Near: near, Similar: similar}}
		if sort != "" {
			req.Sort = []string{sort}
		}
		if facet != "" {
			req.Facets = []string{facet}
		}
		res, err := fuzzIx.Search(context.Background(), req)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("request %+v: %v is not a bad request", req, err)
			}
			return
		}
		if res.Shards.Failed != 0 {
			t.Fatalf("request %+v: shard failures %+v", req, res.Shards.Failures)
		}
	})
}
