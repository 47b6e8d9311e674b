package indexbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/picdex/picdex/index/record"
)

// Run runs the suites opts asks for and writes their report to w. A missed
// target prints FAIL and is not an error; an error means a suite could not
// run (invalid options, an engine failing, ctx cancelled).
func Run(ctx context.Context, w io.Writer, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	scratch, err := os.MkdirTemp(o.Dir, "picdex-bench-")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)

	fmt.Fprintf(w, "picdex index benchmark: suite=%s N=%d shards=%d seed=%d repeat=%d queries=%d targets=%d\n",
		o.Suite, o.N, o.Shards, o.Seed, o.Repeat, o.Queries, o.Targets)
	fmt.Fprintf(w, "%s %s/%s, %d CPUs, GOMAXPROCS=%d, scratch %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), scratch)

	start := time.Now()
	recs, err := SynthCorpus(ctx, o.N, o.Seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "generated %d synth records in memory in %s\n", len(recs), time.Since(start).Round(time.Millisecond))

	for _, s := range []struct {
		name string
		run  func(context.Context, io.Writer, Options, string, []record.Record) error
	}{
		{SuiteLoad, loadSuite},
		{SuiteQuery, querySuite},
		{SuiteRelevance, relevanceSuite},
	} {
		if !o.runs(s.name) {
			continue
		}
		start, cpu := time.Now(), sampleCPU()
		if err := s.run(ctx, w, o, scratch, recs); err != nil {
			return fmt.Errorf("%s suite: %w", s.name, err)
		}
		note := contention(cpu, sampleCPU())
		if note != "" {
			note = "; " + note
		}
		fmt.Fprintf(w, "(%s suite took %s%s)\n", s.name, time.Since(start).Round(time.Second), note)
	}
	return nil
}
