package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/picdex/picdex/api"
)

const (
	searchKey = "search-key-0123456789"
	writeKey  = "write-key-0123456789ab"
	adminKey  = "admin-key-0123456789ab"
	hashedKey = "hashed-key-0123456789" // configured only as sha256:…
	wrongKey  = "wrong-key-0123456789ab"
)

func testKeys(t testing.TB) *api.Keys {
	return mustKeys(t, "search "+searchKey+"\nwrite "+writeKey+"\nadmin "+adminKey+
		"\nsearch,write sha256:"+sha256Hex(hashedKey)+"\n")
}

// startHTTP serves a test server's handler over real HTTP.
func startHTTP(t testing.TB, mutate ...func(*api.Options)) (string, *testServer) {
	t.Helper()
	s := newServer(t, mutate...)
	ts := httptest.NewServer(s.h)
	t.Cleanup(ts.Close)
	return ts.URL, s
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var eb api.ErrorBody
	json.Unmarshal(r.body, &eb)
	return eb.Error.Code
}

// call makes one real request; auth is the whole Authorization header.
func call(t testing.TB, method, url, auth, contentType, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func bearerOf(key string) string {
	if key == "" {
		return ""
	}
	return "Bearer " + key
}

func TestAuth(t *testing.T) {
	id := corpus()[0].ID
	rec := `{"url":"https://ex.test/auth.jpg","title":"guarded"}`
	type tc struct {
		method, path, auth, body string
		status                   int
		code, challenge          string // challenge: a substring of WWW-Authenticate
	}
	post := func(auth string, status int, code string) tc {
		return tc{"POST", "/v1/images", auth, rec, status, code, ""}
	}
	common := []tc{
		post("", 401, "unauthorized"),
		post(bearerOf(searchKey), 403, "forbidden"),
		post(bearerOf(writeKey), 202, ""),
		post(bearerOf(hashedKey), 202, ""),
		post(bearerOf(adminKey), 202, ""),
		post(bearerOf(wrongKey), 401, "unauthorized"),
		post("bearer "+writeKey, 202, ""),            // the scheme is case-insensitive
		post("Basic "+writeKey, 401, "unauthorized"), // another scheme is a wrong key
		post("Bearer", 401, "unauthorized"),
		post(bearerOf(strings.ToUpper(writeKey)), 401, "unauthorized"),
		{"POST", "/v1/images", "", rec, 401, "unauthorized", `Bearer realm="picdex"`},
		{"POST", "/v1/images", bearerOf(wrongKey), rec, 401, "unauthorized", `error="invalid_token"`},
		{"POST", "/v1/images", bearerOf(searchKey), rec, 403, "forbidden", `error="insufficient_scope", scope="write"`},
		{"DELETE", "/v1/images/" + id + "-absent", "", "", 401, "unauthorized", ""},
		{"DELETE", "/v1/images/" + id + "-absent", bearerOf(searchKey), "", 403, "forbidden", ""},
		{"DELETE", "/v1/images/" + id + "-absent", bearerOf(writeKey), "", 200, "", ""},
		// Admin routes and /v1/stats are covered by prefix before they exist:
		// an admin key gets through to the router's 404.
		{"GET", "/v1/stats", bearerOf(writeKey), "", 403, "forbidden", `scope="admin"`},
		{"GET", "/v1/stats", bearerOf(adminKey), "", 404, "not_found", ""},
		{"POST", "/v1/admin/reindex", "", `{}`, 401, "unauthorized", ""},
		{"POST", "/v1/admin/reindex", bearerOf(searchKey), `{}`, 403, "forbidden", ""},
		{"GET", "/v1/admin/jobs/1", bearerOf(adminKey), "", 404, "not_found", ""},
		{"GET", "/v1//admin/jobs/1", bearerOf(writeKey), "", 403, "forbidden", ""},
		{"GET", "/v1/unknown", "", "", 401, "unauthorized", ""},
		// Dot segments are routed as they are, to /v1/images/{id} with
		// an id holding them: the guard sees the same path.
		{"DELETE", "/v1/images/%2e%2e%2f%2e%2e%2fvictim", "", "", 401, "unauthorized", ""},
		{"DELETE", "/v1/images/%2e%2e%2f%2e%2e%2fhealthz", "", "", 401, "unauthorized", ""},
		{"DELETE", "/v1/images/a/../../../b", "", "", 401, "unauthorized", ""},
	}
	open := []tc{
		{"GET", "/v1/search?q=red", "", "", 200, "", ""},
		{"POST", "/v1/search", "", `{"q":"red"}`, 200, "", ""},
		{"GET", "/v1/images/" + id, "", "", 200, "", ""},
		{"GET", "/v1/search?q=red", bearerOf(writeKey), "", 200, "", ""}, // a key never has less than none
		{"GET", "/v1/search?q=red", bearerOf(wrongKey), "", 401, "unauthorized", `error="invalid_token"`},
	}
	closed := []tc{
		{"GET", "/v1/search?q=red", "", "", 401, "unauthorized", `Bearer realm="picdex"`},
		{"POST", "/v1/search", "", `{"q":"red"}`, 401, "unauthorized", ""},
		{"GET", "/v1/images/" + id, "", "", 401, "unauthorized", ""},
		{"GET", "/v1/search?q=red", bearerOf(writeKey), "", 403, "forbidden", `scope="search"`},
		{"GET", "/v1/search?q=red", bearerOf(searchKey), "", 200, "", ""},
		{"GET", "/v1/search?q=red", bearerOf(hashedKey), "", 200, "", ""},
		{"GET", "/v1/search?q=red", bearerOf(adminKey), "", 200, "", ""},
		{"GET", "/v1/images/" + id, bearerOf(searchKey), "", 200, "", ""},
	}
	for _, mode := range []struct {
		name    string
		require bool
		cases   []tc
	}{{"search open", false, append(common, open...)}, {"search needs a key", true, append(common, closed...)}} {
		t.Run(mode.name, func(t *testing.T) {
			base, _ := startHTTP(t, func(o *api.Options) { o.Keys = testKeys(t); o.RequireSearchKey = mode.require })
			for _, c := range mode.cases {
				r := call(t, c.method, base+c.path, c.auth, "application/json", c.body)
				what := fmt.Sprintf("%s %s with %q", c.method, c.path, c.auth)
				if r.status != c.status || (c.code != "" && r.code() != c.code) {
					t.Errorf("%s: %d %s, want %d %s", what, r.status, r.body, c.status, c.code)
				}
				if !json.Valid(r.body) {
					t.Errorf("%s: body is not JSON: %s", what, r.body)
				}
				wa := r.header.Get("WWW-Authenticate")
				if (r.status == 401 || r.status == 403) != (wa != "") {
					t.Errorf("%s: %d with WWW-Authenticate %q", what, r.status, wa)
				}
				if !strings.Contains(wa, c.challenge) {
					t.Errorf("%s: WWW-Authenticate %q lacks %q", what, wa, c.challenge)
				}
			}
		})
	}
}

// TestAlwaysOpen: probes, metrics, the OpenAPI document and the UI need
// no key, whatever key a request carries.
func TestAlwaysOpen(t *testing.T) {
	base, _ := startHTTP(t, func(o *api.Options) {
		o.Keys = testKeys(t)
		o.RequireSearchKey = true
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })
	})
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/ui/app.js"} {
		for _, auth := range []string{"", bearerOf(wrongKey), "Basic eDp5", bearerOf(writeKey)} {
			if r := call(t, "GET", base+path, auth, "", ""); r.status != 200 {
				t.Errorf("GET %s with %q: %d %s", path, auth, r.status, r.body)
			}
		}
	}
}

func TestNoKeysConfigured(t *testing.T) {
	base, _ := startHTTP(t)
	r := call(t, "POST", base+"/v1/images", bearerOf(wrongKey), "application/json", `{"url":"https://ex.test/open.jpg"}`)
	if r.status != 202 || r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("without keys a write is open: %d %s", r.status, r.body)
	}
}

// TestKeysNeverLogged: neither a valid key nor a wrong one reaches the
// log; the access log names a valid key by its id.
func TestKeysNeverLogged(t *testing.T) {
	base, s := startHTTP(t, func(o *api.Options) { o.Keys = testKeys(t); o.RateLimit = 1000 })
	for _, key := range []string{searchKey, writeKey, adminKey, hashedKey, wrongKey} {
		call(t, "GET", base+"/v1/search?q=red", bearerOf(key), "", "")
		call(t, "POST", base+"/v1/images", bearerOf(key), "application/json", `{"url":"https://ex.test/log.jpg"}`)
		call(t, "POST", base+"/v1/admin/reindex", bearerOf(key), "application/json", `{}`)
		call(t, "GET", base+"/healthz", bearerOf(key), "", "")
	}
	logs := s.log.String()
	for _, key := range []string{searchKey, writeKey, adminKey, hashedKey, wrongKey} {
		if strings.Contains(logs, key) || strings.Contains(logs, key[:12]) {
			t.Errorf("the log holds the key %q:\n%s", key, logs)
		}
	}
	ks := testKeys(t)
	for _, key := range []string{searchKey, writeKey, hashedKey} {
		k, _ := ks.Lookup(key)
		if !strings.Contains(logs, "key="+k.ID) {
			t.Errorf("the access log does not name %s", k.ID)
		}
	}
	if strings.Count(logs, "status=401") != 3 { // the wrong key's three guarded calls
		t.Errorf("%d 401s logged, want 3:\n%s", strings.Count(logs, "status=401"), logs)
	}
}

func TestRateLimit(t *testing.T) {
	// 1 a second, burst 2: the third quick request is refused (a token
	// comes back only a second later, slack for a loaded machine).
	base, _ := startHTTP(t, func(o *api.Options) { o.Keys = testKeys(t); o.RateLimit = 1 })
	for i := range 2 {
		if r := call(t, "GET", base+"/openapi.json", "", "", ""); r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	r := call(t, "GET", base+"/v1/search?q=red", "", "", "")
	if r.status != 429 || r.code() != "rate_limited" {
		t.Fatalf("past the burst: %d %s", r.status, r.body)
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
	}
	// A wrong key is limited as its address: guessing costs the budget.
	if r := call(t, "POST", base+"/v1/images", bearerOf(wrongKey), "application/json", `{}`); r.status != 429 {
		t.Errorf("a wrong key past the address's limit: %d, want 429", r.status)
	}
	// Probes and metrics are never limited.
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := call(t, "GET", base+path, "", "", ""); r.status != 200 {
			t.Errorf("%s while limited: %d", path, r.status)
		}
	}
	// A key has its own bucket, apart from its address's.
	for i := range 2 {
		if r := call(t, "GET", base+"/v1/search?q=red", bearerOf(searchKey), "", ""); r.status != 200 {
			t.Fatalf("key request %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := call(t, "GET", base+"/v1/search?q=red", bearerOf(searchKey), "", ""); r.status != 429 {
		t.Errorf("past the key's burst: %d", r.status)
	}
	// A second refills one token.
	time.Sleep(1100 * time.Millisecond)
	if r := call(t, "GET", base+"/openapi.json", "", "", ""); r.status != 200 {
		t.Errorf("after the refill: %d", r.status)
	}
}

// TestRateLimitByAddress: without a key the limit is per TCP peer, an
// IPv6 peer's /64 being one; a forwarded-for header changes nothing.
func TestRateLimitByAddress(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.RateLimit = 0.5 }) // burst 1
	status := func(remote, forwarded string) int {
		req := httptest.NewRequest("GET", "/openapi.json", nil)
		req.RemoteAddr = remote
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		return w.Code
	}
	for _, c := range []struct {
		remote, forwarded string
		want              int
	}{
		{"192.0.2.1:1000", "", 200},
		{"192.0.2.1:1001", "", 429}, // another port of the same host
		{"192.0.2.1:1002", "198.51.100.7", 429},
		{"192.0.2.2:1000", "", 200},
		{"[::ffff:192.0.2.2]:1000", "", 429}, // the same IPv4 host, mapped
		{"[2001:db8::1]:1", "", 200},
		{"[2001:db8::ffff:1]:2", "", 429}, // the same /64
		{"[2001:db8:0:1::1]:3", "", 200},  // the next /64
	} {
		if got := status(c.remote, c.forwarded); got != c.want {
			t.Errorf("%s (forwarded for %q): %d, want %d", c.remote, c.forwarded, got, c.want)
		}
	}
}

// TestGuardHandler: the guard in front of a plain net/http handler, as the
// internal shard API uses it.
func TestGuardHandler(t *testing.T) {
	ks := testKeys(t)
	var rejected []string
	g := &api.Guard{Keys: ks, Need: func(*http.Request) api.Scope { return api.ScopeSearch },
		Exempt: func(r *http.Request) bool { return r.URL.Path == "/health" },
		Reject: func(reason string) { rejected = append(rejected, reason) }}
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := api.KeyFromContext(r.Context())
		fmt.Fprintf(w, `{"key":%q,"ok":%v}`, k.ID, ok)
	}))
	ts := httptest.NewServer(h)
	defer ts.Close()
	r := call(t, "GET", ts.URL+"/shard/0/search", "", "", "")
	if r.status != 401 || r.code() != "unauthorized" || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("no key: %d %s %v", r.status, r.body, r.header)
	}
	r = call(t, "GET", ts.URL+"/shard/0/search", bearerOf(writeKey), "", "")
	if r.status != 403 || r.code() != "forbidden" {
		t.Errorf("write key: %d %s", r.status, r.body)
	}
	k, _ := ks.Lookup(searchKey)
	r = call(t, "GET", ts.URL+"/shard/0/search", bearerOf(searchKey), "", "")
	if r.status != 200 || string(r.body) != fmt.Sprintf(`{"key":%q,"ok":true}`, k.ID) {
		t.Errorf("search key: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", ts.URL+"/health", "", "", ""); r.status != 200 {
		t.Errorf("exempt path: %d", r.status)
	}
	if strings.Join(rejected, ",") != "unauthorized,forbidden" {
		t.Errorf("rejections reported: %v", rejected)
	}
}

// TestIngestContentType: writes take only JSON and NDJSON types. A
// missing type or text/plain is what a cross-site page can send without a
// preflight, and an ingest can delete.
func TestIngestContentType(t *testing.T) {
	base, s := startHTTP(t)
	victim := corpus()[1]
	del := fmt.Sprintf(`{"url":%q,"op":"delete"}`, victim.URL)
	for _, c := range []struct {
		ct     string
		status int
	}{
		{"", 415},
		{"text/plain", 415},
		{"text/plain;charset=UTF-8", 415},
		{"application/x-www-form-urlencoded", 415},
		{"multipart/form-data; boundary=x", 415},
		{"application/jsonx", 415},
		{"application/json; charset=utf-8", 202},
		{"application/merge-patch+json", 202},
		{"application/x-ndjson", 202},
		{"application/jsonl", 202},
	} {
		r := call(t, "POST", base+"/v1/images", "", c.ct, `{"url":"https://ex.test/ct.jpg"}`)
		if r.status != c.status {
			t.Errorf("Content-Type %q: %d %s, want %d", c.ct, r.status, r.body, c.status)
		}
		if c.status == 415 {
			if r.code() != "unsupported_media_type" {
				t.Errorf("Content-Type %q: code %q", c.ct, r.code())
			}
			if r := call(t, "POST", base+"/v1/images", "", c.ct, del); r.status != 415 {
				t.Errorf("delete with Content-Type %q: %d", c.ct, r.status)
			}
		}
	}
	if w := s.get(t, "/v1/images/"+victim.ID); w.Code != 200 {
		t.Errorf("the record a refused delete named is gone: %d", w.Code)
	}
	// A search changes nothing: it may come without a type.
	if r := call(t, "POST", base+"/v1/search", "", "", `{"q":"red"}`); r.status != 200 {
		t.Errorf("POST /v1/search without a type: %d %s", r.status, r.body)
	}
}

// TestOpenAPISecurity: what /openapi.json says each operation needs is
// what the guard asks of real requests.
func TestOpenAPISecurity(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type, Scheme string
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(newServer(t).get(t, "/openapi.json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("bearer scheme: %+v", s)
	}
	keyOf := map[string]string{"search": searchKey, "write": writeKey, "admin": adminKey}
	other := map[string]string{"search": writeKey, "write": searchKey, "admin": writeKey}
	open := newServer(t, func(o *api.Options) { o.Keys = testKeys(t); o.Admin = &fakeAdmin{} })
	closed := newServer(t, func(o *api.Options) { o.Keys = testKeys(t); o.RequireSearchKey = true; o.Admin = &fakeAdmin{} })
	status := func(s *testServer, method, path, key string) int {
		req := httptest.NewRequest(strings.ToUpper(method), strings.ReplaceAll(path, "{id}", "openapi-probe"), strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		return w.Code
	}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security  []map[string][]string      `json:"security"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			what := method + " " + path
			if op.Security == nil {
				t.Errorf("%s declares no security", what)
				continue
			}
			if len(op.Security) == 0 {
				if got := status(closed, method, path, ""); got == 401 || got == 403 {
					t.Errorf("%s is documented open but answers %d", what, got)
				}
				continue
			}
			anonymous := false
			for _, req := range op.Security {
				if len(req) == 0 {
					anonymous = true
					continue
				}
				for _, scope := range req["bearer"] {
					if got := status(closed, method, path, keyOf[scope]); got == 401 || got == 403 {
						t.Errorf("%s with a %s key: %d", what, scope, got)
					}
					if got := status(closed, method, path, other[scope]); got != 403 {
						t.Errorf("%s with a key lacking %s: %d, want 403", what, scope, got)
					}
				}
			}
			if got := status(open, method, path, ""); (got == 401) == anonymous {
				t.Errorf("%s without a key: %d, documented anonymous %v", what, got, anonymous)
			}
			for _, code := range []string{"401", "403", "429"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s does not document %s", what, code)
				}
			}
		}
	}
}
