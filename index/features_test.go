package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/query"
	"github.com/picdex/picdex/index/record"
)

// TestFacetsExact checks merged facet counts against counting the corpus
// directly, for several shard counts and with filters.
func TestFacetsExact(t *testing.T) {
	corpus := skewedCorpus(800, 3)
	for _, n := range []int{1, 5} {
		ix := openWith(t, n, corpus)
		res := mustSearch(t, ix, Request{Query: "bus", Facets: []string{"tags:100", "format", "camera.make", "width", "taken_at:50"}, Size: new(1)})
		want := map[string]map[string]int{"tags": {}, "format": {}, "camera.make": {}, "width": {}}
		matched := 0
		for _, r := range corpus {
			if !containsWord(r.Title+" "+r.Caption+" "+r.Alt, "bus") && !contains(r.Tags, "bus") {
				continue
			}
			matched++
			for _, tg := range r.Tags {
				want["tags"][tg]++
			}
			want["format"][r.Format]++
			if r.Camera != nil {
				want["camera.make"][lower(r.Camera.Make)]++
			}
			for _, b := range pixelBuckets {
				if (b.min == nil || float64(r.Width) >= *b.min) && (b.max == nil || float64(r.Width) < *b.max) {
					want["width"][b.name]++
				}
			}
		}
		require.EqualValues(t, matched, res.Total)
		for name, counts := range want {
			got := map[string]int{}
			for _, v := range res.Facets[name] {
				got[v.Value] = v.Count
			}
			require.Equal(t, counts, got, "facet %s, %d shards", name, n)
		}
		years := 0
		for _, v := range res.Facets["taken_at"] {
			years += v.Count
		}
		require.Equal(t, matched, years, "every match has a taken_at in one bucket")
		// Term facets are ordered by count, then value, and trimmed once.
		small := mustSearch(t, ix, Request{Query: "bus", Facets: []string{"tags:3"}})
		require.Len(t, small.Facets["tags"], 3)
		require.Equal(t, res.Facets["tags"][:3], small.Facets["tags"])
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func containsWord(text, w string) bool {
	start := 0
	for i := 0; i <= len(text); i++ {
		if i == len(text) || text[i] == ' ' {
			if text[start:i] == w {
				return true
			}
			start = i + 1
		}
	}
	return false
}

// TestSimilarNeverMisses compares near-duplicate search with a brute-force
// scan for every distance up to the maximum, alone and with a filter.
func TestSimilarNeverMisses(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var corpus []record.Record
	base := make([]uint64, 20)
	for i := range base {
		base[i] = rng.Uint64()
	}
	for i := 0; i < 1500; i++ {
		h := base[rng.IntN(len(base))]
		for k := rng.IntN(14); k > 0; k-- { // flip up to 13 bits
			h ^= 1 << rng.IntN(64)
		}
		corpus = append(corpus, record.Record{
			ID: fmt.Sprintf("p%04d", i), URL: fmt.Sprintf("https://x/%d.png", i),
			PHash: fmt.Sprintf("%016x", h), Format: []string{"jpeg", "png"}[i%2],
		})
	}
	ix := openWith(t, 4, corpus)
	for k := 0; k <= MaxPHashDist; k++ {
		for _, q := range base[:5] {
			for _, format := range []string{"", "png"} {
				var want []string
				for _, r := range corpus {
					v, _ := r.PHashValue()
					if bits.OnesCount64(v^q) <= k && (format == "" || r.Format == format) {
						want = append(want, r.ID)
					}
				}
				req := Request{Size: new(MaxSize), Filter: Filter{Similar: fmt.Sprintf("%016x", q), Distance: &k}}
				if format != "" {
					req.Format = []string{format}
				}
				res := mustSearch(t, ix, req)
				var got []string
				last := -1
				for _, h := range res.Hits {
					got = append(got, h.ID)
					require.NotNil(t, h.Distance)
					require.GreaterOrEqual(t, *h.Distance, last, "nearest first")
					last = *h.Distance
				}
				sort.Strings(got)
				sort.Strings(want)
				require.Equal(t, want, got, "k=%d format=%q", k, format)
			}
		}
	}
}

// TestCursorPaging walks every page with cursors and compares with one
// large page, for score, field and distance sorts.
func TestCursorPaging(t *testing.T) {
	corpus := skewedCorpus(600, 5)
	ix := openWith(t, 3, corpus)
	var someHash string
	for _, r := range corpus {
		if r.PHash != "" {
			someHash = r.PHash
			break
		}
	}
	sixty := 60
	for _, req := range []Request{
		{Query: "bus river"},
		{Query: "red", Sort: []string{"-width"}},
		{Sort: []string{"taken_at", "-height"}},
		{Query: "bus", Sort: []string{"format", "-_score"}},
		{Filter: Filter{Similar: someHash, Distance: &sixty}},
	} {
		if req.Distance != nil {
			ten := 10
			req.Distance = &ten
		}
		all := req
		all.Size = new(MaxSize)
		full := mustSearch(t, ix, all)
		var paged []string
		page := req
		page.Size = new(7)
		for i := 0; i < 200; i++ {
			res := mustSearch(t, ix, page)
			for _, h := range res.Hits {
				paged = append(paged, h.ID)
			}
			if res.NextCursor == "" {
				break
			}
			page.Cursor = res.NextCursor
		}
		var want []string
		for _, h := range full.Hits {
			want = append(want, h.ID)
		}
		require.Equal(t, want, paged, "request %+v", req)
		// from/size pages agree with the same window of the full list
		if len(want) > 10 {
			res := mustSearch(t, ix, Request{Query: req.Query, Sort: req.Sort, Filter: req.Filter, From: 3, Size: new(5)})
			var got []string
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
			require.Equal(t, want[3:8], got)
		}
	}
}

// TestBadRequests: every malformed request is a typed client error.
func TestBadRequests(t *testing.T) {
	ix := openWith(t, 2, skewedCorpus(50, 1))
	neg, big := -1, 11
	for _, req := range []Request{
		{From: math.MaxInt}, {From: math.MaxInt - 5, Size: new(10)},
		{Size: new(-1)}, {Size: new(MaxSize + 1)}, {From: -5}, {From: MaxWindow},
		{Cursor: "not-a-cursor"}, {Cursor: "e30"}, {Query: "bus", Cursor: encodeCursor([]sortKey{{field: "width"}}, []string{"1"})},
		{Sort: []string{"caption"}}, {Sort: []string{"location"}}, {Facets: []string{"caption"}}, {Facets: []string{"tags:0"}},
		{Facets: []string{"tags:x"}}, {Filter: Filter{Near: "1,2"}}, {Filter: Filter{Near: "91,0,5"}},
		{Filter: Filter{Near: "0,0,-1"}}, {Filter: Filter{Near: "a,b,c"}}, {Filter: Filter{BBox: "10,0,20,5"}},
		{Filter: Filter{BBox: "10,200,0,5"}}, {Filter: Filter{Similar: "xyz"}}, {Filter: Filter{Similar: "00000000000000000"}},
		{Filter: Filter{Similar: "0000000000000000", Distance: &big}}, {Filter: Filter{Similar: "0000000000000000", Distance: &neg}},
		{Filter: Filter{Distance: &big}}, {Filter: Filter{TakenFrom: "yesterday"}},
		{Filter: Filter{WidthMin: &big, WidthMax: &neg}},
		{Filter: Filter{Tags: []string{"\xff"}}}, {Filter: Filter{Make: "ca\xfenon"}}, {Filter: Filter{Format: []string{"\xfe"}}},
		{Filter: Filter{TakenFrom: "2021-01-01", TakenTo: "2020-01-01"}},
		{Filter: Filter{Near: "0x1p-2,0,1"}}, {Filter: Filter{Near: "0_0,0,1"}},
		{Query: `"unterminated`}, {Query: "title:"}, {Query: "title:(bus)"}, {Query: "width:abc"},
		{Query: "taken_at:>notadate"}, {Query: "/[/"}, {Query: "location:x"},
	} {
		_, err := ix.Search(context.Background(), &req)
		require.Error(t, err, "request %+v", req)
		require.True(t, errors.Is(err, ErrBadRequest), "request %+v: %v is not a bad request", req, err)
	}
	formats := make([]string, 257)
	var re *RequestError
	_, err := ix.Search(context.Background(), &Request{Filter: Filter{Format: formats}})
	require.ErrorAs(t, err, &re)
	require.Equal(t, "format", re.Param)
	_, err = ix.Search(context.Background(), &Request{Query: "red (bus"})
	var pe *query.ParseError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, 4, pe.Pos)
}

// TestNaturalCaptionsSearch: text pasted into the search box searches,
// whatever punctuation it holds; only the schema's fields are fields.
func TestNaturalCaptionsSearch(t *testing.T) {
	recs := skewedCorpus(100, 1)
	recs[0].Caption = "A watch set to 12:25 sits on the table"
	recs[1].Caption = "A large display of fruit: apples, grapes"
	recs[2].Caption = "a home bar under a sign saying PUB"
	ix := openWith(t, 2, recs)
	for i, q := range []string{"A watch set to 12:25 sits on the table.", "A large display of fruit: apples, grapes",
		`a sign saying "PUB".`} {
		res, err := ix.Search(context.Background(), &Request{Query: q})
		require.NoError(t, err, q)
		require.NotEmpty(t, res.Hits, q)
		require.Equal(t, recs[i].ID, res.Hits[0].ID, q)
	}
	data, err := os.ReadFile("query/testdata/captions.txt")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, err := ix.Search(context.Background(), &Request{Query: line})
		require.NoError(t, err, line)
	}
	// A real field still is one.
	res := mustSearch(t, ix, Request{Query: "format:png"})
	require.NotZero(t, res.Total)
}

// TestDurableAcrossReopen: what Apply acknowledged is there after a reopen,
// with its near-duplicate index rebuilt; updates and deletes stick.
func TestDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 3})
	require.NoError(t, err)
	corpus := skewedCorpus(200, 9)
	require.NoError(t, ix.Apply(context.Background(), corpus))
	updated := corpus[0]
	updated.Title = "completely renamed"
	updated.Extra = map[string]json.RawMessage{"x_custom": json.RawMessage(`{"kept":true}`)}
	require.NoError(t, ix.Apply(context.Background(), []record.Record{updated}))
	require.NoError(t, ix.Delete(context.Background(), corpus[1].ID))
	before := mustSearch(t, ix, Request{Filter: Filter{Similar: "0000000000000000", Distance: ptr(10)}})
	require.NoError(t, ix.Close())

	ix, err = Open(dir, Options{})
	require.NoError(t, err)
	defer ix.Close()
	st, err := ix.Stats(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 199, st.Docs)
	raw, err := ix.Get(context.Background(), corpus[0].ID)
	require.NoError(t, err)
	require.Contains(t, string(raw), "completely renamed")
	require.Contains(t, string(raw), `"x_custom":{"kept":true}`)
	_, err = ix.Get(context.Background(), corpus[1].ID)
	require.ErrorIs(t, err, ErrNotFound)
	res := mustSearch(t, ix, Request{Query: "renamed"})
	require.EqualValues(t, 1, res.Total)
	after := mustSearch(t, ix, Request{Filter: Filter{Similar: "0000000000000000", Distance: ptr(10)}})
	require.Equal(t, before.Total, after.Total)
	phashes := 0
	for _, s := range st.Shards {
		phashes += s.PHashes
	}
	want := 0
	for _, r := range corpus[2:] {
		if r.PHash != "" {
			want++
		}
	}
	if corpus[0].PHash != "" {
		want++
	}
	require.Equal(t, want, phashes)

	_, err = Open(dir, Options{Shards: 5})
	require.ErrorIs(t, err, ErrShardCount)
}

func ptr[T any](v T) *T { return &v }

// TestMappingVersionMismatch: an index built by another layout version is
// refused with an error that asks for a reindex.
func TestMappingVersionMismatch(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 1})
	require.NoError(t, err)
	require.NoError(t, ix.shards[0].idx.SetInternal(mappingVersionKey, []byte("0")))
	require.NoError(t, ix.Close())
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrMappingVersion)
	require.Contains(t, err.Error(), "reindex")

	mf, err := readManifest(dir)
	require.NoError(t, err)
	mf.MappingVersion = MappingVersion + 1
	require.NoError(t, writeManifest(dir, mf))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrMappingVersion)
	require.NoError(t, os.WriteFile(filepath.Join(dir, manifestName), []byte("{"), 0o644))
	_, err = Open(dir, Options{})
	require.Error(t, err)
}

// TestFilters checks each structured filter against the corpus.
func TestFilters(t *testing.T) {
	corpus := skewedCorpus(500, 21)
	corpus[0].Location = &record.Location{Lat: 37.5665, Lon: 126.978}  // Seoul
	corpus[1].Location = &record.Location{Lat: 35.6762, Lon: 139.6503} // Tokyo
	corpus[2].Location = &record.Location{Lat: 37.45, Lon: 126.70}     // Incheon, ~27 km from Seoul
	ix := openWith(t, 4, corpus)
	count := func(pred func(r record.Record) bool) uint64 {
		n := uint64(0)
		for _, r := range corpus {
			if pred(r) {
				n++
			}
		}
		return n
	}
	w := 1000
	h := 2000
	cases := []struct {
		f    Filter
		pred func(r record.Record) bool
	}{
		{Filter{Tags: []string{"red"}}, func(r record.Record) bool { return contains(r.Tags, "red") }},
		{Filter{Tags: []string{"red", "lantern"}}, func(r record.Record) bool { return contains(r.Tags, "red") && contains(r.Tags, "lantern") }},
		{Filter{Format: []string{"png", "JPG"}}, func(r record.Record) bool { return r.Format == "png" || r.Format == "jpeg" }},
		{Filter{Make: "canon"}, func(r record.Record) bool { return r.Camera != nil && r.Camera.Make == "Canon" }},
		{Filter{Make: "NIKON", Model: "m1"}, func(r record.Record) bool {
			return r.Camera != nil && r.Camera.Make == "NIKON" && r.Camera.Model == "M1"
		}},
		{Filter{WidthMin: &w}, func(r record.Record) bool { return r.Width >= w }},
		{Filter{WidthMin: &w, HeightMax: &h}, func(r record.Record) bool { return r.Width >= w && r.Height <= h }},
		{Filter{TakenFrom: "2010-01-01", TakenTo: "2014-12-31"}, func(r record.Record) bool {
			return r.TakenAt >= "2010-01-01" && r.TakenAt < "2015"
		}},
		{Filter{Near: "37.5665,126.978,50"}, func(r record.Record) bool { return r.Location != nil && r.Location.Lon < 130 }},
		{Filter{Near: "37.5665,126.978,10"}, func(r record.Record) bool { return r.Location != nil && r.Location.Lat == 37.5665 }},
		{Filter{BBox: "40,120,30,145"}, func(r record.Record) bool { return r.Location != nil }},
	}
	for _, c := range cases {
		res := mustSearch(t, ix, Request{Filter: c.f})
		require.Equal(t, count(c.pred), res.Total, "filter %+v", c.f)
		for _, h := range res.Hits {
			require.Zero(t, h.Score, "filter-only searches do not score")
		}
	}
	// Filters do not change scores of a text query.
	plain := mustSearch(t, ix, Request{Query: "bus", Size: new(MaxSize)})
	scores := map[string]float64{}
	for _, h := range plain.Hits {
		scores[h.ID] = h.Score
	}
	filtered := mustSearch(t, ix, Request{Query: "bus", Size: new(MaxSize), Filter: Filter{Format: []string{"png"}}})
	require.NotEmpty(t, filtered.Hits)
	for _, h := range filtered.Hits {
		require.Equal(t, scores[h.ID], h.Score)
	}
}

// TestQuerySyntaxFeatures exercises the text side: stemming, stop words,
// CJK, fields, ranges and highlighting.
func TestQuerySyntaxFeatures(t *testing.T) {
	recs := []record.Record{
		{ID: "en", URL: "u1", Title: "Children running in the park", Caption: "two kids were running past the <old> fountain", Width: 3000},
		{ID: "ko", URL: "u2", Caption: "강아지가 공원에서 뛰어놀고 있어요", Title: "서울숲 산책"},
		{ID: "ja", URL: "u3", Caption: "東京タワーの夜景", Tags: []string{"夜景"}},
		{ID: "zh", URL: "u4", Caption: "长城在北京附近", Width: 800},
	}
	ix := openWith(t, 2, recs)
	ids := func(q string) []string {
		res := mustSearch(t, ix, Request{Query: q})
		var out []string
		for _, h := range res.Hits {
			out = append(out, h.ID)
		}
		sort.Strings(out)
		return out
	}
	require.Equal(t, []string{"en"}, ids("run"), "stemming")
	require.Equal(t, []string{"en"}, ids("kid"), "stemming kids→kid")
	require.Equal(t, []string{"en"}, ids(`"running past"`))
	require.Empty(t, ids("the"), "stop word alone matches nothing")
	require.Equal(t, []string{"ko"}, ids("강아지"))
	require.Equal(t, []string{"ko"}, ids("공원"))
	require.Equal(t, []string{"ja"}, ids("東京タワー"))
	require.Equal(t, []string{"ja"}, ids("tags:夜景"))
	require.Equal(t, []string{"zh"}, ids("长城"))
	require.Equal(t, []string{"zh"}, ids("北京"))
	require.Equal(t, []string{"en"}, ids("width:>1000"))
	require.Equal(t, []string{"en", "zh"}, ids("width:>=800"))
	require.Equal(t, []string{"en"}, ids("+run -강아지"))
	res := mustSearch(t, ix, Request{Query: "old fountain"})
	require.Equal(t, []string{"two kids were running past the &lt;<mark>old</mark>&gt; <mark>fountain</mark>"}, res.Hits[0].Highlights["caption"])
	res = mustSearch(t, ix, Request{Query: "강아지"})
	require.Equal(t, "<mark>강아지</mark>가 공원에서 뛰어놀고 있어요", res.Hits[0].Highlights["caption"][0])
}

// TestRoutingStable pins the routing function: changing it would silently
// send updates to the wrong shard of existing indexes.
func TestRoutingStable(t *testing.T) {
	got := ""
	for i := 0; i < 8; i++ {
		got += strconv.Itoa(ShardOf(fmt.Sprintf("id-%d", i), 16)) + ","
	}
	require.Equal(t, "15,4,14,4,7,14,9,5,", got)
	// Growing 8→9 shards moves about 1/9 of ids.
	moved := 0
	for i := 0; i < 9000; i++ {
		id := fmt.Sprintf("doc%d", i)
		if ShardOf(id, 8) != ShardOf(id, 9) {
			moved++
		}
	}
	require.InDelta(t, 1000, moved, 150)
}

// TestSecondOpenFailsFast: a directory held open elsewhere is reported,
// not waited on forever.
func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	require.False(t, Exists(dir))
	ix, err := Open(dir, Options{Shards: 1})
	require.NoError(t, err)
	defer ix.Close()
	require.True(t, Exists(dir))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
}

// TestOldDates: dates before 1678 (where UnixNano overflows) sort and
// facet correctly.
func TestOldDates(t *testing.T) {
	ix := openWith(t, 2, []record.Record{
		{ID: "a", URL: "a", TakenAt: "1503-01-01T00:00:00Z"},
		{ID: "b", URL: "b", TakenAt: "1890-05-01T00:00:00Z"},
		{ID: "c", URL: "c", TakenAt: "2020-05-01T00:00:00Z"},
		{ID: "d", URL: "d", TakenAt: "1200-05-01T00:00:00Z"},
	})
	res := mustSearch(t, ix, Request{Facets: []string{"taken_at"}, Sort: []string{"taken_at"}})
	require.Equal(t, []FacetValue{{"<1500", 1}, {"1500s", 1}, {"1800s", 1}, {"2020", 1}}, res.Facets["taken_at"])
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	require.Equal(t, []string{"d", "a", "b", "c"}, ids)
	res = mustSearch(t, ix, Request{Query: "taken_at:<1600-01-01"})
	require.EqualValues(t, 2, res.Total)
}

// TestPHashCompactionUnderUpdates: re-applying records with phashes many
// times (which compacts the near-duplicate index) keeps it correct.
func TestPHashCompactionUnderUpdates(t *testing.T) {
	var corpus []record.Record
	for i := 0; i < 700; i++ {
		corpus = append(corpus, record.Record{ID: fmt.Sprintf("h%03d", i), URL: fmt.Sprintf("u%d", i), PHash: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)})
	}
	ix := openWith(t, 1, corpus)
	for round := 0; round < 4; round++ {
		require.NoError(t, ix.Apply(context.Background(), corpus))
	}
	st, err := ix.Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, 700, st.Shards[0].PHashes)
	res := mustSearch(t, ix, Request{Filter: Filter{Similar: corpus[5].PHash, Distance: ptr(0)}})
	require.Len(t, res.Hits, 1)
	require.Equal(t, corpus[5].ID, res.Hits[0].ID)
}

// TestCursorWithMissingValues: paging by a field some documents lack
// visits every document once and ends.
func TestCursorWithMissingValues(t *testing.T) {
	var corpus []record.Record
	for i := 0; i < 23; i++ {
		r := record.Record{ID: fmt.Sprintf("m%02d", i), URL: fmt.Sprintf("u%d", i), Caption: "harbour"}
		if i%2 == 0 {
			r.Width = 100 + i
			r.TakenAt = fmt.Sprintf("%04d-01-01", 1500+i*20)
		}
		corpus = append(corpus, r)
	}
	ix := openWith(t, 3, corpus)
	for _, sort := range []string{"width", "-width", "taken_at", "-taken_at"} {
		seen := map[string]bool{}
		req := Request{Sort: []string{sort}, Size: new(4)}
		for page := 0; page < 20; page++ {
			res := mustSearch(t, ix, req)
			for _, h := range res.Hits {
				require.False(t, seen[h.ID], "%s: %s twice", sort, h.ID)
				seen[h.ID] = true
			}
			if res.NextCursor == "" {
				break
			}
			req.Cursor = res.NextCursor
		}
		require.Len(t, seen, len(corpus), sort)
	}
}

// TestInterruptedShardCreation: a shard created without its version (the
// process stopped in between) is finished on the next open.
func TestInterruptedShardCreation(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{Shards: 1})
	require.NoError(t, err)
	require.NoError(t, ix.shards[0].idx.DeleteInternal(mappingVersionKey))
	require.NoError(t, ix.Close())
	ix, err = Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, ix.Close())
}

// TestSortTiesAcrossSegments: with every score alike and few distinct
// sort values, spread over several segments of one shard and with ids
// rewritten in later ones, every sort gives the order its keys and the
// id say, on every page (the collector turns candidates away by ordinals
// in each segment's term lists, so this holds it to the strings).
func TestSortTiesAcrossSegments(t *testing.T) {
	ix, err := Open(t.TempDir(), Options{Shards: 1})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	latest := map[string]record.Record{}
	rng := rand.New(rand.NewPCG(3, 4))
	for batch := range 6 {
		var recs []record.Record
		for range 40 {
			id := fmt.Sprintf("t%03d", rng.IntN(150))
			r := record.Record{ID: id, URL: "u/" + id, Title: "harbour"}
			if k := rng.IntN(6); k > 0 {
				r.TakenAt = fmt.Sprintf("20%02d-01-01", 10+k)
				r.Width = 100 * k
			}
			r.Caption = fmt.Sprint("batch ", batch) // scores stay alike: the query is on the title
			recs = append(recs, r)
			latest[id] = r
		}
		require.NoError(t, ix.Apply(context.Background(), recs))
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	// value returns a record's sort value, "" for none (which sorts last
	// either way).
	value := func(id, field string) string {
		switch field {
		case "taken_at":
			return latest[id].TakenAt
		case "width":
			if w := latest[id].Width; w > 0 {
				return fmt.Sprintf("%05d", w)
			}
		}
		return ""
	}
	for _, keys := range [][]string{nil, {"-taken_at"}, {"taken_at"}, {"-_id"}, {"width", "-taken_at"}, {"-width", "_id"}} {
		want := slices.Clone(ids)
		slices.SortFunc(want, func(a, b string) int {
			for _, k := range keys {
				f, desc := strings.TrimPrefix(k, "-"), strings.HasPrefix(k, "-")
				if f == "_id" {
					if desc {
						return strings.Compare(b, a)
					}
					return strings.Compare(a, b)
				}
				va, vb := value(a, f), value(b, f)
				switch {
				case va == vb:
					continue
				case va == "":
					return 1
				case vb == "":
					return -1
				case desc:
					return strings.Compare(vb, va)
				}
				return strings.Compare(va, vb)
			}
			return strings.Compare(a, b)
		})
		for _, page := range []int{0, 7, 31, 90} {
			res := mustSearch(t, ix, Request{Query: "harbour", Sort: keys, From: page, Size: new(9)})
			var got []string
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
			require.Equal(t, want[page:min(page+9, len(want))], got, "sort %v from %d", keys, page)
		}
	}
}
