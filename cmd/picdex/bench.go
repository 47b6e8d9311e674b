package main

import (
	"context"
	"errors"
	"flag"
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
	usage:    "bench [--suite load|query|relevance|crawl|overload|http|qps|cluster|reindex|all] [--n N] [--shards N] [--repeat R] [--seed S] [--dir DIR] [--tate FILE] [--coco FILE] [--pages N] [--conns N] [--duration D] [--freshness D] [--idle-merge D]",
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
             collection; and, when --coco is present, the caption
             protocol: each MS-COCO image indexed with four of its
             captions, the fifth asked raw, the rank of its own image
             (R@1/5/10, MRR@10 over all images, the tuning half and the
             held-out half; goals on the held-out half: R@10 >= 0.70,
             MRR@10 >= 0.47, no query failed) for picdex, SQLite FTS5
             (bm25, porter, an OR of the words) and plain bleve (default
             mapping, a match query), then the same queries with one
             random edit in each word of 5+ letters
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
  cluster    a cluster of separate picdex processes on loopback — a
             Kafka-wire broker (kfake) in this process, a router, two
             shard servers with half of the --shards shards each (one
             replica), a query server with its result cache off — fed N
             gen records through picdex.images (timed until both shard
             servers have applied them); "picdex serve" over the same
             records (bulk "picdex index" into --shards shards); plain
             bleve (default mapping) in this process. Then --repeat
             interleaved rounds of --conns connections for --duration
             each of loadgen's mixed searches with place searches added
             (bleve gets the closest query of each: see
             apibench.BleveSearchHandler), medians of QPS, p50 and p99
             per system (targets: cluster QPS >= 0.7x serve's and >= 1.5x
             bleve's, cluster p99 < 50 ms, no failures); one labelled
             round with the query server's cache on; a slow replica:
             two more query servers (hedging on and off) reach the first
             shard server's shards through two proxies, as two replicas,
             one of which holds back every 5th shard call by 4x the
             normal p99; the same bounded searches at 4 connections run
             normal, slow and hedged, slow and not hedged, normal not
             hedged, --repeat rounds (target: hedged p99 within 2x of
             normal); and freshness:
             records produced at 1,000/s for --freshness, each batch's
             time from publishing to being found through the query
             server (target p99 < 1 s). Defaults for this suite: --n
             1000000, --shards 8, --conns 16, --duration 20s, --repeat 3;
             at 1,000,000 records it takes about half an hour, so "all"
             leaves it out
  reindex    "picdex reindex" of N gen records from a JSONL file into
             --shards shards, as a child process timed from start to exit
             with its peak RSS, at 100,000 records and at N, next to plain
             bleve (default mapping) loading the first 200,000 of them in
             this process, its rate extrapolated to N (targets: >= 3x
             bleve, peak RSS < 3 GiB). Defaults for this suite: --n
             1000000, --shards 4, --repeat 1; "all" leaves it out

"all" runs every suite but cluster. The machine should be otherwise idle; the figures
are medians over --repeat runs.`,
}

func init() { benchCmd.run = runBench }

func runBench(ctx context.Context, e *env, args []string) int {
	c := benchCmd
	fs := c.flags()
	var o indexbench.Options
	fs.StringVar(&o.Suite, "suite", indexbench.DefaultSuite, "load, query, relevance, crawl, overload, http, qps, cluster, reindex or all")
	fs.IntVar(&o.N, "n", indexbench.DefaultN, "synthetic records per corpus")
	fs.IntVar(&o.Shards, "shards", indexbench.DefaultShards, "shards of the picdex index")
	fs.IntVar(&o.Repeat, "repeat", indexbench.DefaultRepeat, "runs per measurement (medians are reported)")
	fs.Int64Var(&o.Seed, "seed", 1, "corpus and query seed")
	fs.StringVar(&o.Dir, "dir", "", "scratch `directory` for the indexes (default: system temp)")
	fs.StringVar(&o.TatePath, "tate", indexbench.DefaultTatePath, "Tate collection JSONL.gz for the relevance and qps suites (- to skip)")
	fs.StringVar(&o.COCOPath, "coco", indexbench.DefaultCOCOPath, "MS-COCO caption file for the relevance suite's caption protocol (- to skip)")
	fs.IntVar(&o.Queries, "queries", indexbench.DefaultQueries, "searches per query class and run")
	fs.IntVar(&o.Targets, "targets", indexbench.DefaultTargets, "known items per corpus in the relevance suite")
	fs.StringVar(&o.QueryProfile, "query-profile", "", "write a CPU profile of the query (or qps) suite's searches to `file`")
	var co crawlbench.Options
	fs.IntVar(&co.Pages, "pages", 2000, "pages of the crawl suite's generated site")
	var ao apibench.Options
	fs.IntVar(&ao.Conns, "conns", 500, "connections of the http suite")
	fs.DurationVar(&ao.Duration, "duration", 30*time.Second, "length of each http suite run")
	freshFor := fs.Duration("freshness", 20*time.Second, "how long the cluster suite produces records at 1,000/s to measure freshness")
	idleMerge := addIdleMergeFlag(fs)
	fs.StringVar(&ao.Data, "data", "", "serve this existing index `directory` in the overload and http suites instead of building one (its records should be those of gen --n N --seed S, which the searches are drawn from)")
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	if o.Suite == "cluster" {
		return runClusterBench(ctx, e, fs, o, ao, *freshFor, *idleMerge)
	}
	if o.Suite == "reindex" {
		return runReindexBench(ctx, e, fs, o)
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

// runClusterBench runs the cluster suite, whose defaults differ from the
// other suites' where a flag was not given.
func runClusterBench(ctx context.Context, e *env, fs *flag.FlagSet, o indexbench.Options, ao apibench.Options, freshFor, idleMerge time.Duration) int {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	or := func(name string, given, def int) int {
		if set[name] {
			return given
		}
		return def
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
		return 1
	}
	co := clusterBenchOptions{
		Binary: bin, Dir: o.Dir, Seed: o.Seed, Freshness: freshFor,
		N: or("n", o.N, clusterDefaultN), Shards: or("shards", o.Shards, 8),
		Repeat: or("repeat", o.Repeat, 3), Conns: or("conns", ao.Conns, clusterDefaultConc),
		Duration: 20 * time.Second, IdleMerge: idleMerge,
	}
	if set["duration"] {
		co.Duration = ao.Duration
	}
	if err := co.validate(); err != nil {
		return benchCmd.usageError(e, fs, err.Error())
	}
	if err := clusterBench(ctx, e.stdout, co); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
		}
		return 1
	}
	return 0
}
