package indexbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
	"unicode"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// Targets of the query suite.
const (
	termTargetP99   = 2 * time.Millisecond
	filterTargetP99 = 10 * time.Millisecond
)

const warmupQueries = 200

// facetFields are the facets a search page asks for next to its hits.
var facetFields = []string{"tags", "format", "camera.make", "taken_at"}

// queryClass is a named list of searches measured together.
type queryClass struct {
	name   string
	target time.Duration // p99 target; 0 for none
	reqs   []*index.Request
}

// corpusStats is what query sampling needs to know about a corpus.
type corpusStats struct {
	terms   *weighted // content words by document frequency
	tags    *weighted // tags by number of records
	formats *weighted
}

func analyzeCorpus(recs []record.Record) corpusStats {
	df, tags, formats := map[string]int{}, map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	for i := range recs {
		r := &recs[i]
		clear(seen)
		for _, text := range [...]string{r.Title, r.Caption, r.Alt, r.Description, strings.Join(r.Tags, " ")} {
			for _, w := range words(text) {
				if isContentWord(w) && isASCIILower(w) && !seen[w] {
					seen[w] = true
					df[w]++
				}
			}
		}
		for _, t := range r.Tags {
			tags[t]++
		}
		if r.Format != "" {
			formats[r.Format]++
		}
	}
	return corpusStats{terms: newWeighted(df), tags: newWeighted(tags), formats: newWeighted(formats)}
}

// term samples a single-term query: half by document frequency (common
// words), half uniformly over the vocabulary (mostly rare words).
func (c corpusStats) term(r *rand.Rand) (string, int) {
	if r.IntN(2) == 0 {
		return c.terms.byCount(r)
	}
	return c.terms.uniform(r)
}

func intp(v int) *int { return &v }

// filterFacet is a faceted drill-down from a record a user has seen: one
// of its tags, its format (sometimes with a second one), a width range
// around its width, four facets and, optionally, one of its words. Every
// such search has at least that record as a hit; records are drawn
// uniformly, so popular tags and words come up as often as they occur.
func (c corpusStats) filterFacet(r *rand.Rand, recs []record.Record, withText bool) *index.Request {
	var rec *record.Record
	var terms []string
	for tries := 0; ; tries++ {
		if tries == 10_000 {
			return &index.Request{Facets: facetFields} // no record to drill down from
		}
		rec = &recs[r.IntN(len(recs))]
		if len(rec.Tags) == 0 || rec.Format == "" || rec.Width == 0 {
			continue
		}
		if !withText {
			break
		}
		terms = terms[:0]
		for _, w := range words(rec.Title + " " + rec.Caption + " " + rec.Description) {
			if isContentWord(w) && isASCIILower(w) {
				terms = append(terms, w)
			}
		}
		if len(terms) > 0 {
			break
		}
	}
	req := &index.Request{Facets: facetFields}
	req.Tags = []string{rec.Tags[r.IntN(len(rec.Tags))]}
	req.Format = []string{rec.Format}
	if f2, _ := c.formats.byCount(r); f2 != rec.Format && r.IntN(2) == 0 {
		req.Format = append(req.Format, f2)
	}
	var lows, highs []int
	for _, v := range []int{320, 640, 1024, 1920, 3000} {
		if v <= rec.Width {
			lows = append(lows, v)
		} else {
			highs = append(highs, v)
		}
	}
	if len(lows) > 0 {
		req.WidthMin = intp(lows[r.IntN(len(lows))])
	}
	if len(highs) > 0 && (req.WidthMin == nil || r.IntN(2) == 0) {
		req.WidthMax = intp(highs[r.IntN(len(highs))])
	}
	if withText {
		req.Query = terms[r.IntN(len(terms))]
	}
	return req
}

// phrase takes two adjacent content words from a record's caption (or
// title) as a quoted phrase; ok is false when there are none.
func phrase(r *rand.Rand, rec *record.Record) (string, bool) {
	text := rec.Caption
	if text == "" {
		text = rec.Title
	}
	// Adjacent whole words; a token with inner punctuation (girl's,
	// double-decker) breaks the chain, since the analyzer splits it.
	var pairs [][2]string
	prev := ""
	for _, t := range strings.Fields(strings.ToLower(text)) {
		w := strings.TrimFunc(t, func(c rune) bool { return !unicode.IsLetter(c) })
		if !isASCIILower(w) || !isContentWord(w) {
			prev = ""
			continue
		}
		if prev != "" {
			pairs = append(pairs, [2]string{prev, w})
		}
		prev = w
	}
	if len(pairs) == 0 {
		return "", false
	}
	p := pairs[r.IntN(len(pairs))]
	return `"` + p[0] + " " + p[1] + `"`, true
}

// queryClasses samples every class but cursor paging, which needs the
// index to find page 1's cursor.
func queryClasses(recs []record.Record, cs corpusStats, n int, seed int64) (classes []*queryClass, termDF []int) {
	r := newRand(seed, 0x71756572)
	term := &queryClass{name: "term", target: termTargetP99}
	for range n {
		t, df := cs.term(r)
		term.reqs = append(term.reqs, &index.Request{Query: t})
		termDF = append(termDF, df)
	}
	ff := &queryClass{name: "filter+facet", target: filterTargetP99}
	fft := &queryClass{name: "filter+facet+term", target: filterTargetP99}
	for range n {
		ff.reqs = append(ff.reqs, cs.filterFacet(r, recs, false))
		fft.reqs = append(fft.reqs, cs.filterFacet(r, recs, true))
	}
	phr := &queryClass{name: "phrase"}
	for tries := 0; len(phr.reqs) < n && tries < 20*n; tries++ {
		if q, ok := phrase(r, &recs[r.IntN(len(recs))]); ok {
			phr.reqs = append(phr.reqs, &index.Request{Query: q})
		}
	}
	sim := &queryClass{name: "similar(d=8)"}
	for tries := 0; len(sim.reqs) < n && tries < 20*n; tries++ {
		if h := recs[r.IntN(len(recs))].PHash; h != "" {
			sim.reqs = append(sim.reqs, &index.Request{Filter: index.Filter{Similar: h, Distance: intp(8)}})
		}
	}
	return []*queryClass{term, ff, fft, phr, sim}, termDF
}

// cursorClass builds page-2 requests: for a common term sorted by score,
// and for a tag browse sorted by capture time, it runs page 1 and keeps its
// cursor.
func cursorClass(ctx context.Context, ix *index.Index, cs corpusStats, n int, seed int64) (*queryClass, error) {
	r := newRand(seed, 0x63757273)
	c := &queryClass{name: "cursor-page2"}
	for tries := 0; len(c.reqs) < n && tries < 4*n; tries++ {
		var page1 index.Request
		if tries%2 == 0 {
			page1.Query, _ = cs.terms.byCount(r)
		} else {
			tag, _ := cs.tags.byCount(r)
			page1.Tags = []string{tag}
			page1.Sort = []string{"-taken_at"}
		}
		res, err := ix.Search(ctx, &page1)
		if err != nil {
			return nil, fmt.Errorf("cursor page 1 %+v: %w", page1, err)
		}
		if res.NextCursor == "" {
			continue
		}
		page2 := page1
		page2.Cursor = res.NextCursor
		c.reqs = append(c.reqs, &page2)
	}
	return c, nil
}

// BuildIndex loads recs into a new picdex index at dir, merges its
// shards' segments (untimed) and leaves it open, returning how long the
// load took.
func BuildIndex(ctx context.Context, dir string, shards int, recs []record.Record) (*index.Index, time.Duration, error) {
	start := time.Now()
	ix, err := index.Open(dir, index.Options{Shards: shards})
	if err != nil {
		return nil, 0, err
	}
	for i := 0; i < len(recs); i += picdexBatch {
		if err := ix.Apply(ctx, recs[i:min(i+picdexBatch, len(recs))]); err != nil {
			ix.Close()
			return nil, 0, err
		}
	}
	took := time.Since(start)
	// What a server's shards do once idle (index.DefaultIdleMerge), done
	// at once, so that no merge runs while the searches are measured.
	if err := ix.Merge(ctx); err != nil {
		ix.Close()
		return nil, 0, err
	}
	return ix, took, nil
}

// Settle waits until the index files (.zap segments) under dir have not
// changed for quiet, that is until scorch's background merges are done, so
// latencies measure a quiet index; it gives up after limit, and returns
// how long it waited.
func Settle(ctx context.Context, dir string, quiet, limit time.Duration) time.Duration {
	start := time.Now()
	last, stable := "", 0
	for time.Since(start) < limit && time.Duration(stable)*time.Second < quiet {
		var b strings.Builder
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".zap") {
				b.WriteString(p)
				b.WriteByte('\n')
			}
			return nil
		})
		if b.String() == last {
			stable++
		} else {
			last, stable = b.String(), 0
		}
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-time.After(time.Second):
		}
	}
	return time.Since(start)
}

// runClass times every request of c once, sequentially.
func runClass(ctx context.Context, ix *index.Index, c *queryClass, lat []time.Duration) (out []time.Duration, nonEmpty int, err error) {
	out = lat[:0]
	for _, req := range c.reqs {
		start := time.Now()
		res, err := ix.Search(ctx, req)
		d := time.Since(start)
		if err != nil {
			return nil, 0, fmt.Errorf("%s query %+v: %w", c.name, *req, err)
		}
		if len(res.Hits) > 0 {
			nonEmpty++
		}
		out = append(out, d)
	}
	return out, nonEmpty, nil
}

func querySuite(ctx context.Context, w io.Writer, o Options, scratch string, recs []record.Record) error {
	fmt.Fprintf(w, "\n== query: %d synth records, %d shards, %d queries per class, %d repeats; sequential, in process ==\n",
		len(recs), o.Shards, o.Queries, o.Repeat)
	dir := filepath.Join(scratch, "query-index")
	defer os.RemoveAll(dir)
	ix, took, err := BuildIndex(ctx, dir, o.Shards, recs)
	if err != nil {
		return err
	}
	defer ix.Close()
	waited := Settle(ctx, dir, 3*time.Second, 2*time.Minute)
	fmt.Fprintf(w, "built index in %s (%.0f records/s); waited %s for merges to settle\n",
		took.Round(time.Millisecond), float64(len(recs))/took.Seconds(), waited.Round(time.Second))

	cs := analyzeCorpus(recs)
	classes, termDF := queryClasses(recs, cs, o.Queries, o.Seed)
	cur, err := cursorClass(ctx, ix, cs, o.Queries, o.Seed)
	if err != nil {
		return err
	}
	classes = append(classes, cur)
	dfs := make([]float64, len(termDF))
	rare := 0
	for i, df := range termDF {
		dfs[i] = float64(df)
		if df <= 10 {
			rare++
		}
	}
	fmt.Fprintf(w, "term sample: %d-word vocabulary; half by document frequency, half uniform; median df %.0f, %.0f%% with df <= 10\n",
		cs.terms.len(), Median(dfs), 100*float64(rare)/float64(max(1, len(termDF))))

	lat := make([]time.Duration, 0, o.Queries)
	for _, c := range classes {
		warm := &queryClass{name: c.name, reqs: c.reqs[:min(len(c.reqs), warmupQueries)]}
		if _, _, err := runClass(ctx, ix, warm, lat); err != nil {
			return err
		}
	}
	if o.QueryProfile != "" {
		f, err := os.Create(o.QueryProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	per := make([][]Latencies, len(classes))
	nonEmpty := make([]int, len(classes))
	for rep := 0; rep < o.Repeat; rep++ {
		for i, c := range classes {
			runtime.GC()
			ds, ne, err := runClass(ctx, ix, c, lat)
			if err != nil {
				return err
			}
			per[i] = append(per[i], Summarize(ds))
			nonEmpty[i] = ne
		}
	}

	fmt.Fprintf(w, "%-18s %7s %6s %9s %9s %9s %9s  %-26s %s\n", "class", "queries", "hits", "p50", "p90", "p99", "max", "p99 per repeat", "target")
	for i, c := range classes {
		var p50, p90, p99 []float64
		var worst time.Duration
		var reps []string
		for _, l := range per[i] {
			p50 = append(p50, float64(l.P50))
			p90 = append(p90, float64(l.P90))
			p99 = append(p99, float64(l.P99))
			worst = max(worst, l.Max)
			reps = append(reps, fmt.Sprintf("%.2f", float64(l.P99)/float64(time.Millisecond)))
		}
		mp99 := time.Duration(Median(p99))
		target := ""
		if c.target > 0 {
			target = fmt.Sprintf("p99 < %s: %s", c.target, PassFail(mp99 < c.target))
		}
		fmt.Fprintf(w, "%-18s %7d %5.0f%% %9s %9s %9s %9s  %-26s %s\n", c.name, len(c.reqs),
			100*float64(nonEmpty[i])/float64(max(1, len(c.reqs))),
			ms(time.Duration(Median(p50))), ms(time.Duration(Median(p90))), ms(mp99), ms(worst),
			strings.Join(reps, " "), target)
	}
	fmt.Fprintln(w, "(p50/p90/p99: median over repeats; max: over all repeats; hits: share of queries with at least one hit)")
	return nil
}
