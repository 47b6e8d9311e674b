package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/picdex/picdex/api/apibench"
	"github.com/picdex/picdex/index/indexbench"
)

var loadgenCmd = &command{
	name:     "loadgen",
	synopsis: "send a closed-loop search load to a running server and report latencies",
	usage:    "loadgen --server URL [--conns N] [--duration D] [--mix mixed|word] [--n N] [--seed S] [--api-key-file F]",
	help: `
Loadgen opens --conns connections to the server and has each send its next
search as soon as the last is answered, for --duration, then prints the
request rate, latency percentiles (of every answer and of the admitted
ones, status < 400) and the count of each status. The searches are drawn
from the vocabulary of the synthetic corpus "picdex gen --n N --seed S"
makes, so a server loaded with that corpus finds them: "mixed" is the mix
of a search page (words, phrases, filters with facets, near-duplicates,
sorts, second pages), "word" single words. Every request carries the key
of --api-key-file, or of $PICDEX_API_KEY, as a bearer token when one is
given.

It sends traffic to the URL given and nothing else; point it only at
servers you run.`,
}

func init() { loadgenCmd.run = runLoadgen }

func runLoadgen(ctx context.Context, e *env, args []string) int {
	c := loadgenCmd
	fs := c.flags()
	server := fs.String("server", "", "base `URL` of the server (required)")
	conns := fs.Int("conns", 100, "concurrent connections")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	mix := fs.String("mix", "mixed", "mixed or word")
	n := fs.Int("n", 100_000, "records of the synthetic corpus the vocabulary comes from")
	seed := fs.Int64("seed", 7, "seed of that corpus")
	keyFile := addAPIKeyFileFlag(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c.usageError(e, fs, fmt.Sprintf("--server %q: want http://HOST:PORT", *server))
	}
	if *conns < 1 || *conns > 10_000 || *duration <= 0 || *n < 1 || *n > 10_000_000 {
		return c.usageError(e, fs, "--conns must be 1..10000, --duration positive, --n 1..10000000")
	}
	recs, err := indexbench.SynthCorpus(ctx, *n, *seed)
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex loadgen: %v\n", err)
		return 1
	}
	v := apibench.NewVocabulary(recs)
	l := apibench.Load{BaseURL: strings.TrimSuffix(*server, "/"), Clients: *conns, Duration: *duration, Seed: uint64(*seed)}
	switch *mix {
	case "mixed":
		l.Workload = v.Mixed()
	case "word":
		l.Workload = v.SingleWord()
	default:
		return c.usageError(e, fs, fmt.Sprintf("--mix %q: want mixed or word", *mix))
	}
	key, err := clientKey(e, *keyFile)
	if err != nil {
		return c.usageError(e, fs, err.Error())
	}
	if key != "" {
		l.Keys = []string{key}
	}
	rep, err := l.Run(ctx, apibench.NewClient(*conns))
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex loadgen: %v\n", err)
		return 1
	}
	fmt.Fprintln(e.stdout, rep)
	for _, msg := range rep.FirstErrors {
		fmt.Fprintf(e.stdout, "  %s\n", msg)
	}
	if rep.Count5xx() > 0 || rep.Transport > 0 {
		return 1
	}
	return 0
}
