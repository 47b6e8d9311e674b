package indexbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero is all defaults", Options{}, true},
		{"every suite", Options{Suite: SuiteLoad, N: 10, Shards: 1, Repeat: 1}, true},
		{"relevance", Options{Suite: SuiteRelevance}, true},
		{"unknown suite", Options{Suite: "speed"}, false},
		{"negative N", Options{N: -1}, false},
		{"too many shards", Options{Shards: 5000}, false},
		{"negative repeat", Options{Repeat: -3}, false},
		{"negative queries", Options{Queries: -1}, false},
		{"huge N", Options{N: 1 << 40}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("%v does not wrap ErrInvalidOptions", err)
			}
		})
	}
	d := Options{}.withDefaults()
	if d.Suite != SuiteAll || d.N != DefaultN || d.Shards != DefaultShards || d.Repeat != DefaultRepeat || d.TatePath != DefaultTatePath {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestInflect(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"walking", "walked"},
		{"climbed", "climbing"},
		{"bridges", "bridge"},
		{"cities", "city"},
		{"churches", "church"},
		{"glass", "glasses"},
		{"church", "churches"},
		{"city", "cities"},
		{"valley", "valleys"},
		{"tree", "trees"},
		{"deer", "deers"},
	} {
		if got, ok := inflect(tc.in); !ok || got != tc.want {
			t.Errorf("inflect(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, w := range []string{"sea", "café", "강아지"} {
		if v, ok := inflect(w); ok {
			t.Errorf("inflect(%q) = %q, want untouched", w, v)
		}
	}
}

func TestKnownItemsDeterministic(t *testing.T) {
	recs, err := SynthCorpus(context.Background(), 500, 7)
	if err != nil {
		t.Fatal(err)
	}
	a, b := knownItems(recs, 100, 7), knownItems(recs, 100, 7)
	if len(a) != 100 || len(b) != 100 {
		t.Fatalf("got %d and %d items, want 100", len(a), len(b))
	}
	inflected := 0
	for i := range a {
		if a[i].String() != b[i].String() || a[i].target != b[i].target {
			t.Fatalf("item %d differs: %v vs %v", i, a[i], b[i])
		}
		if n := len(a[i].words); n < 2 || n > 4 {
			t.Fatalf("item %d has %d words", i, n)
		}
		for _, w := range a[i].drawn {
			if stopWords[w] || !strings.Contains(strings.ToLower(textKey(&recs[a[i].target])), w) {
				t.Fatalf("item %d word %q is a stop word or not from the target", i, w)
			}
		}
		if a[i].inflected {
			inflected++
		}
	}
	if inflected < 20 || inflected > 90 {
		t.Errorf("%d of 100 items inflected; want roughly 1-(0.7^3)", inflected)
	}
}

// tatePath finds shared/data beside the project, or returns NoTate.
func tatePath(t testing.TB) string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "data", "tate_artworks.jsonl.gz")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			t.Logf("tate_artworks.jsonl.gz not found above %s: relevance runs on synth only", dir)
			return NoTate
		}
	}
}

func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every suite")
	}
	var out bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), &out, Options{
		N: 2000, Repeat: 1, Queries: 100, Targets: 150, Seed: 1,
		Dir: t.TempDir(), TatePath: tatePath(t),
	})
	t.Logf("took %s\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ratio picdex/bleve-default", "median picdex", "median bleve-default",
		"term ", "filter+facet ", "filter+facet+term", "phrase", "similar(d=8)", "cursor-page2",
		"-- relevance on synth", "fts5-and", "fts5-or", "picdex MRR@10",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		// Every class must return hits for most queries, or it measures
		// nothing.
		if len(f) > 3 && strings.HasSuffix(f[2], "%") && f[1] != "queries" {
			if p, err := strconv.ParseFloat(strings.TrimSuffix(f[2], "%"), 64); err == nil && p < 50 {
				t.Errorf("class %s: only %s of queries have hits", f[0], f[2])
			}
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	err := Run(context.Background(), &bytes.Buffer{}, Options{Suite: "nope"})
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Run = %v, want ErrInvalidOptions", err)
	}
}

func TestRunSkipsMissingTate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds indexes")
	}
	var out bytes.Buffer
	err := Run(context.Background(), &out, Options{Suite: SuiteRelevance, N: 300, Targets: 50, Dir: t.TempDir(),
		TatePath: filepath.Join(t.TempDir(), "absent.jsonl.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "relevance on tate: skipped") {
		t.Fatalf("no skip message:\n%s", out.String())
	}
}

// CI-sized versions of the load and query suites; PICDEX_BENCH_N sets
// another corpus size (100000 for the targets).
var benchN = func() int {
	if n, err := strconv.Atoi(os.Getenv("PICDEX_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10_000
}()

var bench struct {
	once sync.Once
	recs []record.Record
	ix   *index.Index
	cs   corpusStats
	err  error
	dir  string
}

func benchRecords(b *testing.B) []record.Record {
	bench.once.Do(func() {
		bench.recs, bench.err = SynthCorpus(context.Background(), benchN, 1)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.recs
}

var benchIndexOnce sync.Once

// benchIndex is one picdex index over the benchmark corpus, shared by the
// query benchmarks and removed by TestMain.
func benchIndex(b *testing.B) (*index.Index, corpusStats) {
	recs := benchRecords(b)
	benchIndexOnce.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "indexbench-")
		if bench.err != nil {
			return
		}
		bench.ix, _, bench.err = BuildIndex(context.Background(), filepath.Join(bench.dir, "index"), DefaultShards, recs)
		bench.cs = analyzeCorpus(recs)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.ix, bench.cs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.ix != nil {
		bench.ix.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchmarkLoad(b *testing.B, l loader) {
	recs := benchRecords(b)
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if err := l.load(context.Background(), filepath.Join(dir, strconv.Itoa(i)), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkBulkLoadPicdex(b *testing.B) { benchmarkLoad(b, picdexLoader(DefaultShards)) }

func BenchmarkBulkLoadBleveDefault(b *testing.B) { benchmarkLoad(b, bleveLoader) }

func benchmarkQueries(b *testing.B, class string) {
	ix, cs := benchIndex(b)
	classes, _ := queryClasses(bench.recs, cs, 1000, 1)
	var reqs []*index.Request
	for _, c := range classes {
		if c.name == class {
			reqs = c.reqs
		}
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := ix.Search(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	l := Summarize(lat)
	b.ReportMetric(float64(l.P99)/1e6, "p99-ms")
	b.ReportMetric(float64(l.P50)/1e6, "p50-ms")
}

func BenchmarkQueryTerm(b *testing.B) { benchmarkQueries(b, "term") }

func BenchmarkQueryFilterFacet(b *testing.B) { benchmarkQueries(b, "filter+facet") }

func TestTateMapping(t *testing.T) {
	for _, tc := range []struct {
		line    string
		takenAt string
		url     string
	}{
		{`{"acno":"A1","title":"Sea","year_start":1826,"subjects":["sea","boat"],"artists":["A","B"],"medium":"Oil","thumbnail_url":"http://t/1.jpg","url":"http://p/1"}`, "1826-01-01T00:00:00Z", "http://t/1.jpg"},
		{`{"acno":"A2","title":"Sea","year_start":"c.1997-9","url":"http://p/2","thumbnail_url":null}`, "1997-01-01T00:00:00Z", "http://p/2"},
		{`{"acno":"A3","title":"Sea","year_start":null,"url":"http://p/3"}`, "", "http://p/3"},
	} {
		var a tateArtwork
		if err := json.Unmarshal([]byte(tc.line), &a); err != nil {
			t.Fatal(err)
		}
		r := a.toRecord()
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
		if r.TakenAt != tc.takenAt || r.URL != tc.url || r.ID != "tate-"+a.Acno {
			t.Errorf("%s: got taken_at %q url %q id %q", tc.line, r.TakenAt, r.URL, r.ID)
		}
	}
}
