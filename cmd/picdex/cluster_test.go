package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// proc is a picdex process of a cluster test, restartable on the same
// address.
type proc struct {
	t *testing.T
	*child
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func startProc(t *testing.T, name, addr string, args ...string) *proc {
	p := &proc{t: t, child: newChild(picdexBin, name, addr, args...)}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) start() {
	if err := p.child.start(); err != nil {
		p.t.Fatal(err)
	}
}

// clusterHarness is a whole cluster on loopback: a broker, routers, shard
// servers, query servers and, when Debian's haproxy is installed, a load
// balancer in front of the query servers.
type clusterHarness struct {
	t       *testing.T
	broker  string
	dir     string
	keyFile string
	routers []*proc
	shards  []*proc // shard servers
	queries []*proc // query servers
	lb      string  // base URL searches and writes go to
	haproxy *exec.Cmd
}

// clusterLayout places 4 shards × 2 replicas on 3 shard servers so that any
// one server can die, and shard 3 lives only on servers 1 and 2.
var clusterLayout = []string{"0,1,2", "2,3,0", "1,3"}

func newCluster(t *testing.T) *clusterHarness {
	t.Helper()
	h := &clusterHarness{t: t, broker: startKafka(t), dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range slices.Concat(h.routers, h.shards, h.queries) {
				t.Logf("--- %s log:\n%s", p.name, tail(p.log(), 3000))
			}
		}
	})
	// The internal API needs a key: shard servers hold its digest, query
	// servers send it.
	const key = "internal-key-0123456789abcdef"
	h.keyFile = filepath.Join(h.dir, "client.key")
	os.WriteFile(h.keyFile, []byte(key+"\n"), 0o600)
	serverKeys := filepath.Join(h.dir, "shard.keys")
	os.WriteFile(serverKeys, []byte("search "+key+"\n"), 0o600)

	for i := range 2 {
		addr := freeAddr(t)
		h.routers = append(h.routers, startProc(t, fmt.Sprintf("router-%d", i), addr,
			"indexer", "--brokers", h.broker, "--shards", "4", "--partitions", "4", "--batch-wait", "20ms", "--addr", addr))
	}
	var servers []string
	for i, shards := range clusterLayout {
		addr := freeAddr(t)
		servers = append(servers, addr)
		h.shards = append(h.shards, startProc(t, fmt.Sprintf("shard-server-%d", i), addr,
			"shard-server", "--brokers", h.broker, "--data", filepath.Join(h.dir, fmt.Sprintf("ss%d", i)), "--addr", addr,
			"--shards", shards, "--batch-wait", "20ms", "--api-keys", serverKeys))
	}
	for i := range 2 {
		// The first is told its shard servers; the second finds them
		// announced in picdex.cluster.
		addr := freeAddr(t)
		args := []string{"query-server", "--brokers", h.broker, "--addr", addr, "--partitions", "4", "--api-key-file", h.keyFile}
		if i == 0 {
			args = append(args, "--shard-servers", strings.Join(servers, ","))
		}
		h.queries = append(h.queries, startProc(t, fmt.Sprintf("query-server-%d", i), addr, args...))
	}
	for _, q := range h.queries {
		h.waitReady(q.url("/readyz"), q)
	}
	h.lb = h.queries[0].url("/")
	if path, err := exec.LookPath("haproxy"); err == nil {
		h.startHAProxy(path)
	} else {
		t.Log("haproxy is not installed (.ci/run installs it): the load-balancer part is skipped")
	}
	return h
}

func (h *clusterHarness) waitReady(u string, p *proc) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := getJSON(u, nil)
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s not ready (%s): %d\n%s", p.name, u, code, tail(p.log(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startHAProxy balances the query servers, checking /readyz, and retries
// a request that a dying server did not answer on the other one.
func (h *clusterHarness) startHAProxy(path string) {
	front := freeAddr(h.t)
	var servers strings.Builder
	for i, q := range h.queries {
		fmt.Fprintf(&servers, "    server q%d %s check inter 200ms fall 2 rise 1\n", i, q.addr)
	}
	cfg := fmt.Sprintf(`global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout 0rtt-rejected
frontend picdex
    bind %s
    default_backend query_servers
backend query_servers
    balance leastconn
    option httpchk GET /readyz
    http-request wait-for-body time 1s
%s`, front, servers.String())
	cfgPath := filepath.Join(h.dir, "haproxy.cfg")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	cmd := exec.Command(path, "-f", cfgPath, "-db")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.haproxy = cmd
	h.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	h.lb = "http://" + front + "/"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := getJSON(h.lb+"readyz", nil); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("haproxy does not answer: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// search runs q through the load balancer.
func (h *clusterHarness) search(q string) (int, *index.Result, error) {
	var res index.Result
	code, err := getJSON(h.lb+"v1/search?"+q, &res)
	return code, &res, err
}

func (h *clusterHarness) post(recs string) {
	h.t.Helper()
	postNDJSON(h.t, h.lb, recs)
}

// load sends mixed searches through the load balancer until stop, and
// counts the answers that were not a full 200.
type load struct {
	searches, failed, partial atomic.Int64
	firstErr                  atomic.Value
	stop                      chan struct{}
	wg                        sync.WaitGroup
}

func (h *clusterHarness) startLoad(workers int, wantFull bool) *load {
	l := &load{stop: make(chan struct{})}
	queries := []string{"q=ocelot", "q=harbour+lights", "q=tag:red&size=5", "q=ocelot&facet=tags", "q=number*&sort=-taken_at"}
	for w := range workers {
		l.wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				code, res, err := h.search(queries[i%len(queries)])
				l.searches.Add(1)
				switch {
				case err != nil || code != 200:
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
				case res.Shards.Failed > 0:
					l.partial.Add(1)
					if wantFull {
						l.firstErr.CompareAndSwap(nil, fmt.Sprintf("partial: %+v", res.Shards))
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *load) end() (searches, failed, partial int64, first any) {
	close(l.stop)
	l.wg.Wait()
	return l.searches.Load(), l.failed.Load(), l.partial.Load(), l.firstErr.Load()
}

// records returns n records numbered from start, each "ocelot number N".
func clusterRecords(start, n int, word string) string {
	var b strings.Builder
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&b, `{"id":"img-%d","url":"https://example.com/%d.jpg","title":"%s number %d","tags":["red","t%d"],"taken_at":"2020-01-%02dT10:00:00Z"}`+"\n",
			i, i, word, i, i%7, 1+i%28)
	}
	return b.String()
}

func (h *clusterHarness) waitTotal(q string, want int) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%q to find %d", q, want), func() bool {
		code, res, err := h.search(q + "&size=0")
		return err == nil && code == 200 && res.Total == uint64(want) && res.Shards.Failed == 0
	})
}

// TestCluster runs the distributed roles as separate processes and
// breaks them: one shard server, both replicas of a shard, a router
// mid-stream, a query server.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes")
	}
	h := newCluster(t)
	const n = 400
	h.post(clusterRecords(0, n, "ocelot"))
	h.waitTotal("q=ocelot", n)

	// The same hits, order and scores as one process over the same records,
	// once the query servers' next polls have seen every replica's final
	// offset (term statistics are kept per offset).
	time.Sleep(1500 * time.Millisecond)
	h.compareWithServe(clusterRecords(0, n, "ocelot"),
		"q=ocelot&size=20", "q=number+17&size=5", "q=ocelot&facet=tags&sort=-taken_at&size=7", "q=t3&size=10&from=5")

	t.Run("one shard server killed", func(t *testing.T) {
		l := h.startLoad(4, true)
		time.Sleep(500 * time.Millisecond)
		h.shards[0].kill()
		time.Sleep(2 * time.Second)
		searches, failed, partial, first := l.end()
		if failed > 0 || partial > 0 {
			t.Errorf("with shard server 0 killed: %d of %d searches failed, %d partial (first: %v)", failed, searches, partial, first)
		}
		t.Logf("%d searches, none failed", searches)
	})

	t.Run("both replicas of a shard killed", func(t *testing.T) {
		h.shards[0].start()
		h.waitReady(h.shards[0].url("/readyz"), h.shards[0])
		time.Sleep(time.Second) // the query servers see it again
		h.shards[1].kill()
		h.shards[2].kill()
		waitFor(t, "a partial answer naming shard 3", func() bool {
			code, res, err := h.search("q=ocelot&size=0")
			if err != nil || code != 200 || res.Shards.Failed != 1 {
				return false
			}
			return len(res.Shards.Failures) == 1 && strings.Contains(res.Shards.Failures[0].Shard, "shard-3")
		})
		code, _, _ := h.search("q=ocelot&allow_partial=false")
		if code != http.StatusServiceUnavailable {
			t.Errorf("allow_partial=false with a shard down: %d, want 503", code)
		}
		// Back: full results again, every replica identical.
		h.shards[1].start()
		h.shards[2].start()
		h.waitTotal("q=ocelot", n)
	})

	t.Run("router killed mid-stream", func(t *testing.T) {
		prod, err := queue.NewProducer(t.Context(), queue.KafkaOptions{Brokers: []string{h.broker}, Partitions: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		// Rounds of new versions and deletes; a router dies in the middle.
		last := map[string]string{}
		for round := range 6 {
			var recs []record.Record
			for i := range n {
				id := fmt.Sprintf("img-%d", i)
				if (i+round)%5 == 0 {
					recs = append(recs, record.Record{ID: id, Op: record.OpDelete})
					last[id] = ""
					continue
				}
				title := fmt.Sprintf("ocelot number %d round %d", i, round)
				recs = append(recs, record.Record{ID: id, URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: title})
				last[id] = title
			}
			if err := prod.Publish(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			if round == 2 {
				h.routers[0].kill()
			}
			if round == 4 {
				h.routers[0].start()
			}
		}
		live := 0
		for _, title := range last {
			if title != "" {
				live++
			}
		}
		// The final state, once the restarted router and the group's
		// rebalance have caught up: every image at its last version.
		wrong := func() []string {
			var out []string
			for id, title := range last {
				var rec record.Record
				code, err := getJSON(h.lb+"v1/images/"+id, &rec)
				switch {
				case title == "" && code != http.StatusNotFound:
					out = append(out, fmt.Sprintf("%s: deleted last, GET answers %d", id, code))
				case title != "" && (code != 200 || rec.Title != title):
					out = append(out, fmt.Sprintf("%s: %d %q, want its last version %q (%v)", id, code, rec.Title, title, err))
				}
			}
			return out
		}
		deadline := time.Now().Add(60 * time.Second)
		for bad := wrong(); len(bad) > 0; bad = wrong() {
			if time.Now().After(deadline) {
				t.Fatalf("%d images not at their last version, e.g. %s", len(bad), bad[0])
			}
			time.Sleep(200 * time.Millisecond)
		}
		h.waitTotal(`q="round+5"`, live)
		h.waitTotal("q=ocelot", live)
		h.compareReplicas()

		// DELETE through a query server travels the same way.
		for id, title := range last {
			if title == "" {
				continue
			}
			req, _ := http.NewRequest(http.MethodDelete, h.lb+"v1/images/"+id, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d", id, resp.StatusCode)
			}
			waitFor(t, id+" to be gone", func() bool { code, _ := getJSON(h.lb+"v1/images/"+id, nil); return code == http.StatusNotFound })
			break
		}
	})

	t.Run("query server killed", func(t *testing.T) {
		if h.haproxy == nil {
			t.Skip("no haproxy")
		}
		l := h.startLoad(4, false)
		time.Sleep(500 * time.Millisecond)
		h.queries[0].kill()
		time.Sleep(2 * time.Second)
		searches, failed, _, first := l.end()
		if failed > 0 {
			t.Errorf("with query server 0 killed: %d of %d searches failed (first: %v)", failed, searches, first)
		}
		t.Logf("%d searches through haproxy, none failed", searches)
	})

	t.Run("slow replica hedged", func(t *testing.T) {
		// A query server that reaches shard server 0 through a proxy
		// holding back a fifth of its shard calls by 150 ms: hedged calls
		// answer from the other replica, and no search fails.
		slow, err := startDelayProxy(h.shards[0].addr, 150*time.Millisecond, 5)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.close()
		addr := freeAddr(t)
		q := startProc(t, "query-server-slow", addr, "query-server", "--brokers", h.broker,
			"--shard-servers", strings.Join([]string{slow.addr(), h.shards[1].addr, h.shards[2].addr}, ","), "--addr", addr,
			"--partitions", "4", "--api-key-file", h.keyFile, "--cache-entries", "0")
		h.waitReady(q.url("/readyz"), q)
		// Rounds of 400 searches until a hedge has won (whether one does
		// in a round depends on timing, slower under the race detector),
		// at most 5 rounds; no search may fail in any.
		failed, searches := 0, 0
		var won, batched float64
		var metrics string
		for round := 0; round < 5 && won == 0; round++ {
			for range 400 {
				var res index.Result
				if code, err := getJSON(q.url(fmt.Sprintf("/v1/search?q=ocelot+%d&size=3", searches)), &res); code != 200 || res.Shards.Failed > 0 {
					failed++
					t.Logf("search %d: %d %v %+v", searches, code, err, res.Shards)
				}
				searches++
			}
			_, body := httpGet(t, q.url("/metrics"))
			metrics = string(body)
			won, batched = metricSum(metrics, "picdex_query_hedges_won_total"), metricSum(metrics, "picdex_query_batched_calls_total")
		}
		if failed > 0 {
			t.Errorf("%d of %d searches failed with one replica slow", failed, searches)
		}
		if won == 0 {
			t.Errorf("no hedge answered first in %d searches with one replica slow:\n%s", searches, grepLines(metrics, "picdex_query_hedges"))
		}
		if batched == 0 {
			t.Errorf("no shard calls travelled together to a shard server hosting several shards:\n%s", grepLines(metrics, "picdex_query_batch"))
		}
		t.Logf("%d searches: %v hedged calls answered first; %v shard calls travelled in batches", searches, won, batched)
		if _, body := httpGet(t, h.shards[0].url("/metrics")); !strings.Contains(string(body), "picdex_shard_search_waited_total ") {
			t.Errorf("a shard server's /metrics lacks picdex_shard_search_waited_total:\n%s", grepLines(string(body), "picdex_shard"))
		}
	})
}

func grepLines(s, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// compareWithServe loads recs into a one-process index and checks that
// every query gives the cluster's hits, order and scores.
func (h *clusterHarness) compareWithServe(recs string, queries ...string) {
	h.t.Helper()
	data := filepath.Join(h.dir, "one")
	feed := filepath.Join(h.dir, "one.jsonl")
	os.WriteFile(feed, []byte(recs), 0o644)
	runPicdex(h.t, nil, "index", "--data", data, "--shards", "3", feed).want(h.t, 0)
	base, _, _, _ := startServe(h.t, data)
	for _, q := range queries {
		var one, dist index.Result
		if code, err := getJSON(base+"v1/search?"+q, &one); code != 200 {
			h.t.Fatalf("serve %s: %d %v", q, code, err)
		}
		if code, err := getJSON(h.lb+"v1/search?"+q, &dist); code != 200 {
			h.t.Fatalf("cluster %s: %d %v", q, code, err)
		}
		if one.Total != dist.Total || len(one.Hits) != len(dist.Hits) {
			h.t.Errorf("%s: serve %d hits (%d shown), cluster %d (%d shown)", q, one.Total, len(one.Hits), dist.Total, len(dist.Hits))
			continue
		}
		for i := range one.Hits {
			if one.Hits[i].ID != dist.Hits[i].ID || one.Hits[i].Score != dist.Hits[i].Score {
				h.t.Errorf("%s: hit %d: serve %s %v, cluster %s %v", q, i, one.Hits[i].ID, one.Hits[i].Score, dist.Hits[i].ID, dist.Hits[i].Score)
			}
		}
		if a, b := fmt.Sprint(one.Facets), fmt.Sprint(dist.Facets); a != b {
			h.t.Errorf("%s: facets differ: serve %s, cluster %s", q, a, b)
		}
	}
}

// compareReplicas checks, through each shard server's internal API, that
// the replicas of every shard hold the same documents.
func (h *clusterHarness) compareReplicas() {
	h.t.Helper()
	key, _ := os.ReadFile(h.keyFile)
	type replicaDocs struct {
		server string
		ids    string
	}
	byShard := map[string][]replicaDocs{}
	waitFor(h.t, "every replica to catch up", func() bool {
		byShard = map[string][]replicaDocs{}
		for i, s := range h.shards {
			for shard := range strings.SplitSeq(clusterLayout[i], ",") {
				n, _ := strconv.Atoi(strings.TrimSpace(shard))
				ids, ok := replicaIDs(s.url(""), 1, n, strings.TrimSpace(string(key)))
				if !ok {
					return false
				}
				byShard[shard] = append(byShard[shard], replicaDocs{s.name, ids})
			}
		}
		for _, reps := range byShard {
			if reps[0].ids != reps[1].ids {
				return false
			}
		}
		return true
	})
}

// replicaIDs lists, sorted, the ids a replica holds, asking it through
// the internal shard API for everything.
func replicaIDs(base string, gen, shard int, key string) (string, bool) {
	c, err := remote.NewShard(base, gen, shard, remote.ClientOptions{APIKey: key})
	if err != nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.SearchShard(ctx, &index.ShardRequest{Request: &index.Request{Size: new(index.MaxSize), Sort: []string{"_id"}}})
	if err != nil {
		return "", false
	}
	ids := make([]string, len(res.Hits))
	for i, hit := range res.Hits {
		ids[i] = hit.ID
	}
	slices.Sort(ids)
	return strings.Join(ids, ","), true
}

// TestShardServerRefusesOtherMapping: a generation built with another
// mapping version is not served by this binary, which would analyse its
// shard log differently from the generation's other replicas.
func TestShardServerRefusesOtherMapping(t *testing.T) {
	broker := startKafka(t)
	ctx := context.Background()
	g := cluster.Generation{ID: 1, Shards: 2, MappingVersion: index.MappingVersion + 1, State: cluster.StateLive, Created: time.Now()}
	if err := cluster.Put(ctx, []string{broker}, g); err != nil {
		t.Fatal(err)
	}
	if err := cluster.SetLive(ctx, []string{broker}, 1); err != nil {
		t.Fatal(err)
	}
	r := runPicdex(t, nil, "shard-server", "--brokers", broker, "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--shards", "0").want(t, 1)
	if !strings.Contains(r.stderr, "mapping version") || !strings.Contains(r.stderr, "reindex") {
		t.Fatalf("stderr: %s", r.stderr)
	}
}
