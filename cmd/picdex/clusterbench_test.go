package main

import (
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestBenchCluster runs the cluster suite on a tiny corpus: every system
// answers with no failures, the slow-replica part holds calls back and
// fails none, freshness finds every batch, and the
// scratch directory is gone afterwards.
func TestBenchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes and builds three indexes")
	}
	dir := t.TempDir()
	r := runPicdex(t, nil, "bench", "--suite", "cluster", "--n", "3000", "--duration", "1s", "--repeat", "1",
		"--freshness", "2s", "--idle-merge", "1s", "--dir", dir).want(t, 0)
	for _, system := range []string{"cluster", "serve", "bleve"} {
		re := regexp.MustCompile(`(?m)^  ` + system + ` +median +\d+ QPS, p50 [0-9.]+ ms, p99 [0-9.]+ ms; failed 0$`)
		if !re.MatchString(r.stdout) {
			t.Errorf("no median line for %s with no failures:\n%s", system, r.stdout)
		}
	}
	// The slow-replica part: every set-up answered every search.
	if !regexp.MustCompile(`(?m)^  slow replica p99 / normal p99: hedged [0-9.]+× \(target ≤ 2×\) (PASS|FAIL), not hedged [0-9.]+× \(of the normal p99 not hedged\); [1-9][0-9]* calls held back; failed 0 \(target 0\) PASS$`).MatchString(r.stdout) {
		t.Errorf("no slow-replica line with calls held back and no failures:\n%s", r.stdout)
	}
	if runtime.GOOS == "linux" && !regexp.MustCompile(`(?m)^  CPU per search \(median of the rounds\): cluster \d+ µs \(query server \d+ µs, shard servers \d+ µs and \d+ µs, router \d+ µs\), serve \d+ µs; serve / cluster [0-9.]+×$`).MatchString(r.stdout) {
		t.Errorf("no CPU-per-search line:\n%s", r.stdout)
	}
	for _, want := range []string{"cluster / serve QPS", "cluster / bleve QPS", "failed 0 (target 0) PASS",
		"cluster with the result cache on", "produce → searchable", "0 of 40 batches not found", "produce → applied"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("the suite left %d entries in --dir, e.g. %s", len(left), left[0].Name())
	}
}
