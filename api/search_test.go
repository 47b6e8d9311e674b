package api_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
)

func TestSearchParamsAreStrict(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		query, code, param string
	}{
		{"q=%zz", "bad_request", ""},
		{"q=bus&q=tower", "bad_request", "q"},
		{"size=2&size=3", "bad_request", "size"},
		{"q=bus&similar=0123456789abcdef&similar=0123456789abcdee", "bad_request", "similar"},
		{"q=" + url.QueryEscape(strings.Repeat("ma* ", 4)+strings.Repeat("x", 1)) + "&facet=nope", "bad_request", "facet"},
	} {
		w := s.get(t, "/v1/search?"+tc.query)
		d := wantError(t, w, http.StatusBadRequest, tc.code)
		if d.Param != tc.param {
			t.Errorf("%s: param %q, want %q", tc.query, d.Param, tc.param)
		}
	}
	// Repeatable parameters stay repeatable.
	w := s.get(t, "/v1/search?facet=tags&facet=format&sort=-width&sort=_id&format=jpeg&format=png")
	wantStatus(t, w, http.StatusOK)
}

func TestSearchPOSTErrorsNameJSONFields(t *testing.T) {
	s := newServer(t)
	for body, param := range map[string]string{
		`{"tags":"beach"}`:     "tags",
		`{"width_min":"wide"}`: "width_min",
		`{"size":"ten"}`:       "size",
	} {
		w := s.do(t, http.MethodPost, "/v1/search", "application/json", strings.NewReader(body))
		d := wantError(t, w, http.StatusBadRequest, "bad_request")
		if d.Param != param || strings.Contains(d.Message, "Filter") {
			t.Errorf("%s: param %q, message %q; want param %q and no Go names", body, d.Param, d.Message, param)
		}
	}
}

func TestSizeZeroReturnsNoHits(t *testing.T) {
	s := newServer(t)
	for _, w := range []*httptest.ResponseRecorder{
		s.get(t, "/v1/search?size=0&facet=format"),
		s.do(t, http.MethodPost, "/v1/search", "application/json", strings.NewReader(`{"size":0,"facet":["format"]}`)),
	} {
		wantStatus(t, w, http.StatusOK)
		res := decode[index.Result](t, w)
		if len(res.Hits) != 0 || res.Total != corpusSize || len(res.Facets["format"]) == 0 {
			t.Errorf("size=0: %d hits, total %d, facets %v; want none, %d, format counts", len(res.Hits), res.Total, res.Facets, corpusSize)
		}
	}
	res := decode[index.Result](t, s.get(t, "/v1/search"))
	if len(res.Hits) != index.DefaultSize {
		t.Errorf("no size: %d hits, want %d", len(res.Hits), index.DefaultSize)
	}
}

func TestQueryTooExpensive(t *testing.T) {
	s := newServer(t)
	w := s.get(t, "/v1/search?q="+url.QueryEscape(manyPatterns(26)))
	d := wantError(t, w, http.StatusBadRequest, "query_too_expensive")
	if d.Limit != "max_patterns" || d.Param != "q" || !strings.Contains(d.Message, "16") {
		t.Errorf("detail %+v: want the max_patterns limit named, with its value", d)
	}
	w = s.get(t, "/v1/search?q="+url.QueryEscape("/^anchored/"))
	wantError(t, w, http.StatusBadRequest, "invalid_query")
}

// fixedSearcher answers every search the same way.
type fixedSearcher struct {
	res *index.Result
	err error
}

func (f fixedSearcher) Search(context.Context, *index.Request) (*index.Result, error) {
	return f.res, f.err
}

func TestOverloadedIs429(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.Searcher = fixedSearcher{err: index.ErrOverloaded} })
	w := s.get(t, "/v1/search?q=bus*")
	wantError(t, w, http.StatusTooManyRequests, "overloaded")
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// A result that cannot be encoded is a logged 500, never a 200 with an
// empty body.
func TestUnencodableResultIs500(t *testing.T) {
	bad := &index.Result{Hits: []index.Hit{{ID: "x", Score: math.Inf(1), Image: []byte(`{}`)}}}
	s := newServer(t, func(o *api.Options) { o.Searcher = fixedSearcher{res: bad} })
	w := s.get(t, "/v1/search?q=bus")
	wantError(t, w, http.StatusInternalServerError, "internal")
	if !strings.Contains(s.log.String(), "encoding the response") {
		t.Errorf("the failure is not logged: %s", s.log)
	}
}

// A client that goes away is not a server fault: 499, logged as info.
func TestClientGoneIs499(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.Searcher = slowSearcher{} })
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/v1/search?q=a", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { s.h.ServeHTTP(w, req); close(done) }()
	cancel()
	<-done
	if w.Code != 499 {
		t.Fatalf("status %d, want 499", w.Code)
	}
	if strings.Contains(s.log.String(), "level=ERROR") {
		t.Errorf("a gone client was logged as an error: %s", s.log)
	}
}

// An empty parameter is no parameter, for every parameter alike.
func TestEmptyParamsAreAbsent(t *testing.T) {
	s := newServer(t)
	res := decode[index.Result](t, s.get(t, "/v1/search?size=&tags=&make=&from=&q="))
	if len(res.Hits) != index.DefaultSize || res.Total != corpusSize {
		t.Errorf("%d hits of %d; want the default page of everything", len(res.Hits), res.Total)
	}
}

func TestCharsetMustBeUTF8(t *testing.T) {
	s := newServer(t)
	for _, ct := range []string{"application/json; charset=latin1", "application/json; charset=utf-16", "application/x-ndjson; charset=iso-8859-1"} {
		wantError(t, s.do(t, http.MethodPost, "/v1/search", ct, strings.NewReader(`{"q":"a"}`)), http.StatusUnsupportedMediaType, "unsupported_media_type")
		wantError(t, s.do(t, http.MethodPost, "/v1/images", ct, strings.NewReader(`{"url":"https://e.com/a.jpg"}`)), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	wantStatus(t, s.do(t, http.MethodPost, "/v1/search", "application/json; charset=UTF-8", strings.NewReader(`{"q":"a"}`)), http.StatusOK)
}

func TestTwoAuthorizationHeaders(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.Keys = testKeys(t) })
	req := httptest.NewRequest(http.MethodDelete, "/v1/images/x", nil)
	req.Header.Add("Authorization", bearerOf(writeKey))
	req.Header.Add("Authorization", bearerOf(searchKey))
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	wantError(t, w, http.StatusUnauthorized, "unauthorized")
}

func TestUIHasContentSecurityPolicy(t *testing.T) {
	s := newServer(t)
	for _, p := range []string{"/", "/ui/", "/ui/app.js"} {
		if w := s.get(t, p); w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d without a Content-Security-Policy", p, w.Code)
		}
	}
}

// A flood of refusals with long paths writes a bounded log: paths are
// cut, and refusal lines sampled with a count of those left out.
func TestAccessLogBounded(t *testing.T) {
	s := newServer(t)
	long := "/" + strings.Repeat("a", 60_000)
	for range 200 {
		w := s.get(t, long)
		if w.Code != 404 || w.Body.Len() > 1000 {
			t.Fatalf("404 with %d bytes of body", w.Body.Len())
		}
	}
	if n := s.log.Len(); n > 200*400 {
		t.Errorf("200 refusals wrote %d bytes of log", n)
	}
	lines := strings.Count(s.log.String(), "http request")
	if lines > 2*20 || lines == 0 {
		t.Errorf("%d access log lines for 200 refusals within a second or two", lines)
	}
}

func TestIngestBounds(t *testing.T) {
	s := newServer(t, func(o *api.Options) {
		o.MaxIngestRecords = 3
		o.IngestConcurrency = 1
		o.IngestWait = 50 * time.Millisecond
	})
	four := strings.Repeat(`{"url":"https://e.com/x.jpg"}`+"\n", 4)
	wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/x-ndjson", strings.NewReader(four)), http.StatusRequestEntityTooLarge, "payload_too_large")
	wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader("["+strings.TrimSuffix(strings.ReplaceAll(four, "\n", ","), ",")+"]")),
		http.StatusRequestEntityTooLarge, "payload_too_large")
	// One body being read holds the only turn: another waits, then 503.
	pr, pw := io.Pipe()
	defer pw.Close()
	held := make(chan struct{})
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/v1/images", pr)
		req.Header.Set("Content-Type", "application/x-ndjson")
		close(held)
		s.h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-held
	var w *httptest.ResponseRecorder
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		// 202 until the first request has taken the turn
		if w = s.do(t, http.MethodPost, "/v1/images", "application/x-ndjson", strings.NewReader(`{"url":"https://e.com/y.jpg"}`)); w.Code != http.StatusAccepted {
			break
		}
	}
	wantError(t, w, http.StatusServiceUnavailable, "unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}
