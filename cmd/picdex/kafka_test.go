package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
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
// through Kafka and its in-process indexer into the index, which holds
// nothing else (no demo corpus).
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
	// No demo corpus in an index fed from Kafka: it holds the topic only.
	if _, b := httpGet(t, base+"v1/search?size=0"); !strings.Contains(string(b), `"total":2,`) {
		t.Errorf("an index fed from Kafka holds more than the topic: %.300s", b)
	}
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
	// Not ready because of Kafka, once the index's caches are warm (a
	// busy machine takes a moment for that).
	var code int
	var body []byte
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body = httpGet(t, base+"readyz")
		if !strings.Contains(string(body), "warming") || time.Now().After(end) {
			break
		}
	}
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

// TestWebCrawlThroughKafkaToSearch is the whole path: a web crawl publishes
// to Kafka, picdex indexer consumes the topic, picdex search finds the
// images by their alt text and caption.
func TestWebCrawlThroughKafkaToSearch(t *testing.T) {
	broker := startKafka(t)
	site := testSite(t, 10, -1, nil)
	runPicdex(t, nil, "crawl", "--url", site.URL+"/p/0", "--allow-private", "--delay", "-1s",
		"--max-depth", "20", "--brokers", broker, "--partitions", "3").want(t, 0)

	data := filepath.Join(t.TempDir(), "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(picdexBin, "indexer", "--brokers", broker, "--data", data, "--batch-wait", "20ms", "--addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	// The indexer holds the index: wait for its metrics to count all 20
	// images (its listener may not be up yet), then stop it and search.
	waitFor(t, "the indexer to index 20 images", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "picdex_indexer_records_indexed_total 20\n")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	r := runPicdex(t, nil, "search", "--data", data, "--json", `"lighthouse 3"`).want(t, 0)
	var res index.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 {
		t.Fatalf("%d hits for \"lighthouse 3\", want 1: %s", res.Total, r.stdout)
	}
	var rec record.Record
	json.Unmarshal(res.Hits[0].Image, &rec)
	if rec.PageURL != site.URL+"/p/3" || rec.Alt != "lighthouse 3 at dawn" {
		t.Errorf("hit: %+v", rec)
	}
	r = runPicdex(t, nil, "search", "--data", data, "--json", "--size", "0", "caption:coast").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Total != 10 {
		t.Errorf("caption:coast: %d hits, want the 10 maps (%v)", res.Total, err)
	}
}

// TestIndexerKillAndRestart kills picdex indexer with SIGKILL at random
// moments while it applies a stream of new versions and deletes, then lets
// it finish: every image must end as its last produced version, deleted
// images deleted, nothing lost and nothing applied out of order.
// PICDEX_KILL_TRIALS sets how many kills (default 3).
func TestIndexerKillAndRestart(t *testing.T) {
	broker := startKafka(t)
	dir := t.TempDir()
	const n = 1000
	url := func(i int) string { return fmt.Sprintf("https://example.com/%d.jpg", i) }
	// last[i] is the round of image i's last version, -1 when deleted.
	last := make([]int, n)
	var feed strings.Builder
	for i := range n {
		fmt.Fprintf(&feed, `{"url":%q,"title":"round0 image %d"}`+"\n", url(i), i)
	}
	feedPath := filepath.Join(dir, "feed.jsonl")
	os.WriteFile(feedPath, []byte(feed.String()), 0o644)
	runPicdex(t, nil, "crawl", "--feed", feedPath, "--brokers", broker, "--partitions", "4").want(t, 0)

	prod, err := queue.NewProducer(t.Context(), queue.KafkaOptions{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	data := filepath.Join(dir, "data")
	indexerRun := func(d time.Duration, sig os.Signal, batch, group string) {
		cmd := exec.Command(picdexBin, "indexer", "--brokers", broker, "--data", data, "--batch", batch,
			"--batch-wait", "20ms", "--partitions", "4", "--group", group)
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

	trials := 3
	if v, err := strconv.Atoi(os.Getenv("PICDEX_KILL_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	for round := 1; round <= trials; round++ {
		// 800 more records: new versions, a tenth of them deletes.
		var recs []record.Record
		for range 800 {
			i := rand.IntN(n)
			if rand.IntN(10) == 0 {
				recs = append(recs, record.Record{ID: recordID(t, url(i)), Op: record.OpDelete})
				last[i] = -1
			} else {
				recs = append(recs, record.Record{URL: url(i), Title: fmt.Sprintf("round%d image %d", round, i)})
				last[i] = round
			}
		}
		if err := prod.Publish(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		// Each killed member would hold its group's partitions until its
		// session expires; a fresh group gets them at once, and the shards'
		// offsets, not the group's, say where to resume.
		d := time.Duration(100+rand.IntN(1500)) * time.Millisecond
		indexerRun(d, syscall.SIGKILL, "25", fmt.Sprintf("kill-%d", round))
		got := count()
		t.Logf("round %d: killed after %s, %d documents, %d of this round's versions", round, d, got, count(fmt.Sprintf("title:round%d", round)))
		if got > n {
			t.Fatalf("%d documents, more than the %d images", got, n)
		}
	}

	want := map[int]int{} // round -> images whose last version it is
	live := 0
	for _, r := range last {
		if r >= 0 {
			want[r]++
			live++
		}
	}
	// Run the default group until done; it first waits out no one, as no
	// member of it was killed.
	for attempt := 0; ; attempt++ {
		indexerRun(8*time.Second, syscall.SIGTERM, "1000", "picdex-indexer")
		ok := count() == live
		for r := 0; r <= trials && ok; r++ {
			ok = count(fmt.Sprintf("title:round%d", r)) == want[r]
		}
		if ok {
			return
		}
		if attempt == 2 {
			for r := 0; r <= trials; r++ {
				t.Logf("round %d: %d images, want %d", r, count(fmt.Sprintf("title:round%d", r)), want[r])
			}
			t.Fatalf("%d documents, want %d", count(), live)
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

// TestServeEmbeddedKill: records answered 202 are in the queue's log on
// disk; a server killed with SIGKILL before applying them applies them
// after its next start, in order (a delete after an upsert still wins).
func TestServeEmbeddedKill(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	base, done, _, cmd := startServe(t, data)
	for round := range 3 {
		var body strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&body, `{"url":"https://example.com/k/%d.jpg","title":"kudu %d round%d"}`+"\n", i, i, round)
		}
		postNDJSON(t, base, body.String())
	}
	var dels strings.Builder
	for i := 0; i < 2000; i += 4 {
		fmt.Fprintf(&dels, `{"url":"https://example.com/k/%d.jpg","op":"delete"}`+"\n", i)
	}
	postNDJSON(t, base, dels.String())
	cmd.Process.Signal(syscall.SIGKILL)
	<-done

	base, done, logs, cmd := startServe(t, data)
	total := func(q string) uint64 {
		_, body := httpGet(t, base+"v1/search?size=1&q="+q)
		var res index.Result
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	waitFor(t, "1,500 kudu, all in their last version, after the restart", func() bool {
		return total("kudu") == 1500 && total("round2") == 1500
	})
	cmd.Process.Signal(syscall.SIGTERM)
	<-done // the logs are complete once serve has exited
	if strings.Contains(logs.String(), "accepted before the last stop") {
		t.Log("the restart applied records the killed server had accepted")
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
