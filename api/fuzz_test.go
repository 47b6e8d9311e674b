package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzSearchParams sends arbitrary raw query strings to GET /v1/search:
// whatever the caller sends, the answer is never a 5xx and always JSON.
func FuzzSearchParams(f *testing.F) {
	for _, seed := range []string{
		"",
		"q=red+bus&size=5",
		"q=tags:bus AND -format:png&facet=tags:3&facet=taken_at",
		"size=-1&from=99999999999999999999",
		"sort=-width,_score&sort=taken_at",
		"similar=0123456789abcdef&distance=99",
		"near=abc&bbox=1,2,3,4",
		"width_min=abc&height_max=1e9",
		"cursor=%ff%fe&q=%",
		"q=\"unterminated&highlight=maybe",
		"q=(((((a&taken_from=2020-13-45",
		"q=%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF&make=Canon",
	} {
		f.Add(seed)
	}
	s := newServer(f)
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/search", nil)
		req.URL.RawQuery = raw
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: status %d: %s", raw, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: body is not JSON: %s", raw, w.Body)
		}
	})
}
