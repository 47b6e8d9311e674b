package remote

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/replica"
)

// BenchmarkRemoteFanout runs the same searches through the fan-out over
// 4 local shards and over the same 4 shards behind the internal API on
// loopback, each remote shard a replica set with a content version as
// the query tier makes it (so phase 1 is skipped as it is there), and
// each of them with and without the records sent with phase 2; remote
// also with the calls to the server's shards in batches (as the tier
// sends them), or one request per shard. Every
// iteration runs one search on every variant, in turn, so that they
// share the machine's moods; it reports each variant's time per search
// and its ratio to the local fan-out with a fetch round: the cost of the
// hop (encoding, HTTP, a goroutine per call). Run with -count 5 and take
// the median ratios. Client and server share the process, so the CPU
// time per search (of the process, while the search runs) is what a
// search costs both ends: on a machine short of cores, what bounds the
// searches per second.
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
	// As the query tier makes them: a replica set per shard, with a
	// content version, over one client per shard server (whose calls
	// travel in batches) or, the baseline, a client per shard.
	sets := func(shared bool) []index.Shard {
		srv1, err := NewServer(srv.URL, ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		out := make([]index.Shard, 4)
		for i := range out {
			if !shared {
				if srv1, err = NewServer(srv.URL, ClientOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			c, err := srv1.Shard(1, i)
			if err != nil {
				b.Fatal(err)
			}
			s := replica.NewSet(c.String(), replica.Options{})
			if err := s.Update([]replica.Member{{ID: srv.URL, Shard: c, CaughtUp: true, Healthy: true}}); err != nil {
				b.Fatal(err)
			}
			s.SetContentVersion(uint64(i + 1))
			out[i] = s
		}
		return out
	}
	inline := index.FanoutOptions{InlineRecords: 100}
	variants := []struct {
		name string
		s    index.Searcher
	}{
		{"local", index.NewFanout(ix.Shards(), index.FanoutOptions{})},
		{"local-inline", index.NewFanout(ix.Shards(), inline)},
		{"remote", index.NewFanout(sets(false), index.FanoutOptions{})},
		{"remote-inline", index.NewFanout(sets(false), inline)},
		{"remote-batched", index.NewFanout(sets(true), inline)},
	}
	spent := make([]time.Duration, len(variants))
	cpu := make([]time.Duration, len(variants))
	i := 0
	for b.Loop() {
		req := &reqs[i%len(reqs)]
		for k := range variants {
			v := (i + k) % len(variants) // each takes its turn at going first
			start, startCPU := time.Now(), cpuTime(b)
			if _, err := variants[v].s.Search(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			spent[v] += time.Since(start)
			cpu[v] += cpuTime(b) - startCPU
		}
		i++
	}
	for v, x := range variants {
		b.ReportMetric(float64(spent[v].Microseconds())/float64(b.N), x.name+"-µs/search")
		b.ReportMetric(float64(cpu[v].Microseconds())/float64(b.N), x.name+"-cpu-µs/search")
		if v > 0 {
			b.ReportMetric(float64(spent[v])/float64(spent[0]), x.name+"/local")
			b.ReportMetric(float64(cpu[v])/float64(cpu[0]), x.name+"/local-cpu")
		}
	}
	b.ReportMetric(0, "ns/op") // the sum of the variants: not a figure of any
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
