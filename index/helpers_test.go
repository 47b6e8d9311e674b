package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

var testWords = []string{"red", "bus", "bridge", "river", "sunset", "dog", "cat", "park", "city", "tower",
	"lantern", "market", "street", "night", "rain", "mountain", "lake", "boat", "child", "garden",
	"old", "blue", "green", "running", "walking", "crossing", "station", "train", "snow", "beach"}

// skewedCorpus returns records in which the words "zephyr" and "quokka"
// occur only in documents that a 4-shard index puts on shard 0, so that a
// shard's local document frequency is far from the global one.
func skewedCorpus(n int, seed uint64) []record.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := func(k int) string {
		s := ""
		for i := 0; i < k; i++ {
			if i > 0 {
				s += " "
			}
			s += testWords[rng.IntN(len(testWords))]
		}
		return s
	}
	var out []record.Record
	skewed := 0
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("img-%05d", i)
		r := record.Record{
			ID: id, URL: "https://example.com/" + id + ".jpg",
			Title:   words(1 + rng.IntN(4)),
			Caption: words(3 + rng.IntN(10)),
			Tags:    []string{testWords[rng.IntN(10)], testWords[10+rng.IntN(10)]},
			Format:  []string{"jpeg", "png", "webp"}[rng.IntN(3)],
			Width:   200 + rng.IntN(4000), Height: 200 + rng.IntN(3000),
			TakenAt: fmt.Sprintf("%04d-%02d-10T12:00:00Z", 2000+rng.IntN(25), 1+rng.IntN(12)),
		}
		if rng.IntN(3) == 0 {
			r.Alt = words(2)
		}
		if ShardOf(id, 4) == 0 && skewed < n/6 {
			skewed++
			r.Caption += " zephyr"
			if skewed%3 == 0 {
				r.Title += " quokka zephyr"
			}
		}
		if rng.IntN(2) == 0 {
			r.PHash = fmt.Sprintf("%016x", rng.Uint64())
		}
		if rng.IntN(3) == 0 {
			r.Camera = &record.Camera{Make: []string{"Canon", "NIKON", "Sony"}[rng.IntN(3)], Model: "M" + fmt.Sprint(rng.IntN(3))}
		}
		out = append(out, r)
	}
	return out
}

// twinCorpus is skewedCorpus(n, seed) whose first twins records have the
// same text, "identical twin", and so the same score for it.
func twinCorpus(n, twins int, seed uint64) []record.Record {
	corpus := skewedCorpus(n, seed)
	for i := range twins {
		corpus[i].Title = "identical twin"
		corpus[i].Caption = "identical twin"
		corpus[i].Alt, corpus[i].Description, corpus[i].Tags = "", "", nil
	}
	return corpus
}

func openWith(t testing.TB, shards int, recs []record.Record) *Index {
	t.Helper()
	ix, err := Open(t.TempDir(), Options{Shards: shards})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	cp := make([]record.Record, len(recs))
	copy(cp, recs)
	require.NoError(t, ix.Apply(context.Background(), cp))
	return ix
}

func mustSearch(t testing.TB, s Searcher, req Request) *Result {
	t.Helper()
	res, err := s.Search(context.Background(), &req)
	require.NoError(t, err, "request %+v", req)
	return res
}
