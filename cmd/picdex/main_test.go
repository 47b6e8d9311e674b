package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
)

// picdexBin is the binary under test, built once by TestMain.
var picdexBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "picdex-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	picdexBin = filepath.Join(dir, "picdex")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goBin, "build", "-o", picdexBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building picdex:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runPicdex(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(picdexBin, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("picdex %s: %v", strings.Join(args, " "), err)
	}
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func TestHelp(t *testing.T) {
	r := runPicdex(t, nil, "--help").want(t, 0)
	for _, c := range commands {
		if !strings.Contains(r.stdout, c.name) {
			t.Errorf("picdex --help does not list %s", c.name)
		}
	}
	for _, c := range []struct {
		name  string
		flags []string
	}{
		{"serve", []string{"--data", "--addr", "--shards", "--brokers", "--topic", "--group",
			"--api-keys", "--require-search-key", "--rate-limit", "--cors-origins", "--max-conns"}},
		{"indexer", []string{"--brokers", "--data", "--shards", "--generation", "--topic", "--group", "--batch", "--batch-wait", "--addr"}},
		{"index", []string{"--data", "--shards", "--batch"}},
		{"search", []string{"--data", "--server", "--size", "--json", "--from", "--facet", "--api-key-file"}},
		{"gen", []string{"--n", "--seed"}},
		{"reindex", []string{"--from", "--data", "--shards", "--keep", "--batch", "--max-bad"}},
		{"rollback", []string{"--data"}},
		{"crawl", []string{"--url", "--dir", "--feed", "--out", "--to", "--brokers", "--state", "--allow-private", "--fetch-images", "--max-depth", "--max-pages", "--delay", "--user-agent", "--columns", "--api-key-file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, help := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
				r := runPicdex(t, nil, help...).want(t, 0)
				if !strings.HasPrefix(r.stdout, "Usage: picdex "+c.name) {
					t.Errorf("%v: no usage line: %s", help, r.stdout)
				}
				for _, f := range c.flags {
					if !strings.Contains(r.stdout, "\n  "+f+" ") && !strings.Contains(r.stdout, "\n  "+f+"\n") {
						t.Errorf("%v does not describe %s:\n%s", help, f, r.stdout)
					}
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"index", "--no-such-flag", "x"},
		{"index", "--data", t.TempDir()},
		{"index", "--batch", "0", "x"},
		{"gen", "--n", "-1"},
		{"gen", "--n", "many"},
		{"serve", "extra-arg"},
		{"serve", "--require-search-key"},
		{"serve", "--api-keys", "/nonexistent/keys"},
		{"serve", "--rate-limit", "-1"},
		{"serve", "--max-conns", "0"},
		{"serve", "--cors-origins", "example.com"},
		{"search", "--server", "http://127.0.0.1:1", "--api-key-file", "/nonexistent/key", "x"},
	} {
		r := runPicdex(t, nil, args...).want(t, 2)
		if !strings.Contains(r.stderr, "Usage") {
			t.Errorf("%v: no usage on stderr: %s", args, r.stderr)
		}
	}
}

func TestGenDeterministic(t *testing.T) {
	a := runPicdex(t, nil, "gen", "--n", "50", "--seed", "9").want(t, 0)
	b := runPicdex(t, nil, "gen", "--seed", "9", "--n", "50").want(t, 0)
	if a.stdout != b.stdout {
		t.Fatal("same seed, different corpus")
	}
	if n := strings.Count(a.stdout, "\n"); n != 50 {
		t.Errorf("%d lines, want 50", n)
	}
}

func TestGenIndexSearch(t *testing.T) {
	data := filepath.Join(t.TempDir(), "idx")
	corpus := runPicdex(t, nil, "gen", "--n", "600", "--seed", "3").want(t, 0).stdout
	r := runPicdex(t, strings.NewReader(corpus), "index", "--data", data, "--shards", "2", "--batch", "128", "-").want(t, 0)
	if !strings.Contains(r.stdout, "indexed 600 records, rejected 0") {
		t.Errorf("summary: %s", r.stdout)
	}

	word := firstTitleWord(t, corpus)
	r = runPicdex(t, nil, "search", "--data", data, "--json", "--size", "5", "--facet", "format", word).want(t, 0)
	var res index.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json output is not a result: %v\n%s", err, r.stdout)
	}
	if res.Total == 0 || len(res.Hits) == 0 || len(res.Facets["format"]) == 0 {
		t.Fatalf("search %q: %s", word, r.stdout)
	}
	again, _ := json.Marshal(res)
	if string(again) != r.stdout {
		t.Errorf("--json is not exactly the encoding/json body:\n%s\n%s", r.stdout, again)
	}

	// Flags may follow the query; the listing brackets the matches.
	r = runPicdex(t, nil, "search", word, "--data", data, "--size", "3").want(t, 0)
	if !strings.Contains(r.stdout, "  1. ") || !strings.Contains(strings.ToLower(r.stdout), "["+word+"]") {
		t.Errorf("listing:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "<mark>") || strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("marks not turned into brackets:\n%s", r.stdout)
	}

	// The index is reopened as on disk, whatever --shards said before.
	r = runPicdex(t, nil, "search", "--data", data, "--json", "--size", "0").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Total != 600 || res.Shards.Total != 2 {
		t.Errorf("match all: %v %s", err, r.stdout)
	}

	r = runPicdex(t, nil, "search", "--data", data, "red AND").want(t, 2)
	if !strings.Contains(r.stderr, "position") {
		t.Errorf("syntax error: %s", r.stderr)
	}
	runPicdex(t, nil, "search", "--data", filepath.Join(t.TempDir(), "nothing-here"), "x").want(t, 1)
	// A directory that holds no index stays untouched.
	notIndex := t.TempDir()
	runPicdex(t, nil, "search", "--data", notIndex, "x").want(t, 1)
	if entries, _ := os.ReadDir(notIndex); len(entries) != 0 {
		t.Errorf("search created files in %s", notIndex)
	}
}

func firstTitleWord(t *testing.T, corpus string) string {
	t.Helper()
	re := regexp.MustCompile(`"title":"([A-Za-z]{4,})`)
	m := re.FindStringSubmatch(corpus)
	if m == nil {
		t.Fatal("no English title in the corpus")
	}
	return strings.ToLower(m[1])
}

func TestIndexRejectsAndReports(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "idx")
	good := `{"url":"https://ex.test/1.jpg","title":"one"}`
	input := strings.Join([]string{
		good,
		`{"url":"https://ex.test/2.jpg","width":"wide"}`,
		``,
		`not json at all`,
		`{"url":"https://ex.test/3.jpg","phash":"123"}`,
		`{"url":"https://ex.test/4.jpg","title":"` + strings.Repeat("x", 1<<20) + `"}`,
		`{"url":"https://ex.test/5.jpg","title":"five"}`,
	}, "\n")
	plain := filepath.Join(dir, "in.jsonl")
	os.WriteFile(plain, []byte(input), 0o644)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(good + "\n" + `{"url":"https://ex.test/6.jpg"}` + "\n"))
	zw.Close()
	gzName := filepath.Join(dir, "more.jsonl.gz")
	os.WriteFile(gzName, gz.Bytes(), 0o644)

	r := runPicdex(t, nil, "index", "--data", data, plain, gzName).want(t, 0)
	for _, want := range []string{plain + ":2: width", plain + ":4: ", plain + ":5: phash", plain + ":6: line longer than"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "indexed 4 records, rejected 4") {
		t.Errorf("summary: %s", r.stdout)
	}

	// Every line rejected: 2. A missing file: 1, the others still load.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{}\n[]\n"), 0o644)
	runPicdex(t, nil, "index", "--data", data, bad).want(t, 2)
	r = runPicdex(t, nil, "index", "--data", data, filepath.Join(dir, "missing.jsonl"), plain).want(t, 1)
	if !strings.Contains(r.stderr, "missing.jsonl") || !strings.Contains(r.stdout, "indexed 2 records") {
		t.Errorf("missing file: %s %s", r.stderr, r.stdout)
	}
	corrupt := filepath.Join(dir, "corrupt.jsonl.gz")
	os.WriteFile(corrupt, []byte("not gzip"), 0o644)
	runPicdex(t, nil, "index", "--data", data, corrupt).want(t, 1)
}

// TestServe runs `picdex serve` on a free port with the bundled demo corpus
// and talks to it over HTTP.
// startServe runs picdex serve on a free port with args added and returns
// its base URL, a channel its exit status arrives on, its log so far and
// the process. The process is killed when the test ends.
func startServe(t *testing.T, data string, args ...string) (base string, done <-chan error, logs *bytes.Buffer, cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.Command(picdexBin, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Kill()
	})

	// The log line with the URL comes once the demo corpus is in.
	urlc := make(chan string, 1)
	logs = &bytes.Buffer{}
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`url=(http://\S+)`)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case base = <-urlc:
	case err := <-exited:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not log its URL")
	}
	return base, exited, logs, cmd
}

func TestServe(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	base, done, logs, cmd := startServe(t, data, "--shards", "2")

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, body := get("/v1/search?size=3&facet=tags")
	var res index.Result
	if code != 200 || json.Unmarshal(body, &res) != nil || res.Total == 0 {
		t.Fatalf("search: %d %s", code, body)
	}
	demoTotal := res.Total
	if code, body := get("/v1/search?size=-1"); code != 400 || !strings.Contains(string(body), `"code":"bad_request"`) {
		t.Errorf("size=-1: %d %s", code, body)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(string(body), "<html") {
		t.Errorf("UI: %d", code)
	}
	if code, _ := get("/v1/images/" + url.PathEscape(res.Hits[0].ID)); code != 200 {
		t.Errorf("get image: %d", code)
	}

	// search --server --json prints the HTTP body itself.
	word := "tree"
	code, body = get("/v1/search?q=" + word + "&size=4")
	r := runPicdex(t, nil, "search", "--server", base, "--json", "--size", "4", word).want(t, 0)
	if code != 200 || zeroTook(t, body) != zeroTook(t, []byte(r.stdout)) {
		t.Errorf("search --server --json differs from the HTTP body:\n%s\n%s", body, r.stdout)
	}
	r = runPicdex(t, nil, "search", "--server", base, "--size", "-1", word).want(t, 2)
	if !strings.Contains(r.stderr, "size") {
		t.Errorf("remote bad request: %s", r.stderr)
	}

	// Graceful shutdown on SIGTERM.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}

	// The index outlives the server: closed cleanly, readable again.
	r = runPicdex(t, nil, "search", "--data", data, "--json", "--size", "1").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Total != demoTotal {
		t.Errorf("after restart: total %d, want %d (%v)", res.Total, demoTotal, err)
	}
}

// zeroTook returns a result body with took_ms zeroed, the one field two
// identical searches may differ in.
func zeroTook(t *testing.T, body []byte) string {
	t.Helper()
	re := regexp.MustCompile(`^\{"total":(\d+),"took_ms":\d+,`)
	if !re.Match(body) {
		t.Fatalf("not a search result: %.200s", body)
	}
	return re.ReplaceAllString(string(body), `{"total":$1,"took_ms":0,`)
}
