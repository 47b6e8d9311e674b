package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex/api"
)

var fuzzMethods = []string{"GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH", "FROB"}

// FuzzHandlers sends arbitrary requests to the whole API with keys, a
// rate limit, CORS and metrics on, with no key, each valid key or an
// arbitrary Authorization header: never a 5xx, always a JSON body under
// /v1, and no key ever in the log.
func FuzzHandlers(f *testing.F) {
	type seed struct {
		method      uint8
		target      string
		key         uint8
		auth, ctype string
		origin      bool
		body        string
	}
	for _, s := range []seed{
		{0, "/v1/search?q=red&size=3", 0, "", "", false, ""},
		{1, "/v1/search", 1, "", "application/json", false, `{"q":"tags:bus","facet":["format"]}`},
		{1, "/v1/images", 2, "", "application/x-ndjson", false, "{\"url\":\"https://ex.test/a.jpg\"}\n{\"url\":\"x\"}"},
		{1, "/v1/images", 0, "", "", false, `{"url":"https://ex.test/a.jpg","op":"delete"}`},
		{1, "/v1/images", 5, "Bearer write-key-0123456789ab", "text/plain", true, `[]`},
		{2, "/v1/images/%ff", 3, "", "", false, ""},
		{2, "/v1/images//x/../y", 1, "", "", false, ""},
		{4, "/v1/images", 0, "", "", true, ""},
		{0, "/v1/stats", 3, "", "", false, ""},
		{1, "/v1/admin/reindex", 2, "", "application/json", false, `{"from":"x"}`},
		{0, "/v1//admin/jobs/1", 5, "Basic eDp5", "", false, ""},
		{7, "/v1/search", 5, "Bearer \x00\xff", "application/json; charset=\xff", true, "{"},
		{0, "/healthz", 5, "Bearer", "", false, ""},
		{0, "/ui/../v1/images/x", 0, "", "", false, ""},
		{1, "/v1/search?q=a", 4, "", "application/vnd.x+json", false, `{"q":"a","size":-1}`},
	} {
		f.Add(s.method, s.target, s.key, s.auth, s.ctype, s.origin, []byte(s.body))
	}
	keys := []string{"", searchKey, writeKey, adminKey, hashedKey}
	s := newServer(f, func(o *api.Options) {
		o.Keys = testKeys(f)
		o.Ingester = nopIngester{}
		o.RateLimit = 1e9
		o.CORSOrigins = []string{"https://app.test"}
		o.Registerer = prometheus.NewRegistry()
	})
	f.Fuzz(func(t *testing.T, method uint8, target string, key uint8, auth, ctype string, origin bool, body []byte) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], "http://picdex"+target, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.RemoteAddr = "192.0.2.1:1234"
		if k := int(key) % (len(keys) + 1); k == len(keys) {
			req.Header["Authorization"] = []string{auth}
		} else if keys[k] != "" {
			req.Header.Set("Authorization", "Bearer "+keys[k])
		}
		if ctype != "" {
			req.Header["Content-Type"] = []string{ctype}
		}
		if origin {
			req.Header.Set("Origin", "https://app.test")
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		logged := s.log.Len()
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", req.Method, target, w.Code, w.Body)
		}
		if strings.HasPrefix(req.URL.Path, "/v1") && req.Method != "HEAD" && w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: %d body is not JSON: %q", req.Method, target, w.Code, w.Body)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %q: 401 without WWW-Authenticate", req.Method, target)
		}
		fresh := s.log.String()[logged:]
		for _, k := range keys[1:] {
			// The access log shows the path: a key the request put there
			// itself is not a leak.
			if strings.Contains(fresh, k) && !strings.Contains(req.URL.Path, k) {
				t.Fatalf("the log holds a key: %s", fresh)
			}
		}
	})
}
