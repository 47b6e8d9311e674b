package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/picdex/picdex/index"
)

var indexCmd = &command{
	name:     "index",
	synopsis: "bulk load JSONL records into an index",
	usage:    "index --data DIR [--shards N] [--batch N] FILE...",
	help: `
Index reads records, one JSON object per line, from each FILE ("-" is
standard input; names ending in .gz are decompressed) and writes them to the
index in DIR, creating it when absent. A line that is not a valid record is
reported on standard error as FILE:LINE: reason, counted and skipped. Lines
may be up to 1 MiB. Records with "op":"delete" delete.

Exit status: 0 when the files were read, 1 when a file could not be read or
the index failed, 2 when every line was rejected.`,
}

func init() { indexCmd.run = runIndex }

func runIndex(ctx context.Context, e *env, args []string) int {
	c := indexCmd
	fs := c.flags()
	data := fs.String("data", "./data", "index `directory`")
	shards := fs.Int("shards", 0, "number of shards of a new index (0: 4, or as on disk for an existing one)")
	batch := fs.Int("batch", 5000, "records per write batch")
	files, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return c.usageError(e, fs, "no input files (use - for standard input)")
	}
	if *batch < 1 || *batch > 1_000_000 {
		return c.usageError(e, fs, fmt.Sprintf("--batch %d: must be between 1 and 1000000", *batch))
	}

	unlock, err := lockData(*data)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex index: %v\n", err)
		return 1
	}
	defer unlock()
	ix, err := openLiveForWrites(*data, index.Options{Shards: *shards}, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex index: %v\n", err)
		return 1
	}
	start := time.Now()
	l := newLoader(ix, *batch, e.stderr)
	failed := false
	for _, name := range files {
		if ctx.Err() != nil {
			break
		}
		if err := loadFile(ctx, l, name, e); err != nil {
			fmt.Fprintf(e.stderr, "picdex index: %v\n", err)
			failed = true
			var re *readError
			if !errors.As(err, &re) {
				break // the index failed; later files would fail too
			}
		}
	}
	if err := l.flush(ctx); err != nil {
		fmt.Fprintf(e.stderr, "picdex index: %v\n", err)
		failed = true
	}
	if err := ix.Close(); err != nil {
		fmt.Fprintf(e.stderr, "picdex index: closing %s: %v\n", *data, err)
		failed = true
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(e.stderr, "picdex index: interrupted\n")
		failed = true
	}
	elapsed := time.Since(start)
	rate := float64(l.stats.indexed) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(e.stdout, "indexed %d records, rejected %d, in %s (%.0f records/s)\n",
		l.stats.indexed, l.stats.rejected, elapsed.Round(time.Millisecond), rate)
	switch {
	case failed:
		return 1
	case l.stats.indexed == 0 && l.stats.rejected > 0:
		return 2
	}
	return 0
}

func loadFile(ctx context.Context, l *loader, name string, e *env) error {
	r, err := openInput(name, e.stdin)
	if err != nil {
		return &readError{err}
	}
	defer r.Close()
	return l.load(ctx, name, r)
}
