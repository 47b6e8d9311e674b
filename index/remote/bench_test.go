package remote

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
)

// BenchmarkRemoteFanout runs the same searches through the fan-out over
// 4 local shards and over the same 4 shards behind the internal API on
// loopback, side by side in one run, and prints remote/local time per
// search: the cost of the hop (encoding, HTTP, a goroutine per call).
// Run with -count 5 and take the median ratio.
func BenchmarkRemoteFanout(b *testing.B) {
	recs, err := indexbench.SynthCorpus(context.Background(), 20000, 5)
	if err != nil {
		b.Fatal(err)
	}
	ix, srv := serve(b, recs, 4, index.Options{})
	size := 10
	var reqs []index.Request
	for _, q := range []string{"photo", "street night", "old town", "city", "sunset beach", "dog park", "사진", "東京"} {
		reqs = append(reqs, index.Request{Query: q, Size: &size})
	}
	reqs = append(reqs, index.Request{Query: "photo", Size: &size, Facets: []string{"tags", "format"}, Sort: []string{"-taken_at"}})
	searchers := []struct {
		name string
		s    index.Searcher
	}{
		{"local", index.NewFanout(ix.Shards(), index.FanoutOptions{})},
		{"remote", index.NewFanout(clients(b, srv, 4), index.FanoutOptions{})},
	}
	perOp := map[string]time.Duration{}
	for _, s := range searchers {
		b.Run(s.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := s.s.Search(context.Background(), &reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			perOp[s.name] = b.Elapsed() / time.Duration(b.N)
		})
	}
	if perOp["local"] > 0 {
		fmt.Printf("BenchmarkRemoteFanout: remote/local %.2f (time per search, 4 shards over loopback)\n",
			float64(perOp["remote"])/float64(perOp["local"]))
	}
}
