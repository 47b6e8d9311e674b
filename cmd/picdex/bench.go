package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/picdex/picdex/index/indexbench"
)

var benchCmd = &command{
	name:     "bench",
	synopsis: "measure the index against its baselines (plain bleve, SQLite FTS5)",
	usage:    "bench [--suite load|query|relevance|all] [--n N] [--shards N] [--repeat R] [--seed S] [--dir DIR] [--tate FILE]",
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

The machine should be otherwise idle; the figures are medians over --repeat
runs.`,
}

func init() { benchCmd.run = runBench }

func runBench(ctx context.Context, e *env, args []string) int {
	c := benchCmd
	fs := c.flags()
	var o indexbench.Options
	fs.StringVar(&o.Suite, "suite", indexbench.DefaultSuite, "load, query, relevance or all")
	fs.IntVar(&o.N, "n", indexbench.DefaultN, "synthetic records per corpus")
	fs.IntVar(&o.Shards, "shards", indexbench.DefaultShards, "shards of the picdex index")
	fs.IntVar(&o.Repeat, "repeat", indexbench.DefaultRepeat, "runs per measurement (medians are reported)")
	fs.Int64Var(&o.Seed, "seed", 1, "corpus and query seed")
	fs.StringVar(&o.Dir, "dir", "", "scratch `directory` for the indexes (default: system temp)")
	fs.StringVar(&o.TatePath, "tate", indexbench.DefaultTatePath, "Tate collection JSONL.gz for the relevance suite (- to skip)")
	fs.IntVar(&o.Queries, "queries", indexbench.DefaultQueries, "searches per query class and run")
	fs.IntVar(&o.Targets, "targets", indexbench.DefaultTargets, "known items per corpus in the relevance suite")
	fs.StringVar(&o.QueryProfile, "query-profile", "", "write a CPU profile of the query suite's searches to `file`")
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	if err := o.Validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if err := indexbench.Run(ctx, e.stdout, o); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "picdex bench: %v\n", err)
		}
		return 1
	}
	return 0
}
