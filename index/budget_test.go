package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/geo"
	bindex "github.com/blevesearch/bleve_index_api"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestLazyDFAMatchesRegexp feeds terms byte by byte through the lazy DFA
// and compares with Go's regexp anchored at both ends, on ASCII and
// multi-byte terms.
func TestLazyDFAMatchesRegexp(t *testing.T) {
	patterns := []string{"bus", "b.s", "bu.*", ".*ing", "(?i)ca[tr]s?", "[a-c]+x?", "\\p{Han}+", "강.*", "a|bc|def",
		"(ab)*c", "[^a]z", ".", "x{2,3}", "\\d+k", "é.", "(?s).+"}
	terms := []string{"", "bus", "bis", "buses", "running", "ing", "Cats", "car", "cab", "abcabc", "x", "xx", "xxxx",
		"12k", "k", "強い", "漢字", "강아지", "강", "def", "bc", "ababc", "c", "ée", "é", "zz", "az", "bz", "a\nb"}
	for _, p := range patterns {
		prog, err := compilePattern(p)
		require.NoError(t, err, p)
		re := regexp.MustCompile("^(?:" + p + ")$")
		d := newLazyDFA(walkGuard{}, prog, 1000)
		for _, term := range terms {
			s := d.Start()
			for i := 0; i < len(term) && d.CanMatch(s); i++ {
				s = d.Accept(s, term[i])
			}
			require.Equal(t, re.MatchString(term), d.CanMatch(s) && d.IsMatch(s), "/%s/ on %q", p, term)
		}
		require.NoError(t, d.err)
	}
}

// TestLazyDFABudget: a pattern whose DFA is exponential (the 12th letter
// from the end is an a) stops at its state budget instead of building it.
func TestLazyDFABudget(t *testing.T) {
	d := newLazyDFA(walkGuard{}, mustCompile(t, "[ab]*a[ab]{12}"), 200)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := d.Start()
		for range 20 {
			s = d.Accept(s, "ab"[rng.IntN(2)])
		}
	}
	require.ErrorIs(t, d.err, errPatternTooComplex)
	require.LessOrEqual(t, len(d.states), 202)
}

func TestCompilePatternRefusals(t *testing.T) {
	for _, p := range []string{"^bus", "bus$", `\bbus`, "a+?", "(", "[z-a]", strings.Repeat("a", maxPatternBytes+1)} {
		_, err := compilePattern(p)
		require.Error(t, err, p)
	}
}

// TestExpansionMatchesBleve holds the shard's own dictionary walks to
// what bleve's FieldDict* calls list for prefixes, regexps, wildcards and
// fuzzy terms.
func TestExpansionMatchesBleve(t *testing.T) {
	ix := openWith(t, 1, skewedCorpus(400, 3))
	s := ix.shards[0]
	snap, err := s.snapshot()
	require.NoError(t, err)
	defer snap.Close()
	p, err := (&Request{}).validate()
	require.NoError(t, err)
	for _, mt := range []multiTerm{
		{kind: "prefix", field: fieldCaption, pattern: "s"},
		{kind: "prefix", field: fieldTitle, pattern: "riv"},
		{kind: "prefix", field: fieldTags, pattern: ""},
		{kind: "regexp", field: fieldCaption, pattern: ".*n.*"},
		{kind: "regexp", field: fieldCaption, pattern: wildcardToRegexp("b?s*")},
		{kind: "regexp", field: fieldFormat, pattern: "jp.g|png"},
		{kind: "fuzzy", field: fieldCaption, pattern: "rivr", fuzz: 1},
		{kind: "fuzzy", field: fieldCaption, pattern: "lantren", fuzz: 2},
	} {
		ex, err := s.newExpansion(context.Background(), snap, p, &ShardRequest{Budget: Budget{MaxTerms: 100000}})
		require.NoError(t, err)
		got, err := ex.terms(mt)
		require.NoError(t, err, mt.signature())
		var dict bindex.FieldDict
		switch mt.kind {
		case "prefix":
			dict, err = snap.FieldDictPrefix(mt.field, []byte(mt.pattern))
		case "regexp":
			dict, err = snap.FieldDictRegexp(mt.field, mt.pattern)
		case "fuzzy":
			dict, err = snap.FieldDictFuzzy(mt.field, mt.pattern, mt.fuzz, "")
		}
		require.NoError(t, err)
		var want []string
		for {
			e, err := dict.Next()
			require.NoError(t, err)
			if e == nil {
				break
			}
			want = append(want, e.Term)
		}
		dict.Close()
		slices.Sort(want)
		require.NotEmpty(t, want, mt.signature())
		require.Equal(t, want, got, mt.signature())
	}
}

func TestBudget(t *testing.T) {
	ix := openWith(t, 4, skewedCorpus(400, 3))
	var patterns []string
	for _, c := range "abcdefghijklmnopq" {
		patterns = append(patterns, string(c)+"*")
	}
	for _, tc := range []struct {
		q     string
		limit string
	}{
		{strings.Join(patterns, " "), "max_patterns"}, // 17 distinct patterns
		{strings.Repeat("word ", 0) + manyWords(210), "max_terms"},
		{"*", ""},                        // every document is not a pattern
		{strings.Repeat("s* ", 400), ""}, // the parser merges duplicates into one
		{"/[a-z]*a[a-z]{12}/", ""},
	} {
		_, err := ix.Search(context.Background(), &Request{Query: tc.q})
		var be *BudgetError
		if tc.limit == "" {
			require.NoError(t, err, tc.q)
			continue
		}
		require.ErrorAs(t, err, &be, tc.q)
		require.Equal(t, tc.limit, be.Limit, tc.q)
		require.ErrorIs(t, err, ErrBadRequest)
		require.ErrorIs(t, err, ErrTooExpensive)
	}

	// The union over shards is held to the budget too: each of four
	// shards holds about 15 of the 60 words, all together do not fit.
	var uniq []record.Record
	for i := range 60 {
		id := fmt.Sprintf("u%02d", i)
		uniq = append(uniq, record.Record{ID: id, URL: "https://example.com/" + id, Caption: fmt.Sprintf("qa%03d", i)})
	}
	spread := openWith(t, 4, uniq)
	tight := NewFanout(spread.Shards(), FanoutOptions{Budget: Budget{MaxTerms: 40}})
	_, err := tight.Search(context.Background(), &Request{Query: "caption:qa*"})
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "max_terms", be.Limit)
	require.Equal(t, 60, be.Got)
	res, err := tight.Search(context.Background(), &Request{Query: "caption:qa00*"})
	require.NoError(t, err)
	require.EqualValues(t, 10, res.Total)

	// A pattern whose automaton outgrows the state budget.
	small := NewFanout(ix.Shards(), FanoutOptions{Budget: Budget{MaxPatternStates: 4}})
	_, err = small.Search(context.Background(), &Request{Query: "/.*[aeiou].{4}/"})
	require.ErrorAs(t, err, &be)
	require.Equal(t, "max_pattern_states", be.Limit)
	_, err = small.Search(context.Background(), &Request{Query: "bus*"})
	require.NoError(t, err)

	// Invalid patterns are refused before any shard is asked.
	for _, q := range []string{"/^bus/", "/a+?/", "/(/"} {
		_, err := NewFanout([]Shard{&fakeShard{name: "never", mode: "fail"}}, FanoutOptions{}).Search(context.Background(), &Request{Query: q})
		require.ErrorIs(t, err, ErrBadRequest, q)
		require.NotErrorIs(t, err, ErrAllShardsFailed, q)
	}
}

func manyWords(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "w%03d ", i)
	}
	return b.String()
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		req       Request
		class     QueryClass
		expensive bool
	}{
		{Request{}, ClassMatchAll, false},
		{Request{Facets: []string{"tags"}}, ClassFilter, false},
		{Request{Filter: Filter{Format: []string{"png"}}}, ClassFilter, false},
		{Request{Filter: Filter{Similar: "0123456789abcdef"}}, ClassSimilar, false},
		{Request{Query: "red bus"}, ClassTerm, false},
		{Request{Query: `"red bus" tower`}, ClassPhrase, false},
		{Request{Query: "bus*"}, ClassPattern, true},
		{Request{Query: "bus~1"}, ClassPattern, true},
		{Request{Query: manyWords(30)}, ClassTerm, true},
		{Request{Query: "bus", From: 995, Size: new(10)}, ClassTerm, true},
		{Request{Query: "bus", Size: new(101)}, ClassTerm, true},
		{Request{Query: "width:>100"}, ClassFilter, false},
		{Request{Query: "bus width:>100"}, ClassTerm, false},
		{Request{Query: "width:>1 width:>2 width:>3"}, ClassFilter, true},
		{Request{Query: "iso:100 taken_at:2020-01-01"}, ClassFilter, false},
		{Request{Query: "iso:100 iso:200 taken_at:2020-01-01"}, ClassFilter, true},
	} {
		c, err := Classify(&tc.req)
		require.NoError(t, err, tc.req.Query)
		require.Equal(t, tc.class, c.Class, tc.req.Query)
		require.Equal(t, tc.expensive, c.Expensive, tc.req.Query)
	}
}

func TestSizeZero(t *testing.T) {
	ix := openWith(t, 2, skewedCorpus(200, 1))
	res := mustSearch(t, ix, Request{Query: "bus", Size: new(0), Facets: []string{"format"}})
	require.Empty(t, res.Hits)
	require.NotZero(t, res.Total)
	require.NotEmpty(t, res.Facets["format"])
	require.Empty(t, res.NextCursor)
	require.Len(t, mustSearch(t, ix, Request{Query: "bus"}).Hits, DefaultSize)
}

// stuckShard ignores its context for a while, like a shard deep inside a
// library call, then answers.
type stuckShard struct {
	Shard
	for_ time.Duration
}

func (s *stuckShard) TermStats(ctx context.Context, req *ShardRequest) (*TermStats, error) {
	time.Sleep(s.for_)
	return s.Shard.TermStats(ctx, req)
}

// TestDeadlineEndsTheSearch: the fan-out answers at the caller's deadline
// with a deadline error, without waiting for a shard that does not look
// at its context.
func TestDeadlineEndsTheSearch(t *testing.T) {
	ix := openWith(t, 2, skewedCorpus(200, 1))
	f := NewFanout([]Shard{ix.shards[0], &stuckShard{Shard: ix.shards[1], for_: 3 * time.Second}}, FanoutOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Search(ctx, &Request{Query: "bus"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second, "the search waited for the stuck shard")

	// Work inside a shard stops at the deadline too: a dictionary walk
	// and a collection under an expired context.
	snap, err := ix.shards[0].snapshot()
	require.NoError(t, err)
	defer snap.Close()
	p, err := (&Request{Query: "/.*/"}).validate()
	require.NoError(t, err)
	dead, stop := context.WithCancel(context.Background())
	stop()
	ex, err := ix.shards[0].newExpansion(dead, snap, p, &ShardRequest{Budget: Budget{MaxTerms: 1 << 20}})
	require.NoError(t, err)
	ex.dfas[".*"] = newLazyDFA(walkGuard{ctx: dead}, mustCompile(t, ".*"), 100)
	ex.dfas[".*"].guard.n = 0x3fff - 1 // the next transitions check
	_, err = ex.terms(multiTerm{kind: "regexp", field: fieldCaption, pattern: ".*"})
	require.ErrorIs(t, err, context.Canceled)
	_, err = ix.shards[0].SearchShard(dead, &ShardRequest{Request: &Request{}})
	require.ErrorIs(t, err, context.Canceled)
}

func mustCompile(t *testing.T, p string) *syntax.Prog {
	prog, err := compilePattern(p)
	require.NoError(t, err)
	return prog
}

// gateShard blocks phase 1 until released, so that a search stays in
// flight as long as a test needs.
type gateShard struct {
	Shard
	entered chan struct{}
	release chan struct{}
}

func (g *gateShard) TermStats(ctx context.Context, req *ShardRequest) (*TermStats, error) {
	if req.LowPriority {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Shard.TermStats(ctx, req)
}

func TestAdmission(t *testing.T) {
	ix := openWith(t, 1, skewedCorpus(200, 1))
	g := &gateShard{Shard: ix.shards[0], entered: make(chan struct{}, 4), release: make(chan struct{})}
	f := NewFanout([]Shard{g}, FanoutOptions{Admission: Admission{Expensive: 1, Queue: 1, Wait: time.Minute}})
	first := make(chan error, 1)
	go func() {
		_, err := f.Search(context.Background(), &Request{Query: "bus*"})
		first <- err
	}()
	<-g.entered // the first expensive search holds the only turn
	qctx, cancelQueued := context.WithCancel(context.Background())
	waiting := make(chan error, 1)
	go func() {
		_, err := f.Search(qctx, &Request{Query: "riv*"})
		waiting <- err
	}()
	// The queue has room for one: once it is taken, a third is refused
	// at once.
	require.Eventually(t, func() bool { return f.admit.queued() == 1 }, 10*time.Second, time.Millisecond)
	_, err := f.Search(context.Background(), &Request{Query: "tow*"})
	require.ErrorIs(t, err, ErrOverloaded)
	// A queued search whose deadline comes first is overloaded too (it
	// did no work; another try may find a turn), one whose caller leaves
	// is cancelled.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	held := newAdmission(Admission{Expensive: 1, Queue: 1, Wait: time.Minute})
	if _, err := held.admit(context.Background()); err != nil { // its only turn taken
		t.Fatal(err)
	}
	_, err = held.admit(short)
	require.ErrorIs(t, err, ErrOverloaded)
	// Cheap searches go on meanwhile.
	res, err := f.Search(context.Background(), &Request{Query: "bus"})
	require.NoError(t, err)
	require.NotZero(t, res.Total)
	cancelQueued()
	require.ErrorIs(t, <-waiting, context.Canceled)
	close(g.release)
	require.NoError(t, <-first)
	// With the turn free again, an expensive search runs.
	_, err = f.Search(context.Background(), &Request{Query: "bus*"})
	require.NoError(t, err)
}

// TestStepAside: a low-priority walk waits for foreground shard calls,
// but never longer in all than it has worked, so it is slowed at most
// twofold however busy the foreground stays.
func TestStepAside(t *testing.T) {
	fg := &foreground{}
	exit := fg.enter() // a foreground call that does not end
	g := walkGuard{ctx: context.Background(), yield: true, fg: fg}
	g.stepAside() // first call: nothing worked yet, so no wait
	require.Zero(t, g.waited)
	for range 20 {
		for start := time.Now(); time.Since(start) < 200*time.Microsecond; {
		}
		g.stepAside()
	}
	require.NotZero(t, g.waited, "it never stepped aside for a busy foreground")
	// Each wait is asked for at most the work left unpaid; a timer that
	// fires late (a loaded machine) adds to it, hence the slack.
	require.LessOrEqual(t, g.waited, g.worked+20*(stepAsideFor+10*time.Millisecond))

	// When the foreground ends, a waiting walk goes on at once.
	g = walkGuard{ctx: context.Background(), yield: true, fg: fg, worked: time.Hour, resumed: time.Now()}
	done := make(chan struct{})
	go func() { g.stepAside(); close(done) }()
	exit()
	<-done
	require.Nil(t, fg.idleCh())
}

// TestQueryRanges holds ranges in the query string, which walk the term
// dictionaries into a bitmap, to a count over the records, for numbers
// and keywords, inclusive and exclusive bounds, after deletes.
func TestQueryRanges(t *testing.T) {
	recs := skewedCorpus(300, 5)
	ix := openWith(t, 3, recs)
	deleted := map[string]bool{}
	var dels []record.Record
	for i := 0; i < len(recs); i += 7 {
		deleted[recs[i].ID] = true
		dels = append(dels, record.Record{ID: recs[i].ID, Op: record.OpDelete})
	}
	require.NoError(t, ix.Apply(context.Background(), dels))
	count := func(keep func(r *record.Record) bool) uint64 {
		n := uint64(0)
		for i := range recs {
			if !deleted[recs[i].ID] && keep(&recs[i]) {
				n++
			}
		}
		return n
	}
	for q, keep := range map[string]func(r *record.Record) bool{
		"width:>=1000":                         func(r *record.Record) bool { return r.Width >= 1000 },
		"width:>1000":                          func(r *record.Record) bool { return r.Width > 1000 },
		"width:<1000":                          func(r *record.Record) bool { return r.Width < 1000 },
		"width:<=1000":                         func(r *record.Record) bool { return r.Width <= 1000 },
		"format:>jpeg":                         func(r *record.Record) bool { return r.Format > "jpeg" },
		"format:>=png":                         func(r *record.Record) bool { return r.Format >= "png" },
		"format:<png":                          func(r *record.Record) bool { return r.Format < "png" },
		"+width:>=1000 +height:<800":           func(r *record.Record) bool { return r.Width >= 1000 && r.Height < 800 },
		"taken_at:>=2012-01-01":                func(r *record.Record) bool { return r.TakenAt >= "2012-01-01" },
		"taken_at:<2012-01-01":                 func(r *record.Record) bool { return r.TakenAt < "2012-01-01" },
		"taken_at:" + recs[1].TakenAt[:10]:     func(r *record.Record) bool { return r.TakenAt[:10] == recs[1].TakenAt[:10] },
		fmt.Sprintf("width:%d", recs[2].Width): func(r *record.Record) bool { return r.Width == recs[2].Width },
	} {
		want := count(keep)
		require.NotZero(t, want, q)
		res := mustSearch(t, ix, Request{Query: q, Size: new(0)})
		require.Equal(t, want, res.Total, q)
	}
}

// TestAdmissionPerClient: one client cannot take every turn and queue
// place; another client's expensive search still queues.
func TestAdmissionPerClient(t *testing.T) {
	ix := openWith(t, 1, skewedCorpus(200, 1))
	g := &gateShard{Shard: ix.shards[0], entered: make(chan struct{}, 4), release: make(chan struct{})}
	f := NewFanout([]Shard{g}, FanoutOptions{Admission: Admission{Expensive: 1, Queue: 4, PerClient: 1}})
	a, b := WithClient(context.Background(), "a"), WithClient(context.Background(), "b")
	first := make(chan error, 1)
	go func() {
		_, err := f.Search(a, &Request{Query: "bus*"})
		first <- err
	}()
	<-g.entered
	_, err := f.Search(a, &Request{Query: "riv*"})
	require.ErrorIs(t, err, ErrOverloaded, "a second expensive search of the same client")
	queued := make(chan error, 1)
	go func() {
		_, err := f.Search(b, &Request{Query: "riv*"})
		queued <- err
	}()
	require.Eventually(t, func() bool { return f.admit.queued() == 1 }, 5*time.Second, time.Millisecond)
	close(g.release)
	require.NoError(t, <-first)
	require.NoError(t, <-queued)
	_, err = f.Search(a, &Request{Query: "bus*"})
	require.NoError(t, err, "the client's share is free again")
}

// TestHeavyFacetsAreExpensive: a term facet whose field has shown many
// values on a shard makes later requests for it expensive.
func TestHeavyFacetsAreExpensive(t *testing.T) {
	var recs []record.Record
	for i := range heavyFacetValues + 100 {
		id := fmt.Sprintf("h%05d", i)
		recs = append(recs, record.Record{ID: id, URL: "https://example.com/" + id, Title: "bus", Tags: []string{"t" + id}})
	}
	ix := openWith(t, 1, recs)
	g := &gateShard{Shard: ix.shards[0], entered: make(chan struct{}, 4), release: make(chan struct{})}
	close(g.release) // only count the low-priority calls
	f := NewFanout([]Shard{g}, FanoutOptions{})
	req := Request{Query: "bus", Facets: []string{"tags:5", "format"}}
	mustSearch(t, f, req) // learns that tags has many values
	require.Empty(t, g.entered, "the first request could not know")
	mustSearch(t, f, req)
	require.Len(t, g.entered, 1, "the second runs at low priority, as an expensive search")
	mustSearch(t, f, Request{Query: "bus", Facets: []string{"format"}})
	require.Len(t, g.entered, 1, "a light facet stays cheap")
}

// TestGeoFiltersMatchBruteForce holds the column-based near and bbox
// filters to the same tests applied to every record's (quantized) point,
// for boxes across the date line and near the poles too.
func TestGeoFiltersMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	var recs []record.Record
	for i := range 600 {
		id := fmt.Sprintf("g%04d", i)
		r := record.Record{ID: id, URL: "https://example.com/" + id}
		if i%10 != 0 {
			r.Location = &record.Location{Lat: rng.Float64()*180 - 90, Lon: rng.Float64()*360 - 180}
		}
		recs = append(recs, r)
	}
	ix := openWith(t, 3, recs)
	point := func(r *record.Record) (lat, lon float64) {
		h := geo.MortonHash(r.Location.Lon, r.Location.Lat)
		return geo.MortonUnhashLat(h), geo.MortonUnhashLon(h)
	}
	count := func(keep func(lat, lon float64) bool) uint64 {
		n := uint64(0)
		for i := range recs {
			if recs[i].Location != nil {
				if lat, lon := point(&recs[i]); keep(lat, lon) {
					n++
				}
			}
		}
		return n
	}
	for _, b := range [][4]float64{{10, -20, -30, 40}, {89.999, -179.999, -89.999, 179.999}, {60, 150, -10, -150}, {90, 179, -90, -179}, {-10, 0, -60, 1}} {
		top, left, bottom, right := b[0], b[1], b[2], b[3]
		want := count(func(lat, lon float64) bool {
			if lat < bottom-1e-9 || lat > top+1e-9 {
				return false
			}
			if left <= right {
				return lon >= left-1e-9 && lon <= right+1e-9
			}
			return lon >= left-1e-9 || lon <= right+1e-9
		})
		res := mustSearch(t, ix, Request{Size: new(0), Filter: Filter{BBox: fmt.Sprintf("%v,%v,%v,%v", top, left, bottom, right)}})
		require.Equal(t, want, res.Total, "bbox %v", b)
	}
	for _, n := range [][3]float64{{0, 0, 2000}, {89.9, 0, 3000}, {45.123, 179.999, 10000}, {-33, 151, 500}} {
		want := count(func(lat, lon float64) bool { return geo.Haversin(lon, lat, n[1], n[0]) <= n[2] })
		res := mustSearch(t, ix, Request{Size: new(0), Filter: Filter{Near: fmt.Sprintf("%v,%v,%v", n[0], n[1], n[2])}})
		require.Equal(t, want, res.Total, "near %v", n)
		require.NotZero(t, want, "near %v", n)
	}
}

// TestAdmissionFair: clients that keep the queue full cannot shut a new
// client out, and turns go to the client running the fewest.
func TestAdmissionFair(t *testing.T) {
	a := newAdmission(Admission{Expensive: 1, Queue: 3, PerClient: 2, Wait: time.Minute})
	ctxOf := func(c string) context.Context { return WithClient(context.Background(), c) }
	release, err := a.admit(ctxOf("a")) // a runs
	require.NoError(t, err)
	type result struct {
		client string
		err    error
		done   func()
	}
	results := make(chan result, 8)
	wait := func(c string) {
		go func() {
			r, err := a.admit(ctxOf(c))
			results <- result{c, err, r}
		}()
	}
	wait("a") // a: 2 in flight, its share
	require.Eventually(t, func() bool { return a.queued() == 1 }, 10*time.Second, time.Millisecond)
	wait("b")
	require.Eventually(t, func() bool { return a.queued() == 2 }, 10*time.Second, time.Millisecond)
	wait("b")
	require.Eventually(t, func() bool { return a.queued() == 3 }, 10*time.Second, time.Millisecond)
	// The queue is full; c has nothing in flight: a waiter of a client
	// with two in flight gives its place up (b's newest, as a's only waiter
	// is its second).
	wait("c")
	r := <-results
	require.ErrorIs(t, r.err, ErrOverloaded)
	require.Contains(t, []string{"a", "b"}, r.client)
	require.Eventually(t, func() bool { return a.queued() == 3 }, 10*time.Second, time.Millisecond)
	// a's turn ends: the next goes to a client running none, the oldest
	// such waiter.
	release()
	r = <-results
	require.NoError(t, r.err)
	require.NotEqual(t, "a", r.client, "a ran and waited longest, but clients running none come first")
	r.done()
	for range 2 {
		r = <-results
		require.NoError(t, r.err)
		r.done()
	}
	require.Zero(t, a.queued())
	require.Empty(t, a.flight)
}

// TestPageBytes: a page whose records are more than the budget's bytes is
// a budget error naming size, stopped while the records load.
func TestPageBytes(t *testing.T) {
	ix, err := Open(t.TempDir(), Options{Shards: 2, Fanout: FanoutOptions{Budget: Budget{MaxPageBytes: 10_000}}})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	var recs []record.Record
	for i := range 20 {
		id := fmt.Sprintf("p%02d", i)
		recs = append(recs, record.Record{ID: id, URL: "https://example.com/" + id, Title: "bus", Caption: strings.Repeat("x", 1000)})
	}
	require.NoError(t, ix.Apply(context.Background(), recs))
	_, err = ix.Search(context.Background(), &Request{Query: "bus", Size: new(20)})
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "max_page_bytes", be.Limit)
	require.Equal(t, "size", be.Param)
	res, err := ix.Search(context.Background(), &Request{Query: "bus", Size: new(5)})
	require.NoError(t, err)
	require.Len(t, res.Hits, 5)
}
