package apibench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	blevesearch "github.com/blevesearch/bleve/v2/search"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/record"
)

// Targets of the qps suite (issue 12): one process with 4 shards against
// plain bleve behind a bare handler.
const (
	qpsRatioTarget = 1.5 // picdex QPS ÷ bleve QPS, at least
	qpsP99Target   = 1.0 // picdex p99 ÷ bleve p99, at most
	qpsClients     = 8
)

// qpsSystem is one server the qps suite drives.
type qpsSystem struct {
	name string
	url  string
	path string // the search path; the query goes in q
	qps  []float64
	p50  []float64
	p99  []float64
	// failed counts answers other than 200 and transport errors.
	failed int
}

// qpsSuite compares, on each corpus, the picdex API over 4 shards with
// plain bleve behind a bare net/http handler (and picdex over 1 shard for
// reference), all in this process, with the same queries.
func qpsSuite(ctx context.Context, w io.Writer, o Options, scratch string) error {
	fmt.Fprintf(w, "\nqps: the picdex API (as serve wires it) over %d shards and over 1, and plain bleve (default mapping, match query, top 10 with stored fields) behind a bare net/http handler; %d one-to-four-word title queries at concurrency %d, %d interleaved runs\n",
		o.Shards, o.Queries, qpsClients, o.Repeat)
	recs, err := indexbench.SynthCorpus(ctx, o.N, o.Seed)
	if err != nil {
		return err
	}
	if err := qpsCorpus(ctx, w, o, filepath.Join(scratch, "qps-gen"), fmt.Sprintf("gen %d", len(recs)), recs); err != nil {
		return err
	}
	recs = nil
	tate, skipped, err := indexbench.TateCorpus(ctx, o.TatePath, o.N)
	switch {
	case errors.Is(err, indexbench.ErrNoTate):
		fmt.Fprintf(w, "  tate: skipped (%v)\n", err)
		return nil
	case err != nil:
		return err
	}
	name := fmt.Sprintf("tate %d", len(tate))
	if skipped > 0 {
		name += fmt.Sprintf(" (%d lines skipped)", skipped)
	}
	return qpsCorpus(ctx, w, o, filepath.Join(scratch, "qps-tate"), name, tate)
}

func qpsCorpus(ctx context.Context, w io.Writer, o Options, dir, name string, recs []record.Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	queries := TitleQueries(recs, o.Queries, o.Seed)
	if len(queries) == 0 {
		return fmt.Errorf("%s: no title words to query", name)
	}
	start := time.Now()
	multi, _, err := indexbench.BuildIndex(ctx, filepath.Join(dir, "picdex"), o.Shards, recs)
	if err != nil {
		return err
	}
	defer multi.Close()
	single, _, err := indexbench.BuildIndex(ctx, filepath.Join(dir, "picdex-1"), 1, recs)
	if err != nil {
		return err
	}
	defer single.Close()
	if err := indexbench.LoadBleveDefault(ctx, filepath.Join(dir, "bleve"), recs); err != nil {
		return err
	}
	bl, err := bleve.Open(filepath.Join(dir, "bleve"))
	if err != nil {
		return err
	}
	defer bl.Close()
	fmt.Fprintf(w, "  %s: built picdex (%d shards, 1 shard) and bleve in %s\n", name, o.Shards, time.Since(start).Round(time.Second))

	systems := []*qpsSystem{
		{name: fmt.Sprintf("picdex %d shards", o.Shards), path: "/v1/search"},
		{name: "bleve", path: "/search"},
		{name: "picdex 1 shard", path: "/v1/search"},
	}
	handlers := []http.Handler{picdexHandler(multi), BleveHandler(bl), picdexHandler(single)}
	for i, h := range handlers {
		url, stop, err := Listen(h)
		if err != nil {
			return err
		}
		defer stop()
		systems[i].url = url
	}
	client := NewClient(qpsClients)
	load := func(s *qpsSystem, requests int, seed uint64) (*Report, error) {
		calls := make([]Call, len(queries))
		for i, q := range queries {
			calls[i] = Call{Method: "GET", Path: s.path + "?q=" + url.QueryEscape(q)}
		}
		return Load{BaseURL: s.url, Clients: qpsClients, Requests: requests, Workload: Expensive(calls), Seed: seed}.Run(ctx, client)
	}
	for _, s := range systems { // warm caches and connections
		if _, err := load(s, max(1, len(queries)/(2*qpsClients)), uint64(o.Seed)); err != nil {
			return err
		}
	}
	perClient := max(1, o.Queries/qpsClients)
	stopProfile, err := startProfile(o.Profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for rep := range o.Repeat {
		line := fmt.Sprintf("  run %d:", rep+1)
		// Rotate who goes first, so no system always follows another.
		for k := range systems {
			s := systems[(k+rep)%len(systems)]
			r, err := load(s, perClient, uint64(o.Seed)+uint64(rep))
			if err != nil {
				return err
			}
			s.qps = append(s.qps, r.PerSecond())
			s.p50 = append(s.p50, float64(r.All.P50))
			s.p99 = append(s.p99, float64(r.All.P99))
			s.failed += r.Transport + r.Requests - r.ByStatus[http.StatusOK]
			sep := " |"
			if k == 0 {
				sep = ""
			}
			line += fmt.Sprintf("%s %s %.0f/s p50 %s p99 %s", sep, s.name, r.PerSecond(), ms(r.All.P50), ms(r.All.P99))
		}
		fmt.Fprintln(w, line)
	}
	for _, s := range systems {
		fmt.Fprintf(w, "  %s, %s: median %.0f QPS, p50 %s, p99 %s; failed %d\n", name, s.name,
			indexbench.Median(s.qps), ms(time.Duration(indexbench.Median(s.p50))), ms(time.Duration(indexbench.Median(s.p99))), s.failed)
	}
	px, bs := systems[0], systems[1]
	qr := indexbench.Median(px.qps) / indexbench.Median(bs.qps)
	pr := indexbench.Median(px.p99) / indexbench.Median(bs.p99)
	fmt.Fprintf(w, "  %s: %s / bleve QPS %.2f× (target ≥ %.1f×) %s; p99 %.2f× (target ≤ %.0f×) %s; failed %d (target 0) %s\n",
		name, px.name, qr, qpsRatioTarget, indexbench.PassFail(qr >= qpsRatioTarget), pr, qpsP99Target, indexbench.PassFail(pr <= qpsP99Target),
		px.failed+bs.failed, indexbench.PassFail(px.failed+bs.failed == 0))
	return nil
}

// startProfile starts a CPU profile of the process into path, unless
// path is empty; the returned func stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// TitleQueries draws n queries of one to four consecutive words from the
// titles of random records (words of three letters or more, as a person
// types them), the same list for a given seed.
func TitleQueries(recs []record.Record, n int, seed int64) []string {
	r := rand.New(rand.NewPCG(uint64(seed), 12))
	out := make([]string, 0, n)
	for tries := 0; len(out) < n && tries < 20*n && len(recs) > 0; tries++ {
		words := plainWords(recs[r.IntN(len(recs))].Title)
		if len(words) == 0 {
			continue
		}
		k := min(len(words), 1+r.IntN(4))
		i := r.IntN(len(words) - k + 1)
		out = append(out, strings.Join(words[i:i+k], " "))
	}
	return out
}

// picdexHandler is the API handler as `picdex serve` builds it: a text
// access log (discarded here), a metrics registry with the runtime's and
// the process's collectors, and /metrics.
func picdexHandler(ix *index.Index) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b := api.IndexBackend{Index: ix}
	return api.New(api.Options{
		Searcher: b, Store: b, Ingester: b,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
}

// Listen serves h with api.NewServer on a loopback port and returns its
// base URL and a func that closes it.
func Listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	opts := api.ServerOptions{}
	srv := api.NewServer(h, opts)
	ln = api.LimitListener(ln, srv, opts)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// BleveHandler is what a bleve user puts behind net/http first: a match
// query on the q parameter, the top 10 hits with their stored fields as
// JSON.
func BleveHandler(idx bleve.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := bleve.NewSearchRequestOptions(bleve.NewMatchQuery(r.URL.Query().Get("q")), 10, 0, false)
		req.Fields = []string{"*"}
		writeBleve(w, r, idx, req)
	})
}

// writeBleve runs req and writes its total, hits with their stored fields
// and facets as JSON, or a 400 with bleve's error.
func writeBleve(w http.ResponseWriter, r *http.Request, idx bleve.Index, req *bleve.SearchRequest) {
	res, err := idx.SearchInContext(r.Context(), req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type hit struct {
		ID     string         `json:"id"`
		Score  float64        `json:"score"`
		Fields map[string]any `json:"fields"`
	}
	out := struct {
		Total  uint64                   `json:"total"`
		Hits   []hit                    `json:"hits"`
		Facets blevesearch.FacetResults `json:"facets,omitempty"`
	}{Total: res.Total, Hits: make([]hit, len(res.Hits)), Facets: res.Facets}
	for i, h := range res.Hits {
		out.Hits[i] = hit{ID: h.ID, Score: h.Score, Fields: h.Fields}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
