package apibench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
)

var (
	fixtureOnce sync.Once
	fixtureURL  string
	fixtureVoc  *Vocabulary
)

// fixture serves 2,000 synthetic records through the real API handler.
func fixture(t *testing.T) (string, *Vocabulary) {
	t.Helper()
	fixtureOnce.Do(func() {
		gin.SetMode(gin.ReleaseMode)
		recs, err := indexbench.SynthCorpus(context.Background(), 2000, 3)
		if err != nil {
			t.Fatal(err)
		}
		fixtureVoc = NewVocabulary(recs)
		ix, _, err := indexbench.BuildIndex(context.Background(), scratch+"/index", 2, recs)
		if err != nil {
			t.Fatal(err)
		}
		b := api.IndexBackend{Index: ix}
		srv := httptest.NewServer(api.New(api.Options{Searcher: b, Store: b, Ingester: b}))
		fixtureURL = srv.URL
	})
	if fixtureURL == "" {
		t.Fatal("fixture failed earlier")
	}
	return fixtureURL, fixtureVoc
}

func TestVocabulary(t *testing.T) {
	_, v := fixture(t)
	if len(v.Words) < 100 || len(v.Tags) == 0 || len(v.PHashes) == 0 || len(v.Phrases) == 0 {
		t.Fatalf("thin vocabulary: %d words, %d tags, %d hashes, %d phrases", len(v.Words), len(v.Tags), len(v.PHashes), len(v.Phrases))
	}
	for _, w := range v.Words[:50] {
		if len(w) < 3 || strings.ToLower(w) != w {
			t.Errorf("word %q", w)
		}
	}
}

// TestMixedSearchesAreCheapAndValid: every search of the mixed workload
// is answered 200 and none is expensive, so the load suite measures the
// common path, not admission.
func TestMixedSearchesAreCheapAndValid(t *testing.T) {
	base, v := fixture(t)
	client := NewClient(4)
	r := rand.New(rand.NewPCG(1, 2))
	mixed, geo := v.Mixed(), v.MixedGeo()
	for i := range 600 {
		c := mixed(r)
		if i%2 == 1 {
			c = geo(r)
		}
		status, body, err := do(context.Background(), client, base, "", c)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %v %s", c.Path, status, err, body)
		}
		q, _ := urlQuery(c.Path)
		cost, err := index.Classify(q)
		if err != nil || cost.Expensive {
			t.Fatalf("%s: cost %+v, %v", c.Path, cost, err)
		}
	}
}

// TestBleveSearchHandler: plain bleve answers every search of MixedGeo,
// and its stand-ins for the place searches find photos.
func TestBleveSearchHandler(t *testing.T) {
	recs, err := indexbench.SynthCorpus(context.Background(), 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/bleve"
	if err := indexbench.LoadBleveDefault(context.Background(), dir, recs); err != nil {
		t.Fatal(err)
	}
	idx, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	srv := httptest.NewServer(BleveSearchHandler(idx))
	defer srv.Close()
	geo := NewVocabulary(recs).MixedGeo()
	r := rand.New(rand.NewPCG(1, 2))
	found := map[string]int{}
	for range 300 {
		c := geo(r)
		status, body, err := do(context.Background(), srv.Client(), srv.URL, "", c)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %v %s", c.Path, status, err, body)
		}
		var res struct{ Total int }
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"near=", "bbox="} {
			if strings.Contains(c.Path, p) && res.Total > 0 {
				found[p]++
			}
		}
	}
	if found["near="] == 0 || found["bbox="] == 0 {
		t.Errorf("place searches with hits: %v", found)
	}
}

// TestCalibrate: each expensive search is accepted by the server, and is
// indeed expensive.
func TestCalibrate(t *testing.T) {
	base, v := fixture(t)
	calls, err := calibrate(context.Background(), NewClient(2), base, v)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 4 {
		t.Fatalf("only %d expensive searches", len(calls))
	}
	for _, c := range calls {
		q, _ := urlQuery(c.Path)
		cost, err := index.Classify(q)
		if err != nil || !cost.Expensive {
			t.Errorf("%.80s: cost %+v, %v; want an accepted, expensive search", c.Path, cost, err)
		}
	}
}

func TestLoadReport(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys[r.Header.Get("Authorization")]++
		mu.Unlock()
		switch r.URL.Query().Get("s") {
		case "429":
			w.WriteHeader(http.StatusTooManyRequests)
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	n := 0
	var nmu sync.Mutex
	l := Load{BaseURL: srv.URL, Clients: 4, Requests: 30, Keys: []string{"k1", "k2"}, Workload: func(*rand.Rand) Call {
		nmu.Lock()
		defer nmu.Unlock()
		n++
		return Call{Method: "GET", Path: "/?s=" + []string{"200", "429", "500"}[n%3]}
	}}
	rep, err := l.Run(context.Background(), NewClient(4))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 120 || rep.ByStatus[200] != 40 || rep.ByStatus[429] != 40 || rep.Count5xx() != 40 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Admitted.N != 40 || rep.All.N != 120 || len(rep.FirstErrors) == 0 {
		t.Fatalf("latencies %+v / %+v, errors %v", rep.Admitted, rep.All, rep.FirstErrors)
	}
	if keys["Bearer k1"] != 60 || keys["Bearer k2"] != 60 {
		t.Fatalf("keys sent: %v", keys)
	}
	if !strings.Contains(rep.String(), "429×40") {
		t.Errorf("summary %q", rep.String())
	}
}

// scratch holds the fixture's index; TestMain removes it.
var scratch string

func TestMain(m *testing.M) {
	var err error
	if scratch, err = os.MkdirTemp("", "picdex-apibench-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(scratch)
	os.Exit(code)
}

// urlQuery reads a search path's parameters as the API does.
func urlQuery(path string) (*index.Request, error) {
	_, raw, _ := strings.Cut(path, "?")
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	var req index.Request
	return &req, binding.MapFormWithTag(&req, vals, "form")
}
