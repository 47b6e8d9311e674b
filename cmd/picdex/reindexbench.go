package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// The reindex suite's defaults and targets.
const (
	reindexDefaultN      = 1_000_000
	reindexDefaultShards = 4
	reindexSmallN        = 100_000
	// reindexBleveMax is the most records plain bleve loads; past it its
	// rate is extrapolated to N.
	reindexBleveMax     = 200_000
	reindexTargetRatio  = 3.0
	reindexTargetRSSGiB = 3.0
)

// runReindexBench runs the reindex suite: "picdex reindex" of N gen
// records from a JSONL file into --shards shards, as a child process
// (timed from its start to its exit, its peak RSS read from /proc), at
// 100,000 records and at N, next to plain bleve with its default mapping
// loading the same records in this process.
func runReindexBench(ctx context.Context, e *env, fs *flag.FlagSet, o indexbench.Options) int {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	n, shards, repeat := reindexDefaultN, reindexDefaultShards, 1
	if set["n"] {
		n = o.N
	}
	if set["shards"] {
		shards = o.Shards
	}
	if set["repeat"] {
		repeat = o.Repeat
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
		return 1
	}
	if n < 1 || shards < 1 || repeat < 1 {
		return fail(fmt.Errorf("--n, --shards and --repeat must be at least 1"))
	}
	bin, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	scratch, err := os.MkdirTemp(o.Dir, "picdex-reindex-bench-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(scratch)
	w := e.stdout
	start := time.Now()
	recs, err := indexbench.SynthCorpus(ctx, n, o.Seed)
	if err != nil {
		return fail(err)
	}
	sizes := []int{n}
	if n > reindexSmallN {
		sizes = []int{reindexSmallN, n}
	}
	files := map[int]string{}
	for _, size := range sizes {
		files[size] = filepath.Join(scratch, fmt.Sprintf("gen-%d.jsonl", size))
		if err := writeJSONL(files[size], recs[:size]); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(w, "reindex: %d gen records (seed %d) as JSONL, written in %s; picdex reindex into %d shards as a child process; %d run(s) a size\n",
		n, o.Seed, time.Since(start).Round(time.Millisecond), shards, repeat)
	fmt.Fprintf(w, "%-10s %-9s %12s %10s %10s\n", "system", "records", "records/s", "time", "peak RSS")
	type run struct {
		dur time.Duration
		rss int64
	}
	runs := map[int][]run{}
	for r := range repeat {
		for _, size := range sizes {
			data := filepath.Join(scratch, fmt.Sprintf("data-%d-%d", size, r))
			cmd := exec.CommandContext(ctx, bin, "reindex", "--from", files[size], "--data", data, "--shards", fmt.Sprint(shards))
			dur, rss, err := timedChild(cmd)
			if err != nil {
				return fail(fmt.Errorf("picdex reindex of %d records: %w", size, err))
			}
			runs[size] = append(runs[size], run{dur, rss})
			fmt.Fprintf(w, "%-10s %-9d %12.0f %10s %10s\n", "picdex", size, float64(size)/dur.Seconds(), dur.Round(time.Millisecond), rssString(rss))
			os.RemoveAll(data)
		}
	}
	// The Kafka runner on the same N: the cluster's reindex from the
	// file, its map tasks in the reindex child, its shuffle the new
	// generation's shard log on a kfake broker in this process, its
	// reduce two shard servers of half the shards each.
	kdur, krss, kssRSS, err := reindexKafkaRun(ctx, bin, scratch, files[n], shards)
	if err != nil {
		return fail(fmt.Errorf("the Kafka runner: %w", err))
	}
	fmt.Fprintf(w, "%-10s %-9d %12.0f %10s %10s   (shard servers' peak RSS %s each at most)\n", "kafka", n, float64(n)/kdur.Seconds(),
		kdur.Round(time.Millisecond), rssString(krss), rssString(kssRSS))

	prefix := min(n, reindexBleveMax)
	bdir := filepath.Join(scratch, "bleve")
	t0 := time.Now()
	if err := indexbench.LoadBleveDefault(ctx, bdir, recs[:prefix]); err != nil {
		return fail(err)
	}
	bdur := time.Since(t0)
	os.RemoveAll(bdir)
	bleveRate := float64(prefix) / bdur.Seconds()
	fmt.Fprintf(w, "%-10s %-9d %12.0f %10s %10s\n", "bleve", prefix, bleveRate, bdur.Round(time.Millisecond), "-")
	if prefix < n {
		fmt.Fprintf(w, "  bleve (default mapping, 1,000-record batches, in this process) loaded the first %d records; at that rate %d would take %s.\n"+
			"  The extrapolation is linear, and bleve slows as its index grows, so it flatters bleve.\n",
			prefix, n, time.Duration(float64(n)/bleveRate*float64(time.Second)).Round(time.Second))
	}
	median := func(size int) (time.Duration, int64) {
		ds, rs := make([]float64, 0, repeat), make([]float64, 0, repeat)
		for _, r := range runs[size] {
			ds, rs = append(ds, float64(r.dur)), append(rs, float64(r.rss))
		}
		return time.Duration(indexbench.Median(ds)), int64(indexbench.Median(rs))
	}
	dur, rss := median(n)
	rate := float64(n) / dur.Seconds()
	ratio := rate / bleveRate
	fmt.Fprintf(w, "median picdex reindex of %d: %.0f records/s; ratio to plain bleve %.2fx   target >= %.1fx: %s\n",
		n, rate, ratio, reindexTargetRatio, indexbench.PassFail(ratio >= reindexTargetRatio))
	if rss > 0 {
		gib := float64(rss) / (1 << 30)
		fmt.Fprintf(w, "peak RSS of picdex reindex at %d: %.2f GiB   target < %.0f GiB: %s\n", n, gib, reindexTargetRSSGiB, indexbench.PassFail(gib < reindexTargetRSSGiB))
	}
	fmt.Fprintf(w, "Kafka runner (kfake broker, 2 shard servers) against the local one at %d: %.2fx its time (%s against %s)\n",
		n, kdur.Seconds()/dur.Seconds(), kdur.Round(time.Millisecond), dur.Round(time.Millisecond))
	if len(sizes) == 2 {
		small, _ := median(reindexSmallN)
		fmt.Fprintf(w, "growth: %dx the records took %.1fx the time (%s -> %s)\n", n/reindexSmallN, dur.Seconds()/small.Seconds(),
			small.Round(time.Millisecond), dur.Round(time.Millisecond))
	}
	return 0
}

func writeJSONL(path string, recs []record.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func rssString(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
}

// limitedBuffer keeps the last 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// timedChild runs cmd to its end and returns how long it took and its
// peak RSS (its high-water mark, read every 50 ms while it runs).
func timedChild(cmd *exec.Cmd, others ...int) (time.Duration, int64, error) {
	var errb limitedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	stop, peak := pollPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	dur := time.Since(t0)
	stop()
	if err != nil {
		return dur, 0, fmt.Errorf("%w: %s", err, errb.String())
	}
	return dur, peak(), nil
}

// pollPeakRSS reads the high-water mark of pid every 50 ms until stop.
func pollPeakRSS(pid int) (stop func(), peak func() int64) {
	var rss int64
	done, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := peakRSS(pid); ok {
				rss = max(rss, v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-polled }, func() int64 { return rss }
}

// reindexKafkaRun times "picdex reindex --brokers" of file into shards
// shards on a cluster made for it: a kfake broker here, a router, a shard
// server for the (empty) generation 1 and two for generation 2, half the
// shards each. It returns the reindex's time (to the switch, so with
// every record applied by the shard servers), its peak RSS and the
// larger of the two shard servers'.
func reindexKafkaRun(ctx context.Context, bin, scratch, file string, shards int) (time.Duration, int64, int64, error) {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return 0, 0, 0, err
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = cluster.Bootstrap(bctx, brokers, shards)
	if err == nil {
		err = queue.EnsureTopic(bctx, brokers, queue.DefaultTopic, clusterPartitions, 1)
	}
	cancel()
	if err != nil {
		return 0, 0, 0, err
	}
	b := strings.Join(brokers, ",")
	var children []*child
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	spawn := func(name string, args ...string) (*child, error) {
		addr, err := loopbackAddr()
		if err != nil {
			return nil, err
		}
		c := newChild(bin, name, addr, append(args, "--addr", addr)...)
		if err := c.start(); err != nil {
			return nil, err
		}
		children = append(children, c)
		return c, nil
	}
	all := make([]string, shards)
	halves := [2][]string{}
	for s := range shards {
		all[s] = strconv.Itoa(s)
		halves[s*2/shards] = append(halves[s*2/shards], strconv.Itoa(s))
	}
	if _, err := spawn("router", "indexer", "--brokers", b, "--partitions", strconv.Itoa(clusterPartitions)); err != nil {
		return 0, 0, 0, err
	}
	ss := []*child{}
	for i, sh := range [][]string{all, halves[0], halves[1]} {
		gen := min(i+1, 2)
		c, err := spawn(fmt.Sprintf("g%d-%d", gen, i), "shard-server", "--brokers", b, "--generation", strconv.Itoa(gen),
			"--shards", strings.Join(sh, ","), "--data", filepath.Join(scratch, fmt.Sprintf("kss%d", i)))
		if err != nil {
			return 0, 0, 0, err
		}
		ss = append(ss, c)
	}
	if err := ss[0].waitReady(ctx, childReady); err != nil {
		return 0, 0, 0, err
	}
	stops := make([]func(), 0, 2)
	peaks := make([]func() int64, 0, 2)
	for _, c := range ss[1:] {
		c.mu.Lock()
		pid := c.cmd.Process.Pid
		c.mu.Unlock()
		stop, peak := pollPeakRSS(pid)
		stops, peaks = append(stops, stop), append(peaks, peak)
	}
	cmd := exec.CommandContext(ctx, bin, "reindex", "--brokers", b, "--from", file, "--shards", strconv.Itoa(shards), "--wait", "1h")
	dur, rss, err := timedChild(cmd)
	var ssRSS int64
	for i := range stops {
		stops[i]()
		ssRSS = max(ssRSS, peaks[i]())
	}
	return dur, rss, ssRSS, err
}
