package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/picdex/picdex/index/record"
)

func generate(t testing.TB, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := Write(context.Background(), &buf, opts)
	if err != nil {
		t.Fatalf("Write(%+v): %v", opts, err)
	}
	if n != opts.N {
		t.Fatalf("Write(%+v) wrote %d records, want %d", opts, n, opts.N)
	}
	return buf.Bytes()
}

func records(t testing.TB, opts Options) []record.Record {
	t.Helper()
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	for {
		rec, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero value", Options{}, true},
		{"defaults", Options{N: 10, Seed: -3}, true},
		{"negative share means none", Options{N: 1, KoreanShare: -1, PHashShare: -1}, true},
		{"all Korean", Options{N: 1, KoreanShare: 1, CJKShare: -1}, true},
		{"negative N", Options{N: -1}, false},
		{"share above 1", Options{CameraShare: 1.5}, false},
		{"NaN share", Options{LocationShare: math.NaN()}, false},
		{"languages above 1", Options{KoreanShare: 0.9, CJKShare: 0.2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Validate() = %v, want ErrInvalidOptions", err)
			}
			_, err = New(tt.opts)
			if tt.ok != (err == nil) {
				t.Fatalf("New() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	opts := Options{N: 3000, Seed: 7}
	a, b := generate(t, opts), generate(t, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("same options produced different bytes")
	}
	if c := generate(t, Options{N: 3000, Seed: 8}); bytes.Equal(a, c) {
		t.Fatal("different seeds produced the same corpus")
	}
}

func TestPrefix(t *testing.T) {
	for _, seed := range []int64{0, 1, -99} {
		small := generate(t, Options{N: 700, Seed: seed})
		big := generate(t, Options{N: 6000, Seed: seed})
		if !bytes.HasPrefix(big, small) {
			t.Fatalf("seed %d: the 700-record corpus is not a prefix of the 6000-record one", seed)
		}
	}
}

func TestNextAfterEnd(t *testing.T) {
	g, err := New(Options{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, ok := g.Next(); !ok {
			t.Fatalf("Next() #%d = false", i)
		}
	}
	for range 3 {
		if rec, ok := g.Next(); ok || rec.URL != "" {
			t.Fatalf("Next() after N = %+v, %v; want zero, false", rec, ok)
		}
	}
	if out := generate(t, Options{N: 0}); len(out) != 0 {
		t.Fatalf("N=0 wrote %d bytes", len(out))
	}
}

var (
	phashRe = regexp.MustCompile(`^[0-9a-f]{16}$`)
	colorRe = regexp.MustCompile(`^#[0-9a-f]{6}$`)
)

func hasScript(s string, tab *unicode.RangeTable) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(tab, r) }) >= 0
}

// TestRecordsValid checks every record against record.Normalize and the
// realism rules the package promises, under default and extreme options.
func TestRecordsValid(t *testing.T) {
	optionSets := []Options{
		{N: 20000, Seed: 1},
		{N: 3000, Seed: 2, KoreanShare: 1, CJKShare: -1, CameraShare: 1, TakenAtShare: 1, LocationShare: 1, PHashShare: 1, NearDupShare: 1},
		{N: 3000, Seed: 3, KoreanShare: -1, CJKShare: 1, CameraShare: -1, TakenAtShare: -1, LocationShare: -1, PHashShare: -1},
	}
	for _, opts := range optionSets {
		urls := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(generate(t, opts)))
		sc.Buffer(nil, 1<<20)
		for i := 0; sc.Scan(); i++ {
			line := sc.Text()
			if strings.Contains(line, `"id"`) {
				t.Fatalf("record %d has an id: %s", i, line)
			}
			rec, err := record.Parse(sc.Bytes())
			if err != nil {
				t.Fatalf("record %d does not parse: %v\n%s", i, err, line)
			}
			// Normalize must change nothing but fill the id.
			rec.ID = ""
			again, _ := json.Marshal(rec)
			if string(again) != line {
				t.Fatalf("record %d changed under Normalize:\n got %s\nwant %s", i, again, line)
			}
			if urls[rec.URL] {
				t.Fatalf("record %d repeats url %s", i, rec.URL)
			}
			urls[rec.URL] = true
			checkRealism(t, i, &rec)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func checkRealism(t *testing.T, i int, rec *record.Record) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("record %d: "+format, append([]any{i}, args...)...)
	}
	if !strings.HasPrefix(rec.URL, "https://img.example-") && !strings.HasPrefix(rec.URL, "file:///") {
		fail("url %q", rec.URL)
	}
	if rec.Caption == "" || rec.Title == "" {
		fail("missing caption or title")
	}
	if len(rec.Tags) < 1 || len(rec.Tags) > 8 {
		fail("%d tags", len(rec.Tags))
	}
	for _, tag := range rec.Tags {
		if tag != strings.ToLower(tag) || strings.TrimSpace(tag) != tag {
			fail("tag %q is not lower-case and trimmed", tag)
		}
	}
	if n := len(rec.Colors); n < 1 || n > 5 {
		fail("%d colours", n)
	}
	for _, c := range rec.Colors {
		if !colorRe.MatchString(c) {
			fail("colour %q", c)
		}
	}
	if rec.PHash != "" && !phashRe.MatchString(rec.PHash) {
		fail("phash %q", rec.PHash)
	}
	if !slices.Contains([]string{"jpeg", "png", "webp", "gif", "heic", "tiff"}, rec.Format) {
		fail("format %q", rec.Format)
	}
	if rec.Width <= 0 || rec.Height <= 0 || rec.Bytes <= 0 {
		fail("size %dx%d, %d bytes", rec.Width, rec.Height, rec.Bytes)
	}
	if bpp := float64(rec.Bytes) / float64(rec.Width*rec.Height); bpp > 8 && rec.Width*rec.Height > 100000 {
		fail("%v bytes per pixel for %s %dx%d", bpp, rec.Format, rec.Width, rec.Height)
	}
	if !hasScript(rec.Title, unicode.Hangul) && !hasScript(rec.Title, unicode.Han) &&
		!hasScript(rec.Title, unicode.Katakana) && !hasScript(rec.Title, unicode.Hiragana) {
		if n := len(strings.Fields(rec.Title)); n < 2 || n > 6 {
			fail("English title %q has %d words", rec.Title, n)
		}
	}
	if c := rec.Camera; c != nil {
		if c.Make == "" || c.Model == "" || c.FNumber == nil || c.ExposureS == nil || c.ISO == nil || c.FocalLengthMM == nil || c.Flash == nil {
			fail("incomplete camera %+v", c)
		}
		if !slices.Contains(fStops, *c.FNumber) {
			fail("f-number %v is not a real stop", *c.FNumber)
		}
		if !slices.Contains(shutterSpeeds, *c.ExposureS) {
			fail("exposure %v is not a real shutter speed", *c.ExposureS)
		}
		if !slices.Contains(isoSteps, *c.ISO) {
			fail("ISO %d is not a real step", *c.ISO)
		}
	}
	if rec.TakenAt != "" {
		ts, err := record.ParseTime(rec.TakenAt)
		if err != nil || ts.Year() < firstYear || ts.Year() > lastYear+1 {
			fail("taken_at %q", rec.TakenAt)
		}
	}
	if l := rec.Location; l != nil && (math.Abs(l.Lat) > 90 || math.Abs(l.Lon) > 180) {
		fail("location %+v", l)
	}
}

func TestDistribution(t *testing.T) {
	const n = 50000
	recs := records(t, Options{N: n, Seed: 11})
	var korean, cjk, camera, taken, located, hashed, dogCaptions, platypusCaptions, englishCaptions, kst, koreanTaken int
	formats := map[string]int{}
	tagCount := map[string]int{}
	for _, r := range recs {
		isKorean := hasScript(r.Caption+r.Title, unicode.Hangul)
		switch {
		case isKorean:
			korean++
		case hasScript(r.Caption+r.Title, unicode.Han), hasScript(r.Caption+r.Title, unicode.Katakana),
			hasScript(r.Caption+r.Title, unicode.Hiragana):
			cjk++
		default:
			englishCaptions++
			words := strings.Fields(r.Caption)
			if slices.Contains(words, "dog") {
				dogCaptions++
			}
			if slices.Contains(words, "platypus") {
				platypusCaptions++
			}
		}
		if r.Camera != nil {
			camera++
		}
		if r.TakenAt != "" {
			taken++
			if isKorean {
				koreanTaken++
				if strings.HasSuffix(r.TakenAt, "+09:00") {
					kst++
				}
			}
		}
		if r.Location != nil {
			located++
		}
		if r.PHash != "" {
			hashed++
		}
		formats[r.Format]++
		for _, tag := range r.Tags {
			tagCount[tag]++
		}
	}
	near := func(name string, got int, want, tol float64) {
		t.Helper()
		if share := float64(got) / n; math.Abs(share-want) > tol {
			t.Errorf("%s share = %.4f, want %.3f ± %.3f", name, share, want, tol)
		}
	}
	near("Korean", korean, DefaultKoreanShare, 0.006)
	near("Japanese/Chinese", cjk, DefaultCJKShare, 0.004)
	near("camera", camera, DefaultCameraShare, 0.01)
	near("taken_at", taken, DefaultTakenAtShare, 0.01)
	near("location", located, DefaultLocationShare, 0.01)
	near("phash", hashed, DefaultPHashShare, 0.01)
	for f, want := range map[string]float64{"jpeg": 0.70, "png": 0.12, "webp": 0.08, "gif": 0.04, "heic": 0.04, "tiff": 0.02} {
		near(f, formats[f], want, 0.01)
	}
	// Most Korean records are shot in Korea, in Korean time.
	if float64(kst)/float64(koreanTaken) < 0.6 {
		t.Errorf("only %d of %d dated Korean records are +09:00", kst, koreanTaken)
	}
	// Zipf: the head animal is in a few percent of English captions, a
	// tail animal in a tiny fraction of that.
	if share := float64(dogCaptions) / float64(englishCaptions); share < 0.02 {
		t.Errorf(`"dog" is in %.4f of English captions, want a Zipf head word (>= 0.02)`, share)
	}
	if dogCaptions < 20*platypusCaptions {
		t.Errorf(`"dog" in %d captions, "platypus" in %d: not Zipf-like`, dogCaptions, platypusCaptions)
	}
	head, tail := tagCount[tagVocab.words[0]], tagCount[tagVocab.words[len(tagVocab.words)-1]]
	if head < 30*max(tail, 1) {
		t.Errorf("head tag %q used %d times, tail tag %q %d times: not Zipf-like",
			tagVocab.words[0], head, tagVocab.words[len(tagVocab.words)-1], tail)
	}
}

// TestNearDuplicates checks that about NearDupShare of hashed records sit
// within 8 bits of an earlier one, with the caption of that record.
func TestNearDuplicates(t *testing.T) {
	recs := records(t, Options{N: 6000, Seed: 5})
	var hashes []uint64
	var captions []string
	dups, hashed := 0, 0
	for _, r := range recs {
		h, ok := r.PHashValue()
		if !ok {
			continue
		}
		hashed++
		for k, prev := range hashes {
			if bits.OnesCount64(h^prev) <= 8 {
				dups++
				if !strings.HasPrefix(r.Caption, captions[k]) && !strings.HasPrefix(captions[k], r.Caption) &&
					!sharesPrefix(r.Caption, captions[k]) {
					t.Errorf("near-duplicate captions differ: %q vs %q", r.Caption, captions[k])
				}
				break
			}
		}
		hashes = append(hashes, h)
		captions = append(captions, r.Caption)
	}
	if share := float64(dups) / float64(hashed); share < 0.07 || share > 0.13 {
		t.Errorf("%d of %d hashed records (%.3f) are near-duplicates, want about %.2f", dups, hashed, share, DefaultNearDupShare)
	}
}

// sharesPrefix allows both captions to be edited variants of a third.
func sharesPrefix(a, b string) bool {
	n := min(len(a), len(b))
	return n > 0 && a[:n*3/4] == b[:n*3/4]
}

func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	recs := records(t, Options{N: 5000, Seed: 9, KoreanShare: 0.3, CJKShare: 0.2})
	tiny, huge, zero, alt := 1e-7, 1e22, 0.0, -3.25
	iso, flash := 0, false
	recs = append(recs,
		record.Record{URL: "u"},
		record.Record{ID: "x", URL: `a"b\c<d>e&f` + "\n\t\r\b\f\x01\u2028\u2029\xff", Tags: []string{}, Colors: []string{"#000000"}, Op: "delete"},
		record.Record{URL: "u", Camera: &record.Camera{FocalLengthMM: &tiny, FNumber: &huge, ExposureS: &zero, ISO: &iso, Flash: &flash}},
		record.Record{URL: "u", Camera: &record.Camera{}, Location: &record.Location{Lat: -0.000001, Lon: 180, Alt: &alt}},
		record.Record{URL: "u", Width: -1, Bytes: 1 << 40},
		record.Record{URL: "u", Extra: map[string]json.RawMessage{"zz": json.RawMessage(`1`), "aa": json.RawMessage(`"x"`)}},
	)
	for i := range recs {
		want, err := json.Marshal(recs[i])
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendRecord(nil, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestWriteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := Write(ctx, io.Discard, Options{N: 10})
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Write(cancelled) = %d, %v; want 0, context.Canceled", n, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if _, err := Write(context.Background(), failWriter{}, Options{N: 5000}); err == nil || err.Error() != "disk full" {
		t.Fatalf("Write to a failing writer: %v, want disk full", err)
	}
	if _, err := Write(context.Background(), io.Discard, Options{N: -1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Write with N=-1: %v, want ErrInvalidOptions", err)
	}
}

func TestVocabulary(t *testing.T) {
	lists := map[string][]string{
		"adjective": adjectiveWords, "object": objectWords, "vehicle": vehicleWords, "animal": animalWords,
		"person": personWords, "place": placeWords, "activity": activityWords, "state": stateWords,
		"weatherAdj": weatherAdjWords, "weather": weatherNounWords, "timeOfDay": timeOfDayWords,
		"photo": photoWords, "event": eventWords, "colour": colourNames(), "koNoun": koNouns,
		"koPlace": koPlaces, "koPhrase": koPhrases, "jaPlace": jaPlaces, "zhPlace": zhPlaces,
	}
	english := map[string]bool{}
	korean := 0
	for name, l := range lists {
		seen := map[string]bool{}
		for _, w := range l {
			if seen[w] {
				t.Errorf("%s list repeats %q", name, w)
			}
			seen[w] = true
			if hasScript(w, unicode.Hangul) {
				korean++
			} else {
				english[w] = true
			}
		}
	}
	if len(english) < 1900 {
		t.Errorf("English vocabulary has %d distinct words, want about 2000", len(english))
	}
	if korean < 180 {
		t.Errorf("Korean vocabulary has %d entries, want about 200", korean)
	}
	if n := len(tagVocab.words); n != 500 {
		t.Errorf("tag vocabulary has %d words, want 500", n)
	}
	if n := len(cameraModels); n < 40 {
		t.Errorf("%d camera models, want about 40", n)
	}
	if n := len(places); n < 60 {
		t.Errorf("%d places, want about 60", n)
	}
}

func BenchmarkGenerate(b *testing.B) {
	g, err := New(Options{N: math.MaxInt, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkWrite(b *testing.B) {
	b.ReportAllocs()
	var cw countWriter
	for b.Loop() {
		if _, err := Write(context.Background(), &cw, Options{N: 10000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "records/s")
	b.SetBytes(cw.n / int64(b.N))
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
