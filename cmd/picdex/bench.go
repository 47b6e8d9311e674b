package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/picdex/picdex/api/apibench"
	"github.com/picdex/picdex/crawler/crawlbench"
	"github.com/picdex/picdex/index/indexbench"
)

var benchCmd = &command{
	name:     "bench",
	synopsis: "measure the index and the crawlers against their baselines and targets",
	usage:    "bench [--suite load|query|relevance|crawl|overload|http|qps|all] [--n N] [--shards N] [--repeat R] [--seed S] [--dir DIR] [--tate FILE] [--pages N] [--conns N] [--duration D]",
	help: `
Bench runs the index library's benchmarks, each next to its baseline in the
same process, and prints medians and ratios with PASS/FAIL against the
targets:

  load       bulk load of N synthetic records: picdex vs bleve with its
             default mapping and 1,000-record batches (target >= 3x)
  query      in-process latency percentiles at N records per query class
             (targets: single-term p99 < 2 ms, filter+facet p99 < 10 ms)
  relevance  known-item ranking quality (MRR@10, success@1/@10) on
             caption-style queries vs SQLite FTS5 BM25 with the porter
             tokenizer, on the synthetic corpus and, when present, the Tate
             collection
  crawl      a web crawl of a generated --pages site on loopback with
             politeness off, next to a plain loop of GETs of the same pages
             (target >= 300 pages/s); a file crawl of the shared sample
             images, metadata only (target >= 300 files/s) and with the
             perceptual hash, next to just reading the same files
  overload   a real "picdex serve" on N records: single-word search
             p50/p99 alone, and while 8 clients send the most expensive
             searches the query budget allows (targets: p99 under 3x of
             idle, RSS growth under 500 MB, no 5xx)
  http       --conns connections of mixed searches for --duration
             against "picdex serve" (target: no 5xx), then the same with a
             rate limit per API key that admits about half (target: the
             admitted requests' p99 within 2x of the unlimited run)
  qps        in one process, the picdex API over --shards shards (and over
             1) next to plain bleve (default mapping, match query) behind
             a bare net/http handler, on N synthetic records and on the
             Tate collection when present: --queries one-to-four-word
             title queries at concurrency 8, interleaved (targets: QPS
             >= 1.5x bleve's, p99 no higher)

"all" runs every suite. The machine should be otherwise idle; the figures
are medians over --repeat runs.`,
}

func init() { benchCmd.run = runBench }

func runBench(ctx context.Context, e *env, args []string) int {
	c := benchCmd
	fs := c.flags()
	var o indexbench.Options
	fs.StringVar(&o.Suite, "suite", indexbench.DefaultSuite, "load, query, relevance, crawl, overload, http, qps or all")
	fs.IntVar(&o.N, "n", indexbench.DefaultN, "synthetic records per corpus")
	fs.IntVar(&o.Shards, "shards", indexbench.DefaultShards, "shards of the picdex index")
	fs.IntVar(&o.Repeat, "repeat", indexbench.DefaultRepeat, "runs per measurement (medians are reported)")
	fs.Int64Var(&o.Seed, "seed", 1, "corpus and query seed")
	fs.StringVar(&o.Dir, "dir", "", "scratch `directory` for the indexes (default: system temp)")
	fs.StringVar(&o.TatePath, "tate", indexbench.DefaultTatePath, "Tate collection JSONL.gz for the relevance and qps suites (- to skip)")
	fs.IntVar(&o.Queries, "queries", indexbench.DefaultQueries, "searches per query class and run")
	fs.IntVar(&o.Targets, "targets", indexbench.DefaultTargets, "known items per corpus in the relevance suite")
	fs.StringVar(&o.QueryProfile, "query-profile", "", "write a CPU profile of the query (or qps) suite's searches to `file`")
	var co crawlbench.Options
	fs.IntVar(&co.Pages, "pages", 2000, "pages of the crawl suite's generated site")
	var ao apibench.Options
	fs.IntVar(&ao.Conns, "conns", 500, "connections of the http suite")
	fs.DurationVar(&ao.Duration, "duration", 30*time.Second, "length of each http suite run")
	fs.StringVar(&ao.Data, "data", "", "serve this existing index `directory` in the overload and http suites instead of building one (its records should be those of gen --n N --seed S, which the searches are drawn from)")
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	co.Repeat = o.Repeat
	if err := co.Validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	crawl := o.Suite == "crawl" || o.Suite == indexbench.SuiteAll
	http := o.Suite == apibench.SuiteOverload || o.Suite == apibench.SuiteHTTP || o.Suite == apibench.SuiteQPS || o.Suite == indexbench.SuiteAll
	if http {
		bin, err := os.Executable()
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
			return 1
		}
		ao.Suite, ao.Binary, ao.Dir, ao.N, ao.Shards, ao.Seed, ao.Repeat = o.Suite, bin, o.Dir, o.N, o.Shards, o.Seed, o.Repeat
		ao.TatePath = o.TatePath
	}
	if o.Suite == apibench.SuiteQPS {
		ao.Queries, ao.Profile = o.Queries, o.QueryProfile
	}
	if o.Suite == apibench.SuiteOverload || o.Suite == apibench.SuiteHTTP || o.Suite == apibench.SuiteQPS {
		if err := apibench.Run(ctx, e.stdout, ao); err != nil {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
			}
			return 1
		}
		return 0
	}
	if o.Suite == "crawl" {
		if err := crawlbench.Run(ctx, e.stdout, co); err != nil {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
			}
			return 1
		}
		return 0
	}
	if err := o.Validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	err := indexbench.Run(ctx, e.stdout, o)
	if err == nil && crawl {
		fmt.Fprintln(e.stdout)
		err = crawlbench.Run(ctx, e.stdout, co)
	}
	if err == nil && http {
		fmt.Fprintln(e.stdout)
		ao.Suite = apibench.SuiteAll
		err = apibench.Run(ctx, e.stdout, ao)
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
		}
		return 1
	}
	return 0
}
