package apibench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/picdex/picdex/index/indexbench"
)

// Suites Run knows.
const (
	SuiteOverload = "overload"
	SuiteHTTP     = "http"
	SuiteQPS      = "qps"
	SuiteAll      = "all"
)

// Targets (issue 11).
const (
	overloadRatioTarget = 3.0       // single-word p99 under expensive load ÷ idle
	rssGrowthTarget     = 500 << 20 // bytes
	rateLimitedTarget   = 2.0       // admitted p99 with rate limits ÷ without
)

// Options describe a run of the API benchmarks. A zero field takes its
// default.
type Options struct {
	Suite  string // overload, http, qps or all (default all)
	Binary string // the picdex binary whose serve is measured (required but for qps)
	// Dir is a scratch directory (default: under os.TempDir), in which the
	// index is built; Data, when set, is an index to serve instead.
	Dir, Data string
	N         int   // synthetic records (default 100,000)
	Shards    int   // default 4
	Seed      int64 // corpus and query seed
	Repeat    int   // default 3; medians are reported
	Queries   int   // single-word searches per overload phase (default 5,000)
	Expensive int   // clients sending expensive searches (default 8)
	Conns     int   // connections of the load suite (default 500)
	Duration  time.Duration
	// TatePath is the Tate collection the qps suite measures besides the
	// synthetic corpus; absent, that corpus is skipped.
	TatePath string
	// Profile, when set, receives a CPU profile of the qps suite's runs
	// (of the last corpus measured).
	Profile string
}

func (o *Options) setDefaults() error {
	if o.Suite == "" {
		o.Suite = SuiteAll
	}
	if o.Suite != SuiteOverload && o.Suite != SuiteHTTP && o.Suite != SuiteQPS && o.Suite != SuiteAll {
		return fmt.Errorf("apibench: unknown suite %q", o.Suite)
	}
	if o.Binary == "" && o.Suite != SuiteQPS {
		return errors.New("apibench: no picdex binary to run")
	}
	for _, v := range []struct {
		p   *int
		def int
	}{{&o.N, 100_000}, {&o.Shards, 4}, {&o.Repeat, 3}, {&o.Queries, 5000}, {&o.Expensive, 8}, {&o.Conns, 500}} {
		if *v.p < 0 {
			return errors.New("apibench: options must not be negative")
		}
		if *v.p == 0 {
			*v.p = v.def
		}
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	return nil
}

// Run builds (or opens) the index, starts `picdex serve` on it as a
// separate process and measures it with real HTTP requests, printing
// each figure next to its baseline from the same run.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(o.Dir, "picdex-apibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if o.Suite == SuiteQPS {
		return qpsSuite(ctx, w, o, scratch)
	}
	recs, err := indexbench.SynthCorpus(ctx, o.N, o.Seed)
	if err != nil {
		return err
	}
	vocab := NewVocabulary(recs)
	data := o.Data
	if data == "" {
		data = filepath.Join(scratch, "index")
		ix, took, err := indexbench.BuildIndex(ctx, data, o.Shards, recs)
		if err != nil {
			return err
		}
		if err := ix.Close(); err != nil {
			return err
		}
		fmt.Fprintf(w, "index: %d synthetic records, %d shards, built in %s\n", len(recs), o.Shards, took.Round(time.Millisecond))
	}
	recs = nil
	if o.Suite != SuiteHTTP {
		if err := overloadSuite(ctx, w, o, data, scratch, vocab); err != nil {
			return err
		}
	}
	if o.Suite != SuiteOverload {
		if err := loadSuite(ctx, w, o, data, scratch, vocab); err != nil {
			return err
		}
	}
	if o.Suite == SuiteAll {
		return qpsSuite(ctx, w, o, scratch)
	}
	return nil
}

// overloadSuite: single-word searches alone, and while clients send the
// most expensive searches the budget allows.
func overloadSuite(ctx context.Context, w io.Writer, o Options, data, scratch string, v *Vocabulary) error {
	// Every expensive client has a key of its own: they are eight
	// clients, each with its share of the expensive turns, not one.
	keys, keyFile, err := writeKeys(scratch, o.Expensive)
	if err != nil {
		return err
	}
	srv, err := startServe(ctx, o.Binary, data, "--api-keys", keyFile)
	if err != nil {
		return err
	}
	defer srv.stop()
	client := NewClient(o.Expensive + 4)
	calls, err := calibrate(ctx, client, srv.url, v)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\noverload: single-word searches, alone and while %d clients send %d kinds of the most expensive searches the budget allows\n", o.Expensive, len(calls))
	single := Load{BaseURL: srv.url, Clients: 1, Requests: o.Queries, Workload: v.SingleWord(), Seed: uint64(o.Seed)}
	warm := single
	warm.Requests = 500
	if _, err := warm.Run(ctx, client); err != nil {
		return err
	}
	var ratios, growth, idleP99, loadedP99 []float64
	fives := 0
	for rep := range o.Repeat {
		idle, err := single.Run(ctx, client)
		if err != nil {
			return err
		}
		before, err := rss(srv.pid())
		if err != nil {
			return err
		}
		heavy := Load{BaseURL: srv.url, Clients: o.Expensive, Duration: time.Hour, Workload: Expensive(calls), Keys: keys, Seed: uint64(rep)}
		hctx, stopHeavy := context.WithCancel(ctx)
		var heavyRep *Report
		var heavyErr error
		var wg sync.WaitGroup
		wg.Go(func() { heavyRep, heavyErr = heavy.Run(hctx, client) })
		peak := newPeak(srv.pid())
		time.Sleep(500 * time.Millisecond) // let the expensive searches get going
		loaded, err := single.Run(ctx, client)
		stopHeavy()
		wg.Wait()
		top := peak.stop()
		if err != nil {
			return err
		}
		if heavyErr != nil {
			return heavyErr
		}
		ratio := float64(loaded.All.P99) / float64(idle.All.P99)
		ratios = append(ratios, ratio)
		growth = append(growth, float64(top-before))
		idleP99 = append(idleP99, float64(idle.All.P99))
		loadedP99 = append(loadedP99, float64(loaded.All.P99))
		fives += idle.Count5xx() + loaded.Count5xx() + heavyRep.Count5xx()
		fmt.Fprintf(w, "  run %d: idle p50 %s p99 %s | loaded p50 %s p99 %s | ratio %.2f | RSS %s → peak %s\n",
			rep+1, ms(idle.All.P50), ms(idle.All.P99), ms(loaded.All.P50), ms(loaded.All.P99), ratio, mib(before), mib(top))
		fmt.Fprintf(w, "         expensive: %s\n", heavyRep)
		for _, e := range append(loaded.FirstErrors, heavyRep.FirstErrors...) {
			fmt.Fprintf(w, "         5xx: %s\n", e)
		}
	}
	r, g := indexbench.Median(ratios), indexbench.Median(growth)
	fmt.Fprintf(w, "  median: single-word p99 idle %s, loaded %s: %.2f× (target < %.0f×) %s; RSS growth %s (target < %s) %s; 5xx: %d (target 0) %s\n",
		ms(time.Duration(indexbench.Median(idleP99))), ms(time.Duration(indexbench.Median(loadedP99))), r, overloadRatioTarget, indexbench.PassFail(r < overloadRatioTarget),
		mib(int64(g)), mib(rssGrowthTarget), indexbench.PassFail(g < rssGrowthTarget), fives, indexbench.PassFail(fives == 0))
	return nil
}

// calibrate turns the expensive candidates into searches the server
// accepts: each pattern list is cut until it is within the budget.
func calibrate(ctx context.Context, client *http.Client, base string, v *Vocabulary) ([]Call, error) {
	var calls []Call
	for _, terms := range v.expensiveCandidates() {
		for len(terms) > 0 {
			c := search("q", strings.Join(terms, " "))
			status, body, err := do(ctx, client, base, "", c)
			if err != nil {
				return nil, err
			}
			if status == http.StatusOK {
				calls = append(calls, c)
				break
			}
			if status != http.StatusBadRequest || !strings.Contains(string(body), "query_too_expensive") {
				return nil, fmt.Errorf("calibrating %s: %d %s", c.Path, status, body)
			}
			terms = terms[:len(terms)-1]
		}
	}
	return append(calls, deepFacets()), nil
}

// loadSuite: many connections of mixed searches, without and with rate
// limits.
func loadSuite(ctx context.Context, w io.Writer, o Options, data, scratch string, v *Vocabulary) error {
	fmt.Fprintf(w, "\nload: %d connections of mixed searches for %s, then the same with a rate limit per API key (50 keys) set to admit about half\n", o.Conns, o.Duration)
	keys, keyFile, err := writeKeys(scratch, 50)
	if err != nil {
		return err
	}
	client := NewClient(o.Conns)
	var ratios, freeP99, limP99 []float64
	fives := 0
	for rep := range o.Repeat {
		free, freeRSS, err := measureServe(ctx, o, data, client, Load{Clients: o.Conns, Duration: o.Duration, Workload: v.Mixed(), Seed: uint64(rep)})
		if err != nil {
			return err
		}
		// Each of the 50 keys gets a hundredth of what the server
		// answered unlimited, so together they are admitted about half.
		limit := max(1, int(free.PerSecond()/100))
		limited, limRSS, err := measureServe(ctx, o, data, client, Load{Clients: o.Conns, Duration: o.Duration, Workload: v.Mixed(), Keys: keys, Seed: uint64(rep)},
			"--api-keys", keyFile, "--rate-limit", strconv.Itoa(limit))
		if err != nil {
			return err
		}
		ratio := float64(limited.Admitted.P99) / float64(free.Admitted.P99)
		ratios = append(ratios, ratio)
		freeP99 = append(freeP99, float64(free.Admitted.P99))
		limP99 = append(limP99, float64(limited.Admitted.P99))
		fives += free.Count5xx() + limited.Count5xx()
		fmt.Fprintf(w, "  run %d, unlimited:          %s; peak RSS %s\n", rep+1, free, mib(freeRSS))
		fmt.Fprintf(w, "  run %d, %4d/s per key:    %s; peak RSS %s\n", rep+1, limit, limited, mib(limRSS))
		for _, e := range append(free.FirstErrors, limited.FirstErrors...) {
			fmt.Fprintf(w, "         5xx: %s\n", e)
		}
	}
	r := indexbench.Median(ratios)
	fmt.Fprintf(w, "  median: admitted p99 unlimited %s, rate-limited %s: %.2f× (target ≤ %.0f×) %s; 5xx: %d (target 0) %s\n",
		ms(time.Duration(indexbench.Median(freeP99))), ms(time.Duration(indexbench.Median(limP99))), r, rateLimitedTarget, indexbench.PassFail(r <= rateLimitedTarget),
		fives, indexbench.PassFail(fives == 0))
	return nil
}

// writeKeys makes n search keys and the key file of serve --api-keys.
func writeKeys(dir string, n int) ([]string, string, error) {
	keys := make([]string, n)
	var file strings.Builder
	for i := range keys {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		keys[i] = hex.EncodeToString(b[:])
		fmt.Fprintf(&file, "search %s\n", keys[i])
	}
	path := filepath.Join(dir, fmt.Sprintf("keys-%d", n))
	return keys, path, os.WriteFile(path, []byte(file.String()), 0o600)
}

// measureServe starts serve with extra flags, warms it up and applies l;
// it also reports the server's peak RSS during the load.
func measureServe(ctx context.Context, o Options, data string, client *http.Client, l Load, flags ...string) (*Report, int64, error) {
	srv, err := startServe(ctx, o.Binary, data, flags...)
	if err != nil {
		return nil, 0, err
	}
	defer srv.stop()
	l.BaseURL = srv.url
	warm := l
	warm.Duration = min(5*time.Second, l.Duration)
	if _, err := warm.Run(ctx, client); err != nil {
		return nil, 0, err
	}
	peak := newPeak(srv.pid())
	rep, err := l.Run(ctx, client)
	return rep, peak.stop(), err
}

// server is a `picdex serve` child process.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var servingURL = regexp.MustCompile(`url=(http://[^ ]+/)`)

func startServe(ctx context.Context, binary, data string, flags ...string) (*server, error) {
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- strings.TrimSuffix(m[1], "/"):
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-found:
	case err := <-s.done:
		return nil, fmt.Errorf("picdex serve exited before serving: %v", err)
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, errors.New("picdex serve did not start within 2 minutes")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if _, err := url.Parse(s.url); err != nil {
		s.stop()
		return nil, err
	}
	// Ready when a search answers.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Since(start) > time.Minute {
			s.stop()
			return nil, errors.New("picdex serve was not ready within a minute")
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server as an operator would, with SIGTERM.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// rss reads a process's resident set size.
func rss(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// peakRSS samples a process's RSS every 50 ms until stopped.
type peakRSS struct {
	quit chan struct{}
	top  chan int64
}

func newPeak(pid int) *peakRSS {
	p := &peakRSS{quit: make(chan struct{}), top: make(chan int64, 1)}
	go func() {
		var top int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if n, err := rss(pid); err == nil && n > top {
				top = n
			}
			select {
			case <-p.quit:
				p.top <- top
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakRSS) stop() int64 {
	close(p.quit)
	return <-p.top
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
