package shardtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/query"
	"github.com/picdex/picdex/index/record"
)

// Open returns shards holding recs, split among n shards as index.Open
// splits them; the test's cleanup closes whatever they need.
type Open func(t *testing.T, recs []record.Record, n int) []index.Shard

var words = []string{"red", "bus", "bridge", "river", "sunset", "dog", "cat", "park", "city", "tower",
	"lantern", "market", "street", "night", "rain", "mountain", "lake", "boat", "child", "garden",
	"old", "blue", "green", "running", "walking", "crossing", "station", "train", "snow", "beach"}

// Corpus returns n deterministic records using every kind of field a
// search reads: text, tags, formats, sizes, dates, cameras, places and
// perceptual hashes.
func Corpus(n int, seed uint64) []record.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	text := func(k int) string {
		s := words[rng.IntN(len(words))]
		for range k - 1 {
			s += " " + words[rng.IntN(len(words))]
		}
		return s
	}
	out := make([]record.Record, n)
	for i := range out {
		id := fmt.Sprintf("img-%05d", i)
		r := record.Record{
			ID: id, URL: "https://example.com/" + id + ".jpg",
			Title:   text(1 + rng.IntN(4)),
			Caption: text(3 + rng.IntN(10)),
			Tags:    []string{words[rng.IntN(10)], words[10+rng.IntN(10)]},
			Format:  []string{"jpeg", "png", "webp"}[rng.IntN(3)],
			Width:   200 + rng.IntN(4000), Height: 200 + rng.IntN(3000),
			TakenAt: fmt.Sprintf("%04d-%02d-10T12:00:00Z", 2000+rng.IntN(25), 1+rng.IntN(12)),
		}
		if rng.IntN(3) == 0 {
			r.Alt = text(2)
		}
		if i%2 == 0 {
			// Hashes near one another, so that similar searches find some.
			r.PHash = fmt.Sprintf("%016x", uint64(0xfedcba9876543210)^(uint64(1)<<rng.IntN(64))^(uint64(1)<<rng.IntN(64)))
		}
		if rng.IntN(3) == 0 {
			r.Camera = &record.Camera{Make: []string{"Canon", "NIKON", "Sony"}[rng.IntN(3)], Model: "M" + fmt.Sprint(rng.IntN(3))}
		}
		if rng.IntN(2) == 0 {
			r.Location = &record.Location{Lat: 37 + rng.Float64(), Lon: 126 + rng.Float64()}
		}
		out[i] = r
	}
	return out
}

// Requests are the searches the suite compares: words, phrases, patterns,
// every filter, facets, sorts, paging and highlighting.
func Requests() []index.Request {
	size := func(n int) *int { return &n }
	no := false
	return []index.Request{
		{},
		{Query: "bus"},
		{Query: "red bus river", Size: size(50)},
		{Query: `"red bus" OR river`, Size: size(20)},
		{Query: "bus -dog +river"},
		{Query: "br* sunse? ri~1", Size: size(30)},
		{Query: "/ca[rt]/ park"},
		{Query: "title:tower^2 caption:lake"},
		{Query: "width:>2000 bus"},
		{Query: "taken_at:>2015-01-01 city"},
		{Query: "bus", From: 5, Size: size(5)},
		{Query: "bus", Size: size(0), Facets: []string{"tags", "format"}},
		{Query: "river", Facets: []string{"tags:5", "format", "width", "taken_at", "camera.make"}},
		{Query: "street", Sort: []string{"-taken_at"}, Size: size(25)},
		{Query: "street", Sort: []string{"width", "-_id"}, Size: size(25)},
		{Sort: []string{"format", "-height"}, Size: size(40), Facets: []string{"format"}},
		{Query: "lake", Highlight: &no},
		{Filter: index.Filter{Tags: []string{"bus"}, Format: []string{"png", "jpeg"}}, Size: size(30)},
		{Query: "night", Filter: index.Filter{WidthMin: size(1000), WidthMax: size(3000), HeightMin: size(500)}},
		{Filter: index.Filter{TakenFrom: "2010-01-01", TakenTo: "2015-12-31"}, Sort: []string{"taken_at"}},
		{Filter: index.Filter{Make: "canon", Model: "m1"}},
		{Filter: index.Filter{Near: "37.5,126.5,30"}, Size: size(20)},
		{Query: "rain", Filter: index.Filter{BBox: "38,126,37,127"}},
		{Filter: index.Filter{Similar: "fedcba9876543210", Distance: size(4)}, Size: size(20)},
		{Query: "boat", Filter: index.Filter{Similar: "fedcba9876543210"}},
		{Query: "nothingmatchesthis"},
	}
}

// Run checks that a fan-out over the shards open returns answers a
// single-shard local index gives for the same corpus (the guarantee that
// results do not depend on how shards are split or where they run), and
// that the shards themselves fetch, refuse and time out as index.Shard
// says.
func Run(t *testing.T, open Open) {
	recs := Corpus(600, 1)
	ref, err := index.Open(t.TempDir(), index.Options{Shards: 1})
	require.NoError(t, err)
	t.Cleanup(func() { ref.Close() })
	require.NoError(t, ref.Apply(context.Background(), append([]record.Record(nil), recs...)))
	const n = 4
	shards := open(t, append([]record.Record(nil), recs...), n)
	require.Len(t, shards, n)
	fan := index.NewFanout(shards, index.FanoutOptions{})
	ctx := context.Background()

	t.Run("search", func(t *testing.T) {
		empty := 0
		for _, req := range Requests() {
			want, err := ref.Search(ctx, &req)
			require.NoError(t, err, "%+v", req)
			got, err := fan.Search(ctx, &req)
			require.NoError(t, err, "%+v", req)
			Same(t, want, got, fmt.Sprintf("%+v", req))
			require.Equal(t, index.ShardStatus{Total: n, Successful: n, Failures: []index.ShardFailure{}}, got.Shards)
			if got.Total == 0 {
				empty++
			}
		}
		require.Equal(t, 1, empty, "only the search for a word no record has finds nothing")
	})

	t.Run("records with phase 2", func(t *testing.T) {
		// Records sent with the hits answer exactly what a fetch round
		// does, also when the page byte budget stops a shard short of
		// sending all of them and the rest are fetched.
		inline := index.NewFanout(shards, index.FanoutOptions{InlineRecords: index.MaxWindow})
		for _, req := range Requests() {
			want, err := fan.Search(ctx, &req)
			require.NoError(t, err, "%+v", req)
			got, err := inline.Search(ctx, &req)
			require.NoError(t, err, "%+v", req)
			Same(t, want, got, fmt.Sprintf("%+v", req))
		}
		size := 5
		req := index.Request{Query: "bus", From: 20, Size: &size}
		want, err := fan.Search(ctx, &req)
		require.NoError(t, err)
		require.Len(t, want.Hits, size)
		page := 0
		for _, h := range want.Hits {
			page += len(h.Image)
		}
		tight := index.NewFanout(shards, index.FanoutOptions{InlineRecords: index.MaxWindow, Budget: index.Budget{MaxPageBytes: 2 * page}})
		got, err := tight.Search(ctx, &req)
		require.NoError(t, err)
		Same(t, want, got, "a page whose shards send some of its records")
	})

	t.Run("cursor", func(t *testing.T) {
		for _, sort := range [][]string{nil, {"-taken_at"}} {
			size := 7
			a := index.Request{Query: "bus river", Size: &size, Sort: sort}
			b := a
			for page := 0; page < 5; page++ {
				want, err := ref.Search(ctx, &a)
				require.NoError(t, err)
				got, err := fan.Search(ctx, &b)
				require.NoError(t, err)
				Same(t, want, got, fmt.Sprintf("page %d sorted by %v", page, sort))
				require.NotEmpty(t, got.NextCursor)
				a.Cursor, b.Cursor = want.NextCursor, got.NextCursor
			}
		}
	})

	t.Run("fetch", func(t *testing.T) {
		ids := []string{"no-such-id"}
		for _, r := range recs[:50] {
			ids = append(ids, r.ID)
		}
		held := make([]int, len(ids))
		for _, s := range shards {
			raws, err := s.Fetch(ctx, ids)
			require.NoError(t, err, s.String())
			require.Len(t, raws, len(ids))
			for i, raw := range raws {
				if raw == nil {
					continue
				}
				held[i]++
				want, err := ref.Get(ctx, ids[i])
				require.NoError(t, err)
				require.Equal(t, string(want), string(raw), "%s: %s", s, ids[i])
			}
		}
		require.Equal(t, 0, held[0], "an unknown id is nil on every shard")
		for i := 1; i < len(ids); i++ {
			require.Equal(t, 1, held[i], "%s is on exactly one shard", ids[i])
		}
	})

	t.Run("budget", func(t *testing.T) {
		// Expansions are counted on the shards: the error comes from
		// them, through the fan-out.
		small := index.NewFanout(shards, index.FanoutOptions{Budget: index.Budget{MaxTerms: 12}})
		_, err := small.Search(ctx, &index.Request{Query: "b* s* r*"})
		var be *index.BudgetError
		require.ErrorAs(t, err, &be)
		require.ErrorIs(t, err, index.ErrBadRequest)
		require.Equal(t, "max_terms", be.Limit)
		require.Equal(t, "q", be.Param)
		require.Equal(t, 12, be.Max)

		_, err = shards[0].TermStats(ctx, &index.ShardRequest{Request: &index.Request{Query: "b*"}, Budget: index.Budget{MaxTerms: 3}})
		require.ErrorAs(t, err, &be)
		require.Equal(t, 3, be.Max)
	})

	t.Run("bad request", func(t *testing.T) {
		for _, s := range shards {
			_, err := s.SearchShard(ctx, &index.ShardRequest{Request: &index.Request{Query: "a AND ("}})
			require.ErrorIs(t, err, index.ErrBadRequest, s.String())
			var re *index.RequestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, "q", re.Param)
			var pe *query.ParseError
			require.ErrorAs(t, err, &pe)
			require.Positive(t, pe.Pos)

			size := -1
			_, err = s.TermStats(ctx, &index.ShardRequest{Request: &index.Request{Size: &size}})
			require.ErrorAs(t, err, &re)
			require.Equal(t, "size", re.Param)
		}
		_, err := fan.Search(ctx, &index.Request{Query: "("})
		require.ErrorIs(t, err, index.ErrBadRequest)
	})

	t.Run("deadline", func(t *testing.T) {
		past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		for _, s := range shards {
			_, err := s.TermStats(past, &index.ShardRequest{Request: &index.Request{Query: "bus"}})
			require.ErrorIs(t, err, context.DeadlineExceeded, s.String())
		}
		_, err := fan.Search(past, &index.Request{Query: "bus"})
		require.ErrorIs(t, err, context.DeadlineExceeded)

		gone, cancel := context.WithCancel(ctx)
		cancel()
		_, err = fan.Search(gone, &index.Request{Query: "bus"})
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("names", func(t *testing.T) {
		seen := map[string]bool{}
		for _, s := range shards {
			require.NotEmpty(t, s.String())
			require.False(t, seen[s.String()], "shards have distinct names")
			seen[s.String()] = true
		}
	})
}

// Same fails unless got has want's hits (ids, order, records, highlights,
// distances), total and facets, with scores equal up to float rounding
// (sums over other shard counts round differently).
func Same(t *testing.T, want, got *index.Result, what string) {
	t.Helper()
	require.Equal(t, want.Total, got.Total, "%s: total", what)
	require.Equal(t, len(want.Hits), len(got.Hits), "%s: hits", what)
	for i := range want.Hits {
		w, g := want.Hits[i], got.Hits[i]
		require.Equal(t, w.ID, g.ID, "%s: hit %d", what, i)
		require.LessOrEqual(t, math.Abs(w.Score-g.Score), 1e-9*math.Max(1, math.Abs(w.Score)), "%s: hit %d score %v vs %v", what, i, w.Score, g.Score)
		require.Equal(t, string(w.Image), string(g.Image), "%s: hit %d record", what, i)
		require.Equal(t, w.Highlights, g.Highlights, "%s: hit %d highlights", what, i)
		require.Equal(t, w.Distance, g.Distance, "%s: hit %d distance", what, i)
	}
	wf, _ := json.Marshal(want.Facets)
	gf, _ := json.Marshal(got.Facets)
	require.JSONEq(t, string(wf), string(gf), "%s: facets", what)
	require.Equal(t, want.NextCursor == "", got.NextCursor == "", "%s: a next cursor", what)
}

// Bytes is a result as the API sends it, less the time it took: two
// shard sets of the same split must give the same bytes.
func Bytes(t *testing.T, res *index.Result) []byte {
	t.Helper()
	cp := *res
	cp.TookMS = 0
	data, err := json.Marshal(&cp)
	require.NoError(t, err)
	return data
}
