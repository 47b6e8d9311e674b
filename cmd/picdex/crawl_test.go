package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// testSite serves n linked pages with two images each; page block, when
// set, waits until release is closed.
func testSite(t *testing.T, n int, block int, release <-chan struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/p/%d", &i); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		if i == block && release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<title>Page %d</title><h1>Lighthouse number %d</h1>
<p>The keeper's log. <img src="/img/%d-a.jpg" alt="lighthouse %d at dawn" width=800 height=600></p>
<figure><img src="/img/%d-b.png" alt="map %d"><figcaption>Chart of the coast</figcaption></figure>
<img src="/pixel.gif" width=1 height=1 alt="">
<a href="/p/%d">next</a>`, i, i, i, i, i, i, i+1)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func readRecords(t *testing.T, path string) []record.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, record.MaxRecordBytes)
	for sc.Scan() {
		r, err := record.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

func TestCrawlWebToFile(t *testing.T) {
	site := testSite(t, 10, -1, nil)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	r := runPicdex(t, nil, "crawl", "--url", site.URL+"/p/0", "--allow-private", "--delay", "-1s",
		"--max-depth", "20", "--out", out).want(t, 0)
	recs := readRecords(t, out)
	if len(recs) != 20 {
		t.Fatalf("%d records, want 20 (2 images on each of 10 pages; the pixel is decorative)\n%s", len(recs), r.stderr)
	}
	byAlt := map[string]record.Record{}
	for _, rec := range recs {
		byAlt[rec.Alt] = rec
	}
	lh := byAlt["lighthouse 3 at dawn"]
	if lh.PageURL != site.URL+"/p/3" || lh.Source != "web" || lh.Width != 800 || lh.Format != "jpeg" ||
		!strings.Contains(lh.Description, "Lighthouse number 3") || lh.Title != "Page 3" {
		t.Errorf("record: %+v", lh)
	}
	if m := byAlt["map 3"]; m.Caption != "Chart of the coast" {
		t.Errorf("caption: %+v", m)
	}
	for _, want := range []string{"10 pages", "20 images", "skipped", "HTTP 404"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestCrawlRefusesLoopbackWithoutAllowPrivate(t *testing.T) {
	site := testSite(t, 1, -1, nil)
	r := runPicdex(t, nil, "crawl", "--url", site.URL+"/p/0", "--out", filepath.Join(t.TempDir(), "o.jsonl")).want(t, 1)
	if !strings.Contains(r.stderr, "--allow-private") || !strings.Contains(r.stderr, "address not allowed") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestCrawlUsage(t *testing.T) {
	for _, args := range [][]string{
		{"crawl"},
		{"crawl", "--url", "http://example.com/", "--dir", "."},
		{"crawl", "--url", "http://example.com/", "--out", "x", "--to", "http://localhost:1"},
		{"crawl", "--url", "ftp://example.com/"},
		{"crawl", "--feed", "x.csv", "--columns", "nosuchfield=a"},
		{"crawl", "--url", "http://example.com/", "stray"},
		{"crawl", "--dir", ".", "--workers", "-3"},
	} {
		r := runPicdex(t, nil, args...).want(t, 2)
		if !strings.Contains(r.stderr, "Usage") {
			t.Errorf("%v: no usage on stderr: %s", args, r.stderr)
		}
	}
	r := runPicdex(t, nil, "crawl", "--feed", "x.jsonl", "--brokers", "127.0.0.1:1").want(t, 1)
	if !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("unreachable broker: %s", r.stderr)
	}
}

// TestCrawlToKafka publishes a feed to an in-process Kafka broker and
// reads it back.
func TestCrawlToKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	var lines strings.Builder
	for i := range 50 {
		fmt.Fprintf(&lines, `{"url":"https://example.com/%d.jpg","title":"photo %d"}`+"\n", i%20, i)
	}
	feed := filepath.Join(t.TempDir(), "f.jsonl")
	os.WriteFile(feed, []byte(lines.String()), 0o644)
	r := runPicdex(t, nil, "crawl", "--feed", feed, "--brokers", addr, "--topic", "test.images", "--partitions", "3").want(t, 0)
	if !strings.Contains(r.stderr, "50 records") || !strings.Contains(r.stderr, "Kafka topic test.images") {
		t.Errorf("summary: %s", r.stderr)
	}
	got := 0
	for p := range 3 {
		conn, err := kafka.DialLeader(context.Background(), "tcp", addr, "test.images", p)
		if err != nil {
			t.Fatal(err)
		}
		last, _ := conn.ReadLastOffset()
		conn.Close()
		got += int(last)
	}
	if got != 50 {
		t.Errorf("%d messages in the topic, want 50", got)
	}
}

// TestCrawlInterruptAndResume stops a crawl with SIGINT while a page is
// held up, then runs the same command again: every image ends up in the
// output, the state file is gone, and no page before the interruption is
// fetched again.
func TestCrawlInterruptAndResume(t *testing.T) {
	release := make(chan struct{})
	const n, block = 12, 6
	var mu sync.Mutex
	hits := map[string]int{}
	inner := testSite(t, n, block, release)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		resp, err := http.Get(inner.URL + r.URL.Path)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		buf := new(bytes.Buffer)
		buf.ReadFrom(resp.Body)
		// Links must point at this server, not the inner one.
		w.Write(buf.Bytes())
	}))
	defer site.Close()

	dir := t.TempDir()
	out, state := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "crawl.state")
	args := []string{"crawl", "--url", site.URL + "/p/0", "--allow-private", "--delay", "-1s", "--max-depth", "50",
		"--out", out, "--state", state}
	cmd := exec.Command(picdexBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		reached := hits[fmt.Sprintf("/p/%d", block)] > 0
		mu.Unlock()
		if reached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the crawl never reached page %d: %s", block, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("interrupted crawl: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "run the same command again") {
		t.Errorf("no resume hint: %s", stderr.String())
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file after an interruption: %v", err)
	}
	before := len(readRecords(t, out))
	if before != 2*block {
		t.Errorf("%d records before the interruption, want %d", before, 2*block)
	}

	close(release)
	r := runPicdex(t, nil, args...).want(t, 0)
	recs := readRecords(t, out)
	seen := map[string]int{}
	for _, rec := range recs {
		seen[rec.URL]++
	}
	if len(seen) != 2*n {
		t.Errorf("%d distinct images after resuming, want %d\n%s", len(seen), 2*n, r.stderr)
	}
	for u, k := range seen {
		if k > 1 {
			t.Errorf("%s written %d times", u, k)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file left after a complete crawl: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range block {
		if k := hits[fmt.Sprintf("/p/%d", i)]; k != 1 {
			t.Errorf("page %d fetched %d times", i, k)
		}
	}
}

func writeJPEG(t *testing.T, path string, w, h int, c color.Color) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if (x/8+y/8)%2 == 0 {
				img.Set(x, y, c)
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestCrawlDirToServerAndSearch(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "holiday", "day1"), 0o755)
	writeJPEG(t, filepath.Join(root, "holiday", "day1", "zanzibar_quokka.jpg"), 64, 48, color.RGBA{200, 30, 30, 255})
	writeJPEG(t, filepath.Join(root, "holiday", "xylophone-marmot.png"), 40, 30, color.RGBA{20, 30, 200, 255})
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(root, "broken.jpg"), []byte("\xff\xd8\xff\xe0 truncated"), 0o644)

	data := filepath.Join(t.TempDir(), "data")
	base, _, logs, _ := startServe(t, data, "--shards", "2")
	r := runPicdex(t, nil, "crawl", "--dir", root, "--phash", "--to", base).want(t, 0)
	for _, want := range []string{"2 images", "not an image", "corrupt"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	// The server indexes asynchronously; wait for both files, found by
	// the words of their names.
	for _, q := range []string{"quokka", "xylophone marmot"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(base + "v1/search?q=" + url.QueryEscape(q))
			if err != nil {
				t.Fatal(err)
			}
			var res index.Result
			json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if res.Total == 1 {
				var rec record.Record
				if err := json.Unmarshal(res.Hits[0].Image, &rec); err != nil || rec.Source != "file" || !strings.HasPrefix(rec.URL, "file:///") || rec.PHash == "" {
					t.Errorf("%s: %s (%v)", q, res.Hits[0].Image, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q: crawled file not searchable: total %d\n%s", q, res.Total, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestCrawlFeed(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "feed.csv")
	os.WriteFile(csv, []byte("image_url,text,keywords,w\n"+
		"https://example.com/a.jpg,A red fox,fox;snow,640\n"+
		"https://example.com/b.jpg,A grey heron,bird|water,bad\n"+
		"https://example.com/c.jpg,A barn owl,bird,320\n"), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	r := runPicdex(t, nil, "crawl", "--feed", csv, "--columns", "url=image_url,caption=text,tags=keywords,width=w", "--out", out).want(t, 0)
	recs := readRecords(t, out)
	if len(recs) != 2 || recs[0].Caption != "A red fox" || recs[0].Width != 640 || len(recs[0].Tags) != 2 || recs[0].Source != "feed" {
		t.Fatalf("records: %+v\n%s", recs, r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped") {
		t.Errorf("the bad row is not reported: %s", r.stderr)
	}

	// JSONL from standard input to standard output.
	in := `{"url":"https://example.com/x.jpg","title":"x"}` + "\n" + `{"url":` + "\n"
	r = runPicdex(t, strings.NewReader(in), "crawl", "--feed", "-", "--format", "jsonl").want(t, 0)
	if strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, `"title":"x"`) {
		t.Errorf("stdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}
