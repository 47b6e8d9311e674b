package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
)

// genFile writes `picdex gen --n n --seed seed` to a file in dir.
func genFile(t *testing.T, dir string, n, seed int) string {
	t.Helper()
	r := runPicdex(t, nil, "gen", "--n", fmt.Sprint(n), "--seed", fmt.Sprint(seed)).want(t, 0)
	path := filepath.Join(dir, fmt.Sprintf("gen-%d-%d.jsonl", n, seed))
	require.NoError(t, os.WriteFile(path, []byte(r.stdout), 0o644))
	return path
}

func liveOf(t *testing.T, data string) generation.Generation {
	t.Helper()
	m, err := generation.Load(data)
	require.NoError(t, err)
	g, ok := m.LiveGeneration()
	require.True(t, ok, "a live generation")
	return g
}

func searchTotal(t *testing.T, data, q string) uint64 {
	t.Helper()
	r := runPicdex(t, nil, "search", "--data", data, "--json", "--size", "0", q).want(t, 0)
	var res index.Result
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	return res.Total
}

// TestReindexCommand: picdex reindex reshards an index from 4 to 16
// shards with the same answers, rollback goes back and forth, a busy
// data directory and too many bad lines are refused with the live
// generation unchanged, and a reindex killed mid-build leaves the live
// generation as it was and is started over cleanly by the next.
func TestReindexCommand(t *testing.T) {
	dir := t.TempDir()
	src := genFile(t, dir, 20000, 5)
	data := filepath.Join(dir, "data")
	runPicdex(t, nil, "index", "--data", data, "--shards", "4", src).want(t, 0)
	before := searchTotal(t, data, "beach")
	require.Positive(t, before)

	r := runPicdex(t, nil, "reindex", "--from", src, "--data", data, "--shards", "16").want(t, 0)
	assert.Contains(t, r.stdout, "generation 2 is live: 20000 documents in 16 shards")
	assert.Contains(t, r.stderr, "building generation 2 (16 shards)")
	assert.Equal(t, 16, liveOf(t, data).Shards)
	assert.Equal(t, before, searchTotal(t, data, "beach"), "the same answers from 16 shards")

	r = runPicdex(t, nil, "rollback", "--data", data).want(t, 0)
	assert.Contains(t, r.stdout, "generation 1 is live again (4 shards)")
	assert.Equal(t, 1, liveOf(t, data).ID)
	runPicdex(t, nil, "rollback", "--data", data).want(t, 0)
	assert.Equal(t, 2, liveOf(t, data).ID, "a second rollback goes forward again")

	// Too many bad lines: the build fails, the live generation stays.
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"url\":\"https://example.com/a.jpg\"}\nnot json\n[]\n"), 0o644))
	r = runPicdex(t, nil, "reindex", "--from", bad, "--data", data, "--max-bad", "1").want(t, 1)
	assert.Contains(t, r.stderr, "bad.jsonl at byte 36")
	assert.Contains(t, r.stderr, "generation 2 stays live")
	assert.Equal(t, 2, liveOf(t, data).ID)
	runPicdex(t, nil, "reindex", "--from", "kafka://127.0.0.1:9092", "--data", data).want(t, 2)
	runPicdex(t, nil, "reindex", "--from", "kafka://127.0.0.1:9092/picdex.images,"+src, "--data", data).want(t, 2)
	runPicdex(t, nil, "reindex", "--data", data).want(t, 2)

	// A data directory in use is refused.
	_, served, _, serve := startServe(t, data)
	r = runPicdex(t, nil, "reindex", "--from", src, "--data", data).want(t, 1)
	assert.Contains(t, r.stderr, "in use by another picdex process")
	serve.Process.Kill()
	<-served // startServe's reader waits for the process; a second Wait races it

	// kill -9 mid-build: the live generation is unchanged; the next
	// reindex removes the unfinished build and starts over.
	big := genFile(t, dir, 60000, 6)
	cmd := exec.Command(picdexBin, "reindex", "--from", big, "--data", data, "--shards", "8")
	require.NoError(t, cmd.Start())
	building := filepath.Join(data, "generations", "3")
	require.Eventually(t, func() bool {
		m, err := generation.Load(data)
		if err != nil {
			return false
		}
		g, err := m.Get(3)
		return err == nil && g.State == generation.Building && dirHasShards(building)
	}, 30*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	assert.Equal(t, 2, liveOf(t, data).ID, "the live generation never changed")
	assert.Equal(t, before, searchTotal(t, data, "beach"))
	r = runPicdex(t, nil, "reindex", "--from", src, "--data", data, "--shards", "8").want(t, 0)
	assert.Contains(t, r.stdout, "generation 3 is live: 20000 documents in 8 shards")
	assert.Equal(t, before, searchTotal(t, data, "beach"))
	m, err := generation.Load(data)
	require.NoError(t, err)
	g1, err := m.Get(1)
	require.NoError(t, err)
	assert.Equal(t, generation.Retired, g1.State, "only one generation is kept besides the live one")
	_, err = os.Stat(filepath.Join(data, "shard-000"))
	assert.True(t, os.IsNotExist(err), "the retired generation's shards are deleted")
}

func dirHasShards(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 1
}

// TestReindexRunningServe: POST /v1/admin/reindex reshards a running
// serve from 4 to 16 shards while searches and writes go on: no search
// fails, each is answered by one generation (4 shards or 16, never a
// mix), every write made before, during and after the build is there
// afterwards, a second reindex meanwhile gets 409, and rollback goes
// back and forth with the writes in both generations.
func TestReindexRunningServe(t *testing.T) {
	dir := t.TempDir()
	src := genFile(t, dir, 30000, 7)
	data := filepath.Join(dir, "data")
	base, _, logs, _ := startServe(t, data, "--shards", "4", "--reindex-roots", dir)
	_ = logs
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(path, body string) (int, []byte) {
		resp, err := client.Post(base+strings.TrimPrefix(path, "/"), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	var (
		stop     atomic.Bool
		searches atomic.Int64
		failed   atomic.Int64
		mu       sync.Mutex
		seen     = map[int]int{} // shards.total -> searches
		problems []string
		written  []string
	)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load() && i < 100000; i++ {
				resp, err := client.Get(base + "v1/search?size=5&q=" + []string{"beach", "red", "city", "dog"}[i%4])
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				searches.Add(1)
				var res index.Result
				if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil {
					failed.Add(1)
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%d %s", resp.StatusCode, body))
					mu.Unlock()
					continue
				}
				mu.Lock()
				seen[res.Shards.Total]++
				if res.Shards.Successful != res.Shards.Total {
					problems = append(problems, string(body))
				}
				mu.Unlock()
			}
		})
	}
	var building atomic.Bool // the reindex has been accepted
	var before []string      // writes sent before it was
	write := func(i int) {
		url := fmt.Sprintf("https://example.com/written/%d.jpg", i)
		during := building.Load()
		code, body := post("/v1/images", fmt.Sprintf(`{"url":%q,"title":"written %d"}`, url, i))
		require.Equal(t, http.StatusAccepted, code, "%s", body)
		mu.Lock()
		if during {
			written = append(written, url)
		} else {
			before = append(before, url)
		}
		mu.Unlock()
	}
	n := 0
	for ; n < 20; n++ {
		write(n)
	}
	wg.Go(func() {
		for i := 0; !stop.Load() && i < 400; i++ {
			write(1000 + i)
			time.Sleep(5 * time.Millisecond)
		}
	})

	code, body := post("/v1/admin/reindex", fmt.Sprintf(`{"from":%q,"shards":16}`, src))
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	building.Store(true)
	var job generation.JobStatus
	require.NoError(t, json.Unmarshal(body, &job))
	assert.Equal(t, 2, job.Generation)
	code, body = post("/v1/admin/reindex", fmt.Sprintf(`{"from":%q}`, src))
	assert.Equal(t, http.StatusConflict, code, "%s", body)
	code, _ = post("/v1/admin/reindex", `{"from":"/etc/passwd"}`)
	assert.Equal(t, http.StatusBadRequest, code, "a source outside --reindex-roots")

	deadline := time.Now().Add(90 * time.Second)
	for job.State == generation.JobRunning && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		resp, err := client.Get(base + "v1/admin/jobs/" + job.ID)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		require.NoError(t, json.Unmarshal(b, &job))
	}
	require.Equal(t, generation.JobSucceeded, job.State, "%+v", job)
	assert.EqualValues(t, 30000, job.Records)
	time.Sleep(time.Second) // searches on the new generation
	stop.Store(true)
	wg.Wait()
	for ; n < 40; n++ {
		write(n)
	}

	assert.Zero(t, failed.Load(), "failed searches: %v", problems)
	assert.Empty(t, problems)
	mu.Lock()
	assert.Positive(t, seen[4], "searches before the switch")
	assert.Positive(t, seen[16], "searches after it")
	assert.Len(t, seen, 2, "each search on one generation: %v", seen)
	mu.Unlock()
	t.Logf("%d searches, by shards: %v; %d writes; %d during the build", searches.Load(), seen, len(written), job.Writes)

	present := func(urls []string) {
		t.Helper()
		for _, u := range urls {
			require.Eventually(t, func() bool {
				resp, err := client.Get(base + "v1/search?size=1&q=" + urlQuery(u))
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				var res index.Result
				return json.NewDecoder(resp.Body).Decode(&res) == nil && res.Total >= 1
			}, 20*time.Second, 20*time.Millisecond, "write %s", u)
		}
	}
	mu.Lock()
	// Writes sent before the build was accepted are in the new
	// generation only if they were not applied yet when it started (the
	// source holds what was): they are looked for after the rollback.
	during := append([]string(nil), written...)
	all := append(append([]string(nil), before...), during...)
	mu.Unlock()
	present(during)
	var res index.Result
	resp, err := client.Get(base + "v1/search?size=0")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	assert.GreaterOrEqual(t, res.Total, uint64(30000+len(during)), "the source and every write during and after the build")
	assert.LessOrEqual(t, res.Total, uint64(30000+len(all)))
	assert.Equal(t, 16, res.Shards.Total)

	code, body = post("/v1/admin/rollback", ``)
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), `"live":1`)
	present(before)
	present(all[len(all)-5:])
	resp, err = client.Get(base + "v1/search?size=0")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	assert.Equal(t, 4, res.Shards.Total)
	assert.EqualValues(t, 400+len(all), res.Total, "the demo corpus and every write: the old generation followed them")
	code, body = post("/v1/admin/rollback", ``)
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), `"live":2`)
}

func urlQuery(u string) string {
	// The title "written N" of the record at u.
	i := strings.LastIndex(u, "/")
	return "title:written+AND+title:" + strings.TrimSuffix(u[i+1:], ".jpg")
}

var _ = bytes.NewReader

// TestReindexServeKilledMidBuild: serve killed (kill -9) while its
// reindex builds comes back on the generation that was live, with the
// writes it accepted, removes the unfinished build, and reindexes anew.
func TestReindexServeKilledMidBuild(t *testing.T) {
	dir := t.TempDir()
	src := genFile(t, dir, 60000, 8)
	data := filepath.Join(dir, "data")
	base, served, _, cmd := startServe(t, data, "--reindex-roots", dir)
	post := func(base, path, body string) (int, string) {
		resp, err := http.Post(base+strings.TrimPrefix(path, "/"), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(base, "/v1/admin/reindex", fmt.Sprintf(`{"from":%q,"shards":8}`, src))
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = post(base, "/v1/images", `{"url":"https://example.com/kept.jpg","title":"accepted during the build"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, cmd.Process.Kill())
	<-served
	m, err := generation.Load(data)
	require.NoError(t, err)
	g2, err := m.Get(2)
	require.NoError(t, err, "the build was under way")
	require.Equal(t, generation.Building, g2.State)

	base, _, _, _ = startServe(t, data, "--reindex-roots", dir)
	assert.Equal(t, 1, liveOf(t, data).ID, "the live generation never changed")
	_, err = os.Stat(filepath.Join(data, "generations", "2"))
	assert.True(t, os.IsNotExist(err), "the unfinished build is removed")
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "v1/search?size=0&q=title:accepted")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var res index.Result
		return json.NewDecoder(resp.Body).Decode(&res) == nil && res.Total == 1 && res.Shards.Total == 4
	}, 20*time.Second, 50*time.Millisecond, "the write accepted before the kill")
	// This time from the command line, which follows the job.
	r := runPicdex(t, nil, "reindex", "--server", base, "--from", src, "--shards", "8").want(t, 0)
	assert.Contains(t, r.stdout, "generation 2 is live on "+base)
	assert.Contains(t, r.stderr, "building generation 2 (8 shards)")
	runPicdex(t, nil, "reindex", "--server", base, "--from", src, "--keep", "2").want(t, 2)
	r = runPicdex(t, nil, "reindex", "--server", base, "--from", "/etc/passwd").want(t, 1)
	assert.Contains(t, r.stderr, "outside the directories reindex sources may come from")
	resp, err := http.Get(base + "v1/search?size=0")
	require.NoError(t, err)
	var res index.Result
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	assert.EqualValues(t, 60000, res.Total, "the source alone: the write before this build is not in it")
	assert.Equal(t, 8, res.Shards.Total)
	r = runPicdex(t, nil, "rollback", "--server", base).want(t, 0)
	assert.Contains(t, r.stdout, "generation 1 is live again on "+base+" (4 shards)")
}

// TestReindexDataFromKafka: a reindex of a data directory from
// kafka://BROKERS/TOPIC reads every partition from its first offset (the
// last version of an id, a delete removes it, a bad message is skipped),
// and "picdex indexer --data" then goes on from where it stopped reading.
func TestReindexDataFromKafka(t *testing.T) {
	broker := startKafka(t)
	p, err := queue.NewProducer(context.Background(), queue.KafkaOptions{Brokers: []string{broker}, Partitions: 3})
	require.NoError(t, err)
	defer p.Close()
	var recs []record.Record
	for i := range 60 {
		recs = append(recs, record.Record{ID: fmt.Sprintf("k%d", i), URL: fmt.Sprintf("https://example.com/k%d.jpg", i), Title: "kudu"})
	}
	for i := range 10 { // new versions of k0..k9
		recs = append(recs, record.Record{ID: fmt.Sprintf("k%d", i), URL: fmt.Sprintf("https://example.com/k%d.jpg", i), Title: "serval"})
	}
	recs = append(recs, record.Record{ID: "k59", Op: record.OpDelete})
	require.NoError(t, p.Publish(context.Background(), recs))

	data := filepath.Join(t.TempDir(), "data")
	runPicdex(t, nil, "index", "--data", data, "--shards", "2", genFile(t, t.TempDir(), 100, 3)).want(t, 0)
	r := runPicdex(t, nil, "reindex", "--from", "kafka://"+broker+"/picdex.images", "--data", data, "--shards", "3")
	r.want(t, 0)
	assert.Contains(t, r.stdout, "generation 2 is live: 59 documents in 3 shards")
	total := func(q string) uint64 {
		r := runPicdex(t, nil, "search", "--data", data, "--size", "0", "--json", q)
		r.want(t, 0)
		var res index.Result
		require.NoError(t, json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &res), r.stdout)
		return res.Total
	}
	assert.EqualValues(t, 49, total("kudu"))
	assert.EqualValues(t, 10, total("serval"))

	// The consumer goes on after the build: one more record is applied,
	// none of those read by the build again.
	require.NoError(t, p.Publish(context.Background(), []record.Record{{ID: "k100", URL: "https://example.com/k100.jpg", Title: "kudu"}}))
	addr := freeAddr(t)
	ix := startProc(t, "indexer", addr, "indexer", "--brokers", broker, "--data", data, "--batch-wait", "20ms", "--addr", addr)
	waitFor(t, "the consumer to apply the new record", func() bool {
		resp, err := http.Get(ix.url("/metrics")) // its listener may not be up yet
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "picdex_indexer_records_indexed_total 1\n")
	})
	ix.stop(10 * time.Second)
	assert.EqualValues(t, 50, total("kudu"))
}

// TestReindexFromLive: --from live:// rebuilds the live generation from
// the records it stores (here resharding 4 to 2), with the same
// answers; it goes alone and only with --data.
func TestReindexFromLive(t *testing.T) {
	dir := t.TempDir()
	src := genFile(t, dir, 3000, 9)
	data := filepath.Join(dir, "data")
	runPicdex(t, nil, "index", "--data", data, "--shards", "4", src).want(t, 0)
	before := searchTotal(t, data, "beach")
	require.Positive(t, before)
	r := runPicdex(t, nil, "reindex", "--from", "live://", "--data", data, "--shards", "2").want(t, 0)
	assert.Contains(t, r.stderr, "read 3000 records stored in the live generation")
	assert.Contains(t, r.stdout, "generation 2 is live: 3000 documents in 2 shards")
	assert.Contains(t, r.stdout, "generation 1 is kept")
	assert.Equal(t, before, searchTotal(t, data, "beach"))
	entries, err := os.ReadDir(data)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "live-records", "the export is removed")
	}
	runPicdex(t, nil, "reindex", "--from", "live://,"+src, "--data", data).want(t, 2)
	runPicdex(t, nil, "reindex", "--from", "live://", "--server", "http://127.0.0.1:1").want(t, 2)
	runPicdex(t, nil, "reindex", "--from", "live://", "--brokers", "127.0.0.1:1").want(t, 2)
	r = runPicdex(t, nil, "reindex", "--from", "live://", "--data", filepath.Join(dir, "empty")).want(t, 1)
	assert.Contains(t, r.stderr, "holds no index")
}
