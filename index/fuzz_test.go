package index

import (
	"context"
	"errors"
	"os"
	"regexp"
	"regexp/syntax"
	"sync"
	"testing"
	"unicode/utf8"
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

// FuzzLazyDFA holds the lazy DFA of any pattern compilePattern accepts to
// Go's regexp engine matching whole terms, on any term, within a state
// budget (a walk cut off by the budget proves nothing and is skipped).
func FuzzLazyDFA(f *testing.F) {
	for _, seed := range [][2]string{
		{"bu.*", "buses"}, {"(?i)ca[tr]s?", "CATS"}, {"\\p{Han}+", "漢字"}, {"[^a]z|x{2,3}", "xxx"},
		{"(ab)*c", "ababc"}, {"é.", "ée"}, {".*ing", "running"}, {"[ab]*a[ab]{3}", "babab"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, term string) {
		prog, err := compilePattern(pattern)
		if err != nil || !utf8.ValidString(term) {
			return
		}
		parsed, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatalf("compilePattern accepted %q, which does not parse: %v", pattern, err)
		}
		re, err := regexp.Compile(`^(?:` + parsed.String() + `)$`)
		if err != nil {
			t.Fatalf("compilePattern accepted %q, which Go's regexp refuses: %v", pattern, err)
		}
		d := newLazyDFA(walkGuard{}, prog, 2000)
		s := d.Start()
		for i := 0; i < len(term) && d.CanMatch(s); i++ {
			s = d.Accept(s, term[i])
		}
		if d.err != nil {
			return
		}
		if got, want := d.CanMatch(s) && d.IsMatch(s), re.MatchString(term); got != want {
			t.Fatalf("/%s/ on %q: DFA %v, regexp %v", pattern, term, got, want)
		}
	})
}
