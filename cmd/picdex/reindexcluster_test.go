package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/indexer/cluster"
)

// TestReindexCluster reindexes a running cluster twice while searches and
// writes go on: from kafka:// into 8 shards (a router and the new
// generation's shard server killed with -9 during the build and after
// it, the replicas then compared id by id), then from
// a file into 3 shards with the Kafka runner (the reindex itself killed
// with -9 and run again). Every write made meanwhile is in the new
// generation, no search fails, and rollback goes back and forth.
func TestReindexCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	h := &clusterHarness{t: t, broker: startKafka(t), dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(append(h.routers, h.shards...), h.queries...) {
				t.Logf("--- %s log:\n%s", p.name, tail(p.log(), 3000))
			}
		}
	})
	brokers := "--brokers=" + h.broker
	for i := range 2 {
		addr := freeAddr(t)
		h.routers = append(h.routers, startProc(t, fmt.Sprintf("router-%d", i), addr,
			"indexer", brokers, "--shards", "4", "--partitions", "4", "--batch-wait", "20ms", "--addr", addr))
	}
	shardServer := func(name string, gen int, shards string) *proc {
		addr := freeAddr(t)
		p := startProc(t, name, addr, "shard-server", brokers, "--data", filepath.Join(h.dir, name), "--addr", addr,
			"--generation", fmt.Sprint(gen), "--shards", shards, "--batch-wait", "20ms")
		h.shards = append(h.shards, p)
		return p
	}
	shardServer("g1-a", 1, "0,1,2,3")
	shardServer("g1-b", 1, "0,1,2,3")
	qaddr := freeAddr(t)
	h.queries = append(h.queries, startProc(t, "query-server", qaddr, "query-server", brokers, "--addr", qaddr, "--partitions", "4"))
	h.waitReady(h.queries[0].url("/readyz"), h.queries[0])
	h.lb = h.queries[0].url("/")

	h.post(clusterRecords(0, 300, "ocelot"))
	h.waitTotal("q=ocelot", 300)
	live := func() int {
		st, err := cluster.Load(context.Background(), []string{h.broker})
		require.NoError(t, err)
		return st.Live
	}
	reindex := func(args ...string) *exec.Cmd {
		cmd := exec.Command(picdexBin, append([]string{"reindex", "--wait", "3m"}, args...)...)
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cmd.Process.Kill()
			if t.Failed() {
				t.Logf("--- reindex %v:\n%s", args, tail(logs.String(), 3000))
			}
		})
		return cmd
	}

	// From kafka:// into 8 shards, on one new shard server.
	l := h.startLoad(2, true)
	g2a := shardServer("g2-a", 2, "0,1,2,3,4,5,6,7")
	cmd := reindex("--from", "kafka://"+h.broker+"/picdex.images", "--shards", "8")
	h.post(clusterRecords(300, 100, "ocelot"))
	time.Sleep(300 * time.Millisecond)
	h.routers[0].kill()
	g2a.kill()
	h.post(clusterRecords(0, 50, "kudu")) // new versions of img-0..49
	h.routers[0].start()
	g2a.start()
	g2b := shardServer("g2-b", 2, "0,1,2,3,4,5,6,7")
	h.post(clusterRecords(400, 100, "ocelot"))
	require.NoError(t, cmd.Wait(), "reindex from kafka://")
	require.Equal(t, 2, live())
	h.waitTotal("q=ocelot", 450)
	h.waitTotal("q=kudu", 50)
	h.post(clusterRecords(500, 10, "ocelot")) // written after the switch
	h.waitTotal("q=ocelot", 460)

	// After the build: a router and one replica of each shard of the new
	// generation killed with -9 while writes go on; back, the two
	// replicas of every shard hold exactly the same ids.
	h.routers[1].kill()
	g2a.kill()
	h.post(clusterRecords(600, 40, "ocelot"))
	h.post(`{"id":"img-601","op":"delete"}` + "\n")
	h.routers[1].start()
	g2a.start()
	h.waitTotal("q=ocelot", 499)
	waitFor(t, "both replicas of every shard of generation 2 to hold the same ids", func() bool {
		total := 0
		for shard := range 8 {
			a, okA := replicaIDs(g2a.url(""), 2, shard, "")
			b, okB := replicaIDs(g2b.url(""), 2, shard, "")
			if !okA || !okB || a != b {
				return false
			}
			total += len(strings.Split(a, ","))
		}
		return total == 499+50 // the ocelots and the kudus
	})

	// Rollback: generation 1 kept up to date by its routers.
	runPicdex(t, nil, "rollback", brokers).want(t, 0)
	require.Equal(t, 1, live())
	h.waitTotal("q=ocelot", 499)
	h.waitTotal("q=kudu", 50)
	runPicdex(t, nil, "rollback", brokers).want(t, 0)
	require.Equal(t, 2, live())

	// From a file into 3 shards with the Kafka runner; the reindex is
	// killed while it waits for the shard servers, and run again.
	src := filepath.Join(h.dir, "src.jsonl")
	require.NoError(t, os.WriteFile(src, []byte(clusterRecords(1000, 400, "serval")), 0o644))
	cmd = reindex(brokers, "--from", src, "--shards", "3", "--mappers", "2")
	waitFor(t, "the map phase to finish", func() bool {
		st, err := cluster.Load(context.Background(), []string{h.broker})
		return err == nil && st.Generations[3].Follow
	})
	cmd.Process.Kill()
	cmd.Wait()
	h.post(clusterRecords(1400, 20, "serval")) // during the build
	shardServer("g3", 3, "0,1,2")
	cmd = reindex(brokers, "--from", src, "--shards", "3", "--mappers", "2")
	require.NoError(t, cmd.Wait(), "reindex from a file, resumed")
	require.Equal(t, 3, live())
	h.waitTotal("q=serval", 420)
	h.waitTotal("q=ocelot", 0) // the file holds serval only; the stream since its start adds more
	searches, failed, partial, first := l.end()
	require.Zero(t, failed, "failed searches of %d: %v", searches, first)
	require.Zero(t, partial, "partial searches of %d: %v", searches, first)
	t.Logf("%d searches during two reindexes, none failed", searches)

	// Generation 1 is beyond --keep 1 now: retired, its shard log gone.
	st, err := cluster.Load(context.Background(), []string{h.broker})
	require.NoError(t, err)
	require.Equal(t, cluster.StateRetired, st.Generations[1].State)
	require.Equal(t, cluster.StateReady, st.Generations[2].State)

	// A second reindex while one is alive is refused.
	cmd = reindex(brokers, "--from", src, "--shards", "2")
	waitFor(t, "generation 4 to be building", func() bool {
		st, err := cluster.Load(context.Background(), []string{h.broker})
		return err == nil && st.Generations[4].State == cluster.StateBuilding
	})
	r := runPicdex(t, nil, "reindex", brokers, "--from", "kafka://"+h.broker+"/picdex.images", "--shards", "5")
	r.want(t, 1)
	require.Contains(t, r.stderr, "a reindex is running: generation 4 is being built")
	cmd.Process.Kill()

	// The query server's admin API: the same job, run in the server.
	admin := func(path, body string) (int, string) {
		resp, err := http.Post(h.lb+strings.TrimPrefix(path, "/"), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	kafkaSrc := fmt.Sprintf(`{"from":"kafka://%s/picdex.images","shards":2}`, h.broker)
	code, body := admin("/v1/admin/reindex", kafkaSrc)
	require.Equal(t, http.StatusConflict, code, "generation 4's job has just died: %s", body)
	code, _ = admin("/v1/admin/reindex", `{"from":"kafka://127.0.0.2:9/picdex.images"}`)
	require.Equal(t, http.StatusBadRequest, code, "another Kafka cluster")
	code, _ = admin("/v1/admin/reindex", fmt.Sprintf(`{"from":%q}`, src))
	require.Equal(t, http.StatusBadRequest, code, "files with no --reindex-roots")
	shardServer("g5", 5, "0,1")
	var job generation.JobStatus
	waitFor(t, "the dead build to go stale and a job to start", func() bool {
		code, body = admin("/v1/admin/reindex", kafkaSrc)
		return code == http.StatusAccepted && json.Unmarshal([]byte(body), &job) == nil
	})
	waitFor(t, "the job to end", func() bool {
		code, b := httpGet(t, h.lb+"v1/admin/jobs/"+job.ID)
		return code == 200 && json.Unmarshal(b, &job) == nil && job.State != generation.JobRunning
	})
	require.Equal(t, generation.JobSucceeded, job.State, "%+v", job)
	require.Equal(t, 5, job.Generation)
	require.Equal(t, 5, live())
	// Generation 5 holds what picdex.images holds: the stream's records,
	// not the file's (which never went through it).
	h.waitTotal("q=ocelot", 499)
	h.waitTotal("q=serval", 20)
	code, body = admin("/v1/admin/rollback", ``)
	require.Equal(t, 200, code, body)
	require.Equal(t, 3, live())
	h.waitTotal("q=serval", 420)
	h.waitTotal("q=ocelot", 0)
}
