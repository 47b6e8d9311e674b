package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSecurity runs serve with keys from a file and the environment,
// a rate limit and CORS, and talks to it as a client, search and crawl
// would.
func TestServeSecurity(t *testing.T) {
	const (
		writeKey = "crawler-key-0123456789abcdef"
		adminKey = "admin-key-from-the-env-0123"
		readKey  = "reader-key-0123456789abcdef"
	)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	adminDigest := sha256.Sum256([]byte(adminKey))
	os.WriteFile(keys, []byte("# picdex\nsearch,write "+writeKey+"\n"), 0o600)
	t.Setenv(envServerKeys, "search "+readKey+";admin sha256:"+hex.EncodeToString(adminDigest[:]))
	t.Setenv(envClientKey, "")
	base, done, logs, cmd := startServe(t, filepath.Join(dir, "data"), "--shards", "2", "--api-keys", keys,
		"--require-search-key", "--rate-limit", "200", "--cors-origins", "https://app.example.com", "--max-conns", "64")

	do := func(method, path, key, body string, header ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+strings.TrimPrefix(path, "/"), strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, c := range []struct {
		method, path, key, body string
		status                  int
	}{
		{"GET", "/readyz", "", "", 200},
		{"GET", "/", "", "", 200},
		{"GET", "/v1/search?q=tree", "", "", 401},
		{"GET", "/v1/search?q=tree", readKey, "", 200},
		{"GET", "/v1/search?q=tree", adminKey, "", 200},
		{"POST", "/v1/images", "", `{"url":"https://example.com/nokey.jpg"}`, 401},
		{"POST", "/v1/images", readKey, `{"url":"https://example.com/reader.jpg"}`, 403},
		{"POST", "/v1/images", writeKey, `{"url":"https://example.com/ok.jpg"}`, 202},
		{"GET", "/v1/stats", writeKey, "", 403},
	} {
		if status, h, body := do(c.method, c.path, c.key, c.body); status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, status, body, c.status)
		} else if status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="picdex"`) {
			t.Errorf("%s %s: 401 with WWW-Authenticate %q", c.method, c.path, h.Get("WWW-Authenticate"))
		}
	}
	if _, h, _ := do("GET", "/v1/search?q=tree", readKey, "", "Origin", "https://app.example.com"); h.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("CORS: %v", h)
	}
	if status, _, _ := do("OPTIONS", "/v1/images", "", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST"); status != 204 {
		t.Errorf("preflight: %d", status)
	}

	// search --server: the key from the environment or a file.
	r := runPicdex(t, nil, "search", "--server", base, "--json", "tree").want(t, 2)
	if !strings.Contains(r.stderr, "401 unauthorized") {
		t.Errorf("search without a key: %s", r.stderr)
	}
	t.Setenv(envClientKey, readKey)
	runPicdex(t, nil, "search", "--server", base, "--json", "tree").want(t, 0)
	t.Setenv(envClientKey, "")
	keyFile := filepath.Join(dir, "client-key")
	os.WriteFile(keyFile, []byte(readKey+"\n"), 0o600)
	runPicdex(t, nil, "search", "--server", base, "--api-key-file", keyFile, "--json", "tree").want(t, 0)

	// crawl --to: refused without a key, delivered with one.
	feed := filepath.Join(dir, "feed.jsonl")
	os.WriteFile(feed, []byte(`{"url":"https://example.com/quokka.jpg","title":"secured quokka"}`+"\n"), 0o644)
	r = runPicdex(t, nil, "crawl", "--feed", feed, "--to", base).want(t, 1)
	if !strings.Contains(r.stderr, "401") {
		t.Errorf("crawl without a key: %s", r.stderr)
	}
	t.Setenv(envClientKey, writeKey)
	runPicdex(t, nil, "crawl", "--feed", feed, "--to", base).want(t, 0)
	waitFor(t, "the crawled record to be searchable", func() bool {
		_, _, body := do("GET", "/v1/search?q=quokka", readKey, "")
		return strings.Contains(body, `"total":1`)
	})

	// One registry: the API's series beside the indexer's and the runtime's.
	_, _, metrics := do("GET", "/metrics", "", "")
	for _, want := range []string{
		`picdex_http_requests_total{method="POST",route="/v1/images",status="202"}`,
		`picdex_http_request_duration_seconds_bucket{method="GET",route="/v1/search"`,
		`picdex_http_rejections_total{reason="unauthorized"}`,
		`picdex_http_rejections_total{reason="forbidden"} 2`,
		"picdex_indexer_records_indexed_total", "picdex_search_waited_total", "go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The log is complete once serve has exited.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, key := range []string{writeKey, adminKey, readKey} {
		if strings.Contains(logs.String(), key) {
			t.Errorf("the log holds a key:\n%s", logs)
		}
	}
	if !strings.Contains(logs.String(), "keys=3") {
		t.Errorf("start-up log does not count the keys:\n%s", logs)
	}
}

// TestServeRateLimit: --rate-limit 1 allows a burst of 2; the third quick
// request gets 429 with Retry-After, while the probes still answer.
func TestServeRateLimit(t *testing.T) {
	t.Setenv(envServerKeys, "")
	base, _, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--rate-limit", "1")
	codes := []int{}
	var retry string
	for range 3 {
		resp, err := http.Get(base + "openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		retry = resp.Header.Get("Retry-After")
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || retry != "1" {
		t.Errorf("statuses %v, Retry-After %q; want 200 200 429 and 1", codes, retry)
	}
	if code, _ := httpGet(t, base+"healthz"); code != 200 {
		t.Errorf("healthz while limited: %d", code)
	}
}
