package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/picdex/picdex/crawler/synth"
)

var genCmd = &command{
	name:     "gen",
	synopsis: "write a deterministic synthetic corpus (JSONL) to standard output",
	usage:    "gen --n N [--seed S]",
	help: `
Gen writes N synthetic image records, one JSON object per line, to standard
output. The same N and seed always give the same bytes, so benchmarks and
tests can regenerate a corpus instead of storing it.`,
}

func init() { genCmd.run = runGen }

func runGen(ctx context.Context, e *env, args []string) int {
	c := genCmd
	fs := c.flags()
	n := fs.Int("n", 1000, "number of records")
	seed := fs.Int64("seed", 1, "corpus seed")
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	opts := synth.Options{N: *n, Seed: *seed}
	if err := opts.Validate(); err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if _, err := synth.Write(ctx, e.stdout, opts); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "picdex gen: %v\n", err)
		}
		return 1
	}
	return 0
}
