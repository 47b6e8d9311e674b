package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

func startKafka(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeThroughKafka: POST /v1/images on a server with --brokers goes
// through Kafka and its in-process indexer into the index.
func TestServeThroughKafka(t *testing.T) {
	broker := startKafka(t)
	base, _, logs, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--brokers", broker, "--partitions", "3", "--batch-wait", "50ms")
	waitFor(t, "readyz", func() bool { code, _ := httpGet(t, base+"readyz"); return code == 200 })
	postNDJSON(t, base, `{"url":"https://example.com/kafka-1.jpg","title":"ocelot through kafka"}`+"\n"+
		`{"url":"https://example.com/kafka-2.jpg","title":"second ocelot"}`)
	waitFor(t, "the records to be searchable", func() bool {
		_, b := httpGet(t, base+"v1/search?q=ocelot")
		var res index.Result
		return json.Unmarshal(b, &res) == nil && res.Total == 2
	})
	_ = logs
	code, metrics := httpGet(t, base+"metrics")
	for _, want := range []string{"picdex_indexer_records_indexed_total 2", "picdex_indexer_ready 1",
		"picdex_indexer_freshness_seconds_count 2", "picdex_indexer_batch_seconds_bucket", "picdex_indexer_consumer_lag{partition="} {
		if code != 200 || !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q:\n%.2000s", want, metrics)
		}
	}
}

// TestServeBrokerDown: with no broker the server stays up, reports not
// ready, answers searches and refuses ingestion with a 503.
func TestServeBrokerDown(t *testing.T) {
	base, done, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--brokers", "127.0.0.1:1")
	code, body := httpGet(t, base+"readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "Kafka") {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, _ := httpGet(t, base+"v1/search?q=tree"); code != 200 {
		t.Errorf("search while the broker is down: %d", code)
	}
	resp, err := http.Post(base+"v1/images", "application/json", strings.NewReader(`{"url":"https://example.com/x.jpg"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("ingest while the broker is down: %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	default:
	}
}

// TestIndexerKillAndRestart publishes a feed with crawl --brokers, then runs
// picdex indexer, killing it with SIGKILL at different moments and
// starting it again, until the index holds exactly the feed's records.
func TestIndexerKillAndRestart(t *testing.T) {
	broker := startKafka(t)
	dir := t.TempDir()
	var feed strings.Builder
	const n = 1000
	for i := range n {
		fmt.Fprintf(&feed, `{"url":"https://example.com/%d.jpg","title":"first %d"}`+"\n", i, i)
	}
	for i := range n {
		fmt.Fprintf(&feed, `{"url":"https://example.com/%d.jpg","title":"final %d"}`+"\n", i, i)
	}
	feedPath := filepath.Join(dir, "feed.jsonl")
	os.WriteFile(feedPath, []byte(feed.String()), 0o644)
	runPicdex(t, nil, "crawl", "--feed", feedPath, "--brokers", broker, "--partitions", "4").want(t, 0)

	data := filepath.Join(dir, "data")
	indexerRun := func(d time.Duration, sig os.Signal, batch string) {
		cmd := exec.Command(picdexBin, "indexer", "--brokers", broker, "--data", data, "--batch", batch, "--batch-wait", "20ms", "--partitions", "4")
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		cmd.Process.Signal(sig)
		cmd.Wait()
		if testing.Verbose() {
			t.Logf("indexer run of %s:\n%s", d, logs.String())
		}
	}
	count := func(q ...string) int {
		args := append([]string{"search", "--data", data, "--json", "--size", "0"}, q...)
		r := runPicdex(t, nil, args...).want(t, 0)
		var res index.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		return int(res.Total)
	}
	// kill -9 at random moments: before the group is joined, mid-stream.
	for _, base := range []int{50, 500, 1200} {
		d := time.Duration(base+rand.IntN(400)) * time.Millisecond
		t.Logf("kill -9 after %s", d)
		indexerRun(d, syscall.SIGKILL, "25")
		if got := count(); got > n {
			t.Fatalf("%d documents, more than the %d images", got, n)
		}
	}
	// Then run until done; the group first waits out the killed members'
	// sessions (6 s).
	for round := 0; ; round++ {
		indexerRun(12*time.Second, syscall.SIGTERM, "1000")
		final, total := count("title:final"), count()
		if final == n && total == n {
			return
		}
		if round == 2 {
			t.Fatalf("%d final versions of %d documents, want %d", final, total, n)
		}
	}
}

// TestServeEmbeddedQueue: without --brokers, ingestion goes through the
// in-process queue; a delete queued after an upsert wins; records queued
// when SIGTERM arrives are indexed before the server stops.
func TestServeEmbeddedQueue(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	base, done, logs, cmd := startServe(t, data)
	postNDJSON(t, base, `{"url":"https://example.com/wombat.jpg","title":"wombat at dusk"}`)
	req, _ := http.NewRequest(http.MethodDelete, base+"v1/images/"+recordID(t, "https://example.com/wombat.jpg"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var big strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&big, `{"url":"https://example.com/q/%d.jpg","title":"quagga %d"}`+"\n", i, i)
	}
	postNDJSON(t, base, big.String())
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	count := func(q string) uint64 {
		r := runPicdex(t, nil, "search", "--data", data, "--json", "--size", "0", q).want(t, 0)
		var res index.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	if n := count("quagga"); n != 3000 {
		t.Errorf("%d of 3,000 queued records indexed by the graceful stop", n)
	}
	if n := count("wombat"); n != 0 {
		t.Errorf("the delete queued after the upsert did not win: %d", n)
	}
}

func postNDJSON(t *testing.T, base, body string) {
	t.Helper()
	resp, err := http.Post(base+"v1/images", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: %d", resp.StatusCode)
	}
}

func recordID(t *testing.T, u string) string {
	t.Helper()
	r := record.Record{URL: u}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	return r.ID
}
