package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

const corpusSize = 300

// corpus is the synthetic corpus every test index holds.
var corpus = sync.OnceValue(func() []record.Record {
	g, err := synth.New(synth.Options{N: corpusSize, Seed: 7})
	if err != nil {
		panic(err)
	}
	var out []record.Record
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		if err := r.Normalize(); err != nil {
			panic(err)
		}
		out = append(out, r)
	}
})

// newIndex opens a real index in a temp dir and loads the corpus.
func newIndex(t testing.TB) *index.Index {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	recs := corpus()
	cp := make([]record.Record, len(recs))
	copy(cp, recs)
	if err := ix.Apply(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	return ix
}

type testServer struct {
	h   http.Handler
	ix  *index.Index
	log *bytes.Buffer
}

func newServer(t testing.TB, mutate ...func(*api.Options)) *testServer {
	t.Helper()
	ix := newIndex(t)
	var logs bytes.Buffer
	b := api.IndexBackend{Index: ix}
	opts := api.Options{Searcher: b, Store: b, Ingester: b, Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))}
	for _, m := range mutate {
		m(&opts)
	}
	return &testServer{h: api.New(opts), ix: ix, log: &logs}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *testServer) do(t testing.TB, method, target, contentType string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

func (s *testServer) get(t testing.TB, target string) *httptest.ResponseRecorder {
	return s.do(t, http.MethodGet, target, "", nil)
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, w.Body)
	}
	return v
}

func wantStatus(t testing.TB, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body: %s", w.Code, status, w.Body)
	}
}

// wantError checks the error shape and returns its detail.
func wantError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) api.ErrorDetail {
	t.Helper()
	wantStatus(t, w, status)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || raw["error"] == nil {
		t.Fatalf("not an error body (%v): %s", err, w.Body)
	}
	if _, ok := raw["error"]["message"].(string); !ok {
		t.Errorf("error without message: %s", w.Body)
	}
	body := decode[api.ErrorBody](t, w)
	if code != "" && body.Error.Code != code {
		t.Errorf("code %q, want %q; body: %s", body.Error.Code, code, w.Body)
	}
	return body.Error
}

// someWord returns a word of a corpus title, so tests do not depend on
// the generator's vocabulary.
func someWord(t testing.TB) string {
	for _, r := range corpus() {
		for _, w := range strings.Fields(r.Title) {
			if len(w) >= 4 && strings.IndexFunc(w, func(c rune) bool { return c > 127 || c == '"' || c == ':' }) < 0 {
				return strings.Trim(strings.ToLower(w), ".,;!?()'")
			}
		}
	}
	t.Fatal("corpus has no English title word")
	return ""
}

func TestSearchGET(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/v1/search?size=5&facet=tags&facet=format")
	wantStatus(t, w, http.StatusOK)
	res := decode[index.Result](t, w)
	if res.Total != corpusSize || len(res.Hits) != 5 || res.NextCursor == "" {
		t.Fatalf("total %d, %d hits, cursor %q; want %d, 5, a cursor", res.Total, len(res.Hits), res.NextCursor, corpusSize)
	}
	if len(res.Facets["tags"]) == 0 || len(res.Facets["format"]) == 0 {
		t.Errorf("facets missing: %v", res.Facets)
	}
	if res.Shards.Total != 3 || res.Shards.Successful != 3 {
		t.Errorf("shards %+v", res.Shards)
	}

	word := someWord(t)
	w = s.get(t, "/v1/search?q="+url.QueryEscape(word))
	wantStatus(t, w, http.StatusOK)
	res = decode[index.Result](t, w)
	if res.Total == 0 {
		t.Fatalf("no hits for %q", word)
	}
	if len(res.Hits[0].Highlights) == 0 {
		t.Errorf("no highlights for %q: %s", word, w.Body)
	}
}

// The response body is index.Result as encoding/json writes it, which is
// what `picdex search --json` prints.
func TestSearchBodyIsResultJSON(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/v1/search?size=3&facet=tags")
	wantStatus(t, w, http.StatusOK)
	res := decode[index.Result](t, w)
	again, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, w.Body.Bytes()) {
		t.Errorf("body is not json.Marshal(index.Result):\n%s\n%s", w.Body, again)
	}
}

func TestSearchPOSTMatchesGET(t *testing.T) {
	s := newServer(t)
	word := someWord(t)
	g := s.get(t, "/v1/search?size=7&sort=-width,_score&facet=format&q="+url.QueryEscape(word))
	wantStatus(t, g, http.StatusOK)
	body := fmt.Sprintf(`{"q":%q,"size":7,"sort":["-width","_score"],"facet":["format"]}`, word)
	p := s.do(t, http.MethodPost, "/v1/search", "application/json", strings.NewReader(body))
	wantStatus(t, p, http.StatusOK)
	gr, pr := decode[index.Result](t, g), decode[index.Result](t, p)
	gr.TookMS, pr.TookMS = 0, 0
	a, _ := json.Marshal(gr)
	b, _ := json.Marshal(pr)
	if !bytes.Equal(a, b) {
		t.Errorf("GET and POST differ:\n%s\n%s", a, b)
	}
}

func TestSearchCursorPages(t *testing.T) {
	s := newServer(t)
	seen := map[string]bool{}
	target := "/v1/search?size=64&sort=width"
	pages := 0
	for {
		w := s.get(t, target)
		wantStatus(t, w, http.StatusOK)
		res := decode[index.Result](t, w)
		for _, h := range res.Hits {
			if seen[h.ID] {
				t.Fatalf("hit %s on two pages", h.ID)
			}
			seen[h.ID] = true
		}
		pages++
		if res.NextCursor == "" || pages > 20 {
			break
		}
		target = "/v1/search?size=64&sort=width&cursor=" + url.QueryEscape(res.NextCursor)
	}
	if len(seen) != corpusSize {
		t.Errorf("paged through %d images, want %d", len(seen), corpusSize)
	}
}

func TestFilters(t *testing.T) {
	s := newServer(t)
	var withHash, withTag record.Record
	for _, r := range corpus() {
		if r.PHash != "" && withHash.ID == "" {
			withHash = r
		}
		if len(r.Tags) > 0 && withTag.ID == "" {
			withTag = r
		}
	}
	w := s.get(t, "/v1/search?similar="+withHash.PHash+"&distance=0")
	wantStatus(t, w, http.StatusOK)
	res := decode[index.Result](t, w)
	if res.Total == 0 || res.Hits[0].Distance == nil || *res.Hits[0].Distance != 0 {
		t.Errorf("similar=%s: %s", withHash.PHash, w.Body)
	}
	w = s.get(t, "/v1/search?size=100&tags="+url.QueryEscape(withTag.Tags[0]))
	wantStatus(t, w, http.StatusOK)
	res = decode[index.Result](t, w)
	if res.Total == 0 {
		t.Fatalf("no hit for tag %q", withTag.Tags[0])
	}
	for _, h := range res.Hits {
		var r record.Record
		json.Unmarshal(h.Image, &r)
		if !contains(r.Tags, withTag.Tags[0]) {
			t.Errorf("hit %s lacks tag %q", h.ID, withTag.Tags[0])
		}
	}
	w = s.get(t, "/v1/search?width_min=1000&width_max=2000&size=100")
	wantStatus(t, w, http.StatusOK)
	for _, h := range decode[index.Result](t, w).Hits {
		var r record.Record
		json.Unmarshal(h.Image, &r)
		if r.Width < 1000 || r.Width > 2000 {
			t.Errorf("hit %s has width %d", h.ID, r.Width)
		}
	}
	wantStatus(t, s.get(t, "/v1/search?near=48.85,2.35,500&bbox=60,-10,40,20&taken_from=2000-01-01&taken_to=2030-01-01&highlight=false&format=jpeg&format=png"), http.StatusOK)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestImagesGetDelete(t *testing.T) {
	s := newServer(t)
	id := corpus()[0].ID
	w := s.get(t, "/v1/images/"+id)
	wantStatus(t, w, http.StatusOK)
	if r := decode[record.Record](t, w); r.ID != id || r.URL == "" {
		t.Errorf("got %s", w.Body)
	}
	for range 2 { // idempotent
		w = s.do(t, http.MethodDelete, "/v1/images/"+id, "", nil)
		wantStatus(t, w, http.StatusOK)
		if got := decode[map[string]string](t, w); got["deleted"] != id {
			t.Errorf("delete answered %s", w.Body)
		}
	}
	wantError(t, s.get(t, "/v1/images/"+id), http.StatusNotFound, "not_found")
	wantError(t, s.get(t, "/v1/images/no-such-image"), http.StatusNotFound, "not_found")
	wantError(t, s.get(t, "/v1/images/"+strings.Repeat("x", 600)), http.StatusBadRequest, "bad_request")
}

func TestIngest(t *testing.T) {
	s := newServer(t)
	count := func(q string) uint64 {
		w := s.get(t, "/v1/search?q="+url.QueryEscape(q))
		wantStatus(t, w, http.StatusOK)
		return decode[index.Result](t, w).Total
	}
	cases := []struct {
		name, ct, body string
		n              int
	}{
		{"array", "application/json", `[{"url":"https://ex.test/a.jpg","title":"zebracorn one"},{"url":"https://ex.test/b.jpg","title":"zebracorn two"}]`, 2},
		{"object", "application/json; charset=utf-8", `{"url":"https://ex.test/c.jpg","title":"zebracorn three","extra_field":{"kept":true}}`, 1},
		{"ndjson", "application/x-ndjson", "{\"url\":\"https://ex.test/d.jpg\",\"title\":\"zebracorn four\"}\n\n{\"url\":\"https://ex.test/e.jpg\",\"title\":\"zebracorn five\"}\n", 2},
		{"+json type", "application/vnd.picdex+json", `[{"url":"https://ex.test/f.jpg","title":"zebracorn six"}]`, 1},
	}
	total := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := s.do(t, http.MethodPost, "/v1/images", c.ct, strings.NewReader(c.body))
			wantStatus(t, w, http.StatusAccepted)
			if got := decode[map[string]int](t, w); got["accepted"] != c.n {
				t.Errorf("accepted %d, want %d", got["accepted"], c.n)
			}
			total += c.n
			if got := count("zebracorn"); got != uint64(total) {
				t.Errorf("%d zebracorns indexed, want %d", got, total)
			}
		})
	}
	w := s.get(t, "/v1/images/"+record.DeriveID("https://ex.test/c.jpg"))
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"extra_field":{"kept":true}`) {
		t.Errorf("unknown field not kept: %s", w.Body)
	}

	// A batch with bad records is rejected whole, naming each bad one.
	bad := `[{"url":"https://ex.test/g.jpg","title":"quagga ok"},{"title":"no url"},{"url":"https://ex.test/h.jpg","phash":"xyz"},{"url":"https://ex.test/i.jpg","width":"wide"}]`
	w = s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(bad))
	d := wantError(t, w, http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 3 || d.Records[0].Index != 1 || d.Records[1].Index != 2 || d.Records[2].Index != 3 {
		t.Errorf("records %+v", d.Records)
	}
	if !strings.Contains(d.Records[1].Reason, "phash") || !strings.Contains(d.Records[2].Reason, "width") {
		t.Errorf("reasons do not name the field: %+v", d.Records)
	}
	if n := count("quagga"); n != 0 {
		t.Errorf("%d records of a rejected batch were indexed", n)
	}
	w = s.do(t, http.MethodPost, "/v1/images", "application/x-ndjson", strings.NewReader("{\"url\":\"https://ex.test/j.jpg\"}\nnot json\n"))
	d = wantError(t, w, http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 1 || d.Records[0].Line != 2 || d.Records[0].Index != 1 {
		t.Errorf("records %+v", d.Records)
	}

	// Over 100 bad records: 100 are listed, the message has the count.
	var many strings.Builder
	many.WriteString("[")
	for i := range 150 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"title":"no url"}`)
	}
	many.WriteString("]")
	w = s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(many.String()))
	d = wantError(t, w, http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 100 || !strings.Contains(d.Message, "150 of 150") {
		t.Errorf("%d records listed, message %q", len(d.Records), d.Message)
	}

	// Deletes go through ingest too.
	w = s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(`{"url":"https://ex.test/a.jpg","op":"delete"}`))
	wantStatus(t, w, http.StatusAccepted)
	if got := count("zebracorn"); got != uint64(total-1) {
		t.Errorf("after delete %d zebracorns, want %d", got, total-1)
	}
}

// unsized hides the length of a body, as a chunked upload does.
type unsized struct{ io.Reader }

func TestOversizeBody(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.MaxIngestBytes = 1 << 10 })
	big := "[" + strings.Repeat(`{"url":"https://ex.test/x.jpg"},`, 100) + `{"url":"https://ex.test/y.jpg"}]`
	wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(big)), http.StatusRequestEntityTooLarge, "payload_too_large")
	wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/json", unsized{strings.NewReader(big)}), http.StatusRequestEntityTooLarge, "payload_too_large")
	search := `{"q":"` + strings.Repeat("a", 2<<20) + `"}`
	wantError(t, s.do(t, http.MethodPost, "/v1/search", "application/json", strings.NewReader(search)), http.StatusRequestEntityTooLarge, "payload_too_large")
}

// The default limit is 32 MiB.
func TestIngestDefaultLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 33 MiB body")
	}
	h := api.New(api.Options{Ingester: nopIngester{}})
	body := bytes.Repeat([]byte(" "), 33<<20)
	req := httptest.NewRequest(http.MethodPost, "/v1/images", unsized{bytes.NewReader(body)})
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	wantError(t, w, http.StatusRequestEntityTooLarge, "payload_too_large")
}

type nopIngester struct{}

func (nopIngester) Ingest(_ context.Context, recs []record.Record) (int, error) {
	return len(recs), nil
}

// badRequests are requests a caller can get wrong; each must answer a 4xx
// with the error shape, never a 5xx.
var badRequests = []struct {
	name, method, target, ct, body string
	status                         int
	code, param                    string
}{
	{"negative size", "GET", "/v1/search?size=-1", "", "", 400, "bad_request", "size"},
	{"huge size", "GET", "/v1/search?size=999999", "", "", 400, "bad_request", "size"},
	{"size overflows int", "GET", "/v1/search?size=99999999999999999999", "", "", 400, "bad_request", "size"},
	{"size not a number", "GET", "/v1/search?size=ten", "", "", 400, "bad_request", "size"},
	{"negative from", "GET", "/v1/search?from=-5", "", "", 400, "bad_request", "from"},
	{"huge from", "GET", "/v1/search?from=99999999", "", "", 400, "bad_request", "from"},
	{"bad cursor", "GET", "/v1/search?cursor=not-a-cursor!", "", "", 400, "bad_request", "cursor"},
	{"cursor of another sort", "GET", "/v1/search?cursor=eyJzIjoiLXdpZHRoLF9pZCwiLCJ2IjpbIjEiLCJ4Il19", "", "", 400, "bad_request", "cursor"},
	{"cursor with from", "GET", "/v1/search?cursor=eyJzIjoiX3Njb3JlLF9pZCwiLCJ2IjpbIjEiLCJ4Il19&from=3", "", "", 400, "bad_request", "cursor"},
	{"distance too big", "GET", "/v1/search?similar=0123456789abcdef&distance=99", "", "", 400, "bad_request", "distance"},
	{"distance without similar", "GET", "/v1/search?distance=3", "", "", 400, "bad_request", "distance"},
	{"distance not a number", "GET", "/v1/search?similar=0123456789abcdef&distance=far", "", "", 400, "bad_request", "distance"},
	{"bad phash", "GET", "/v1/search?similar=xyz", "", "", 400, "bad_request", "similar"},
	{"near not numbers", "GET", "/v1/search?near=abc", "", "", 400, "bad_request", "near"},
	{"near out of range", "GET", "/v1/search?near=95,0,10", "", "", 400, "bad_request", "near"},
	{"near NaN", "GET", "/v1/search?near=NaN,0,10", "", "", 400, "bad_request", "near"},
	{"bbox upside down", "GET", "/v1/search?bbox=10,0,20,10", "", "", 400, "bad_request", "bbox"},
	{"bbox short", "GET", "/v1/search?bbox=1,2,3", "", "", 400, "bad_request", "bbox"},
	{"width_min not a number", "GET", "/v1/search?width_min=abc", "", "", 400, "bad_request", "width_min"},
	{"height_max not a number", "GET", "/v1/search?height_max=1.5", "", "", 400, "bad_request", "height_max"},
	{"width range inverted", "GET", "/v1/search?width_min=10&width_max=5", "", "", 400, "bad_request", "width_min"},
	{"highlight not a bool", "GET", "/v1/search?highlight=maybe", "", "", 400, "bad_request", "highlight"},
	{"bad taken_from", "GET", "/v1/search?taken_from=yesterday", "", "", 400, "bad_request", "taken_from"},
	{"bad sort field", "GET", "/v1/search?sort=caption", "", "", 400, "bad_request", "sort"},
	{"bad facet", "GET", "/v1/search?facet=nope", "", "", 400, "bad_request", "facet"},
	{"facet size", "GET", "/v1/search?facet=tags:0", "", "", 400, "bad_request", "facet"},
	{"unknown parameter", "GET", "/v1/search?qq=cat", "", "", 400, "bad_request", "qq"},
	{"query syntax", "GET", "/v1/search?q=" + url.QueryEscape("red AND"), "", "", 400, "invalid_query", "q"},
	{"unterminated group", "GET", "/v1/search?q=" + url.QueryEscape("(red bus"), "", "", 400, "invalid_query", "q"},
	{"query too long", "GET", "/v1/search?q=" + strings.Repeat("a", 5000), "", "", 400, "", "q"},

	{"POST malformed JSON", "POST", "/v1/search", "application/json", `{"q":`, 400, "bad_request", ""},
	{"POST syntax error", "POST", "/v1/search", "application/json", `{"q" "x"}`, 400, "bad_request", ""},
	{"POST unknown field", "POST", "/v1/search", "application/json", `{"query":"cat"}`, 400, "bad_request", "query"},
	{"POST wrong type", "POST", "/v1/search", "application/json", `{"size":"ten"}`, 400, "bad_request", "size"},
	{"POST array body", "POST", "/v1/search", "application/json", `[1,2]`, 400, "bad_request", ""},
	{"POST trailing data", "POST", "/v1/search", "application/json", `{"q":"a"} {"q":"b"}`, 400, "bad_request", ""},
	{"POST empty body", "POST", "/v1/search", "application/json", ``, 400, "bad_request", ""},
	{"POST negative size", "POST", "/v1/search", "application/json", `{"size":-1}`, 400, "bad_request", "size"},
	{"POST sort not a list", "POST", "/v1/search", "application/json", `{"sort":"width"}`, 400, "bad_request", "sort"},
	{"POST wrong content type", "POST", "/v1/search", "text/plain", `{"q":"a"}`, 415, "unsupported_media_type", ""},
	{"POST form content type", "POST", "/v1/search", "application/x-www-form-urlencoded", `q=a`, 415, "unsupported_media_type", ""},

	{"ingest wrong content type", "POST", "/v1/images", "text/csv", "url\nx", 415, "unsupported_media_type", ""},
	{"ingest malformed array", "POST", "/v1/images", "application/json", `[{"url":"a"},`, 400, "bad_request", ""},
	{"ingest scalar", "POST", "/v1/images", "application/json", `42`, 400, "bad_request", ""},
	{"ingest empty array", "POST", "/v1/images", "application/json", `[]`, 400, "bad_request", ""},
	{"ingest empty body", "POST", "/v1/images", "application/json", ``, 400, "bad_request", ""},
	{"ingest null record", "POST", "/v1/images", "application/json", `[null]`, 400, "invalid_record", ""},
	{"ingest bad object", "POST", "/v1/images", "application/json", `{"url":"x","taken_at":"noon"}`, 400, "invalid_record", ""},

	{"unknown route", "GET", "/v2/search", "", "", 404, "not_found", ""},
	{"wrong method", "PUT", "/v1/search", "", "", 405, "method_not_allowed", ""},
}

func TestBadRequests(t *testing.T) {
	s := newServer(t)
	for _, c := range badRequests {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			w := s.do(t, c.method, c.target, c.ct, body)
			d := wantError(t, w, c.status, c.code)
			if c.param != "" && d.Param != c.param {
				t.Errorf("param %q, want %q; body: %s", d.Param, c.param, w.Body)
			}
			if c.param != "" && !strings.Contains(d.Message, c.param) {
				t.Errorf("message %q does not name %q", d.Message, c.param)
			}
		})
	}
}

func TestQuerySyntaxErrorPosition(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/v1/search?q="+url.QueryEscape("red AND"))
	d := wantError(t, w, http.StatusBadRequest, "invalid_query")
	if d.Position == nil || *d.Position != 4 {
		t.Fatalf("position %v, want 4: %s", d.Position, w.Body)
	}
	if !strings.Contains(d.Message, "position 4") {
		t.Errorf("message %q does not give the position", d.Message)
	}
}

// fakeSearcher answers every search with err, or panics.
type fakeSearcher struct {
	err   error
	panic bool
}

func (f fakeSearcher) Search(context.Context, *index.Request) (*index.Result, error) {
	if f.panic {
		panic("boom: secret internals")
	}
	return nil, f.err
}

func TestServerFaults(t *testing.T) {
	cases := []struct {
		name   string
		s      fakeSearcher
		status int
		code   string
	}{
		{"panic", fakeSearcher{panic: true}, 500, "internal"},
		{"internal error", fakeSearcher{err: errors.New("disk on fire at /secret/path")}, 500, "internal"},
		{"timeout", fakeSearcher{err: fmt.Errorf("shard 3: %w", context.DeadlineExceeded)}, 504, "timeout"},
		{"canceled", fakeSearcher{err: context.Canceled}, 503, "unavailable"},
		{"all shards failed", fakeSearcher{err: fmt.Errorf("%w: shard 1 gone", index.ErrAllShardsFailed)}, 503, "unavailable"},
		{"bad request from below", fakeSearcher{err: &index.RequestError{Param: "sort", Reason: "nope"}}, 400, "bad_request"},
		{"not found", fakeSearcher{err: index.ErrNotFound}, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := api.New(api.Options{Searcher: c.s, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/search?q=x", nil))
			d := wantError(t, w, c.status, c.code)
			if c.status == 500 {
				if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "goroutine") {
					t.Errorf("internals leaked to the client: %s", w.Body)
				}
				if !strings.Contains(logs.String(), "secret") {
					t.Errorf("fault not logged: %s", logs.String())
				}
			}
			_ = d
		})
	}
}

func TestNilBackends(t *testing.T) {
	h := api.New(api.Options{})
	for _, r := range []struct{ method, target string }{
		{"GET", "/v1/search"}, {"GET", "/v1/images/x"}, {"DELETE", "/v1/images/x"}, {"POST", "/v1/images"},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(r.method, r.target, strings.NewReader(`{"url":"x"}`))
		h.ServeHTTP(w, req)
		wantError(t, w, http.StatusNotImplemented, "not_implemented")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	wantError(t, w, http.StatusServiceUnavailable, "unavailable")
}

func TestProbes(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/healthz")
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != `{"status":"ok"}` {
		t.Errorf("healthz: %s", w.Body)
	}
	wantStatus(t, s.get(t, "/readyz"), http.StatusOK)

	down := api.New(api.Options{Searcher: fakeSearcher{err: errors.New("shards closed")}})
	w = httptest.NewRecorder()
	down.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	wantError(t, w, http.StatusServiceUnavailable, "unavailable")
}

type downIngester struct{}

func (downIngester) Ingest(context.Context, []record.Record) (int, error) {
	return 0, fmt.Errorf("publishing: %w: no Kafka broker", api.ErrUnavailable)
}

func TestDependencyDown(t *testing.T) {
	s := newServer(t, func(o *api.Options) {
		o.Ready = func(context.Context) error { return errors.New("no Kafka broker") }
		o.Ingester = downIngester{}
	})
	w := s.get(t, "/readyz")
	wantError(t, w, http.StatusServiceUnavailable, "unavailable")
	w = httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/images", strings.NewReader(`{"url":"https://e.com/a.jpg"}`))
	req.Header.Set("Content-Type", "application/json")
	s.h.ServeHTTP(w, req)
	wantError(t, w, http.StatusServiceUnavailable, "unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestOpenAPI(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/openapi.json")
	wantStatus(t, w, http.StatusOK)
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	want := map[string][]string{
		"/v1/search": {"get", "post"}, "/v1/images": {"post"}, "/v1/images/{id}": {"get", "delete"},
		"/healthz": {"get"}, "/readyz": {"get"}, "/openapi.json": {"get"},
	}
	for path, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
	// Every parameter the API binds is documented, for GET and POST.
	var get struct {
		Parameters []struct {
			Name string `json:"name"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(doc.Paths["/v1/search"]["get"], &get); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, p := range get.Parameters {
		documented[p.Name] = true
	}
	props := doc.Components.Schemas["SearchRequest"].Properties
	for _, name := range formNames() {
		if !documented[name] {
			t.Errorf("GET /v1/search parameter %q is not documented", name)
		}
		if _, ok := props[name]; !ok {
			t.Errorf("SearchRequest property %q is not documented", name)
		}
	}
	if len(documented) != len(formNames()) {
		t.Errorf("documented %d parameters, the API binds %d", len(documented), len(formNames()))
	}
}

// formNames lists the JSON names of index.Request by encoding a request
// with every field set.
func formNames() []string {
	one, yes := 1, true
	req := index.Request{Query: "q", Size: new(1), From: 1, Cursor: "c", Sort: []string{"s"}, Facets: []string{"f"}, Highlight: &yes, AllowPartial: &yes,
		Filter: index.Filter{Tags: []string{"t"}, Format: []string{"f"}, Make: "m", Model: "m", WidthMin: &one, WidthMax: &one,
			HeightMin: &one, HeightMax: &one, TakenFrom: "t", TakenTo: "t", Near: "n", BBox: "b", Similar: "s", Distance: &one}}
	data, _ := json.Marshal(req)
	var m map[string]any
	json.Unmarshal(data, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestUI(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/")
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	if !strings.Contains(page, "<html") || !strings.Contains(page, "/ui/app.js") {
		t.Errorf("index page: %.200s", page)
	}
	if strings.Contains(page, "//cdn") || strings.Contains(page, "https://") {
		t.Errorf("page loads something from another origin")
	}
	for path, ct := range map[string]string{"/ui/app.js": "javascript", "/ui/style.css": "text/css"} {
		w := s.get(t, path)
		wantStatus(t, w, http.StatusOK)
		if !strings.Contains(w.Header().Get("Content-Type"), ct) {
			t.Errorf("%s: Content-Type %q", path, w.Header().Get("Content-Type"))
		}
	}
	wantStatus(t, s.get(t, "/ui/nope.js"), http.StatusNotFound)
}

func TestAccessLog(t *testing.T) {
	s := newServer(t)
	s.get(t, "/v1/search?size=-1")
	line := s.log.String()
	for _, want := range []string{"method=GET", "path=/v1/search", "status=400", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log lacks %q: %s", want, line)
		}
	}
}
