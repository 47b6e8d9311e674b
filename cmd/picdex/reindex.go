package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/indexer"
)

var reindexCmd = &command{
	name:     "reindex",
	synopsis: "build a new index generation from a source, then switch to it",
	usage: "reindex --from SOURCE[,SOURCE...]|live:// (--data DIR [--keep K] [--batch N] [--max-bad N] | --server URL [--api-key-file F]) [--shards N]\n" +
		"        reindex --from SOURCE[,...]|kafka://BROKERS/TOPIC --brokers B,... [--shards N] [--replicas R] [--mappers M] [--wait D] [--keep K] [--max-bad N] [--topic T]",
	help: `
Reindex builds a new generation of the index in DIR from SOURCE and, once
it is verified, makes it the live one; the generation live before is kept
for "picdex rollback". A SOURCE is a JSONL file (.gz too) or a directory,
such as a crawl's output, whose .jsonl and .jsonl.gz files are all read;
or kafka://BROKERS/TOPIC, every partition of the records topic from its
first offset to its end when the reindex starts (a compacted
picdex.images holds every image's last version), after which "picdex
indexer --data DIR" and "serve --brokers" go on from where it stopped;
or live:// (with --data, alone), the records the live generation itself
stores: what rebuilds an index after an upgrade changed the mapping
version ("built with mapping version 1, this picdex writes 2"), or
reshards it, when the index is all there is of its records. If
an id comes more than once, its last version wins (in the order the
sources are given, and within a file the later line); "op":"delete"
removes it.

The build is a map/reduce job on all the cores: map tasks parse and
validate the records of parts of the files, each record goes to the shard
its id routes to, and one reduce task per shard writes that shard. With
--shards N the new generation has N shards (resharding is this full
rebuild: jump hashing moves as few records as it can between shard counts,
but every shard is written anew); by default it has as many as the live
generation (4 for a new directory). Invalid lines are reported on standard
error as FILE at byte N: reason, and skipped; more than --max-bad of them
fails the build.

Before the switch the new generation is verified: each shard holds the
documents the build wrote, its mapping version is this picdex's, a sample
of the ids is found, and a search is answered by the new generation and
the old. Only then does the live generation change, atomically: a process
that dies during the build leaves the live generation as it was, and the
next reindex removes the unfinished build and starts over. The new
generation continues from the write-queue position the old one had
reached, so records written to "picdex serve" and not yet applied are
applied to it when serve starts. --keep K keeps K generations besides the
live one (default 1, the one rollback returns to); older ones are deleted.

DIR must not be in use. To reindex a running "picdex serve", give its
--server URL instead: the job runs in the server (POST /v1/admin/reindex,
with the admin key in --api-key-file or $PICDEX_API_KEY when it has keys),
the SOURCEs are paths on the server under its --reindex-roots, writes go
on meanwhile and are in the new generation, and this command follows the
job to its end (Ctrl-C stops following, not the job). On a terminal a
progress bar shows records per second and the time left; otherwise a line
every five seconds.

On a cluster (--brokers, or a kafka:// source) the new generation G+1 is
described in picdex.cluster with its shard log picdex.shards.G+1, and
built as a map/reduce job whose reduce tasks are the replicas of G+1 on
the shard servers; start those (picdex shard-server --generation G+1
--shards ..., on any machines; they wait for G+1 to exist) and this
command waits for them. From kafka://BROKERS/TOPIC (the records topic,
log-compacted, holding every image's last version) the map tasks are the
routers already running: each joins the group of G+1 and routes TOPIC
from its first offset. From files, the map tasks are --mappers members
of a consumer group here, handed the files' splits through the topic
picdex.reindex.G+1.splits, writing the records to the shard log; once
they are done the routers route to G+1 what was written to TOPIC from
the moment the job started (an id in two splits of the files keeps the
version applied last, which every replica agrees on, rather than the
later one in source order). Either way G+1 follows the stream, and once
its routers have caught up, every shard has --replicas caught-up
replicas, and it is verified (mapping version, replicas agreeing, sampled
ids found, a search answered by both), it is made live; G stays ready
(its routers keep it up to date) for "picdex rollback --brokers B". A
reindex killed mid-build is resumed by running it again; one of another
source meanwhile is refused while the build is alive. Generations beyond
--keep are retired and their shard logs deleted.

Exit status: 0 when the new generation is live, 1 on any failure (the live
generation is then unchanged).`,
}

var rollbackCmd = &command{
	name:     "rollback",
	synopsis: "make the generation live before the last switch live again",
	usage:    "rollback (--data DIR | --server URL [--api-key-file F] | --brokers B,...)",
	help: `
Rollback makes the generation that was live before the last reindex (or
rollback) live again, in DIR; the one it replaces is kept, so a second
rollback goes forward again. DIR must not be in use: stop "picdex serve"
on it first; or give a running serve's --server URL. With --brokers it
makes the most recent ready generation before the live one live on the
cluster (or, with none, the most recent after it: forward again); query
servers switch within seconds, each search on one generation.`,
}

func init() {
	reindexCmd.run = runReindex
	rollbackCmd.run = runRollback
}

// keepDefault is how many generations besides the live one a reindex
// keeps: the previous, for rollback.
const keepDefault = 1

func runReindex(ctx context.Context, e *env, args []string) int {
	c := reindexCmd
	fs := c.flags()
	var from commaList
	fs.Var(&from, "from", "the `SOURCE`s: JSONL files (.gz too) and directories of them")
	data := fs.String("data", "./data", "index `directory`")
	shards := fs.Int("shards", 0, "shards of the new generation (0: as the live one, 4 for a new directory)")
	keep := fs.Int("keep", keepDefault, "generations kept besides the live one (older ones are deleted)")
	batch := fs.Int("batch", indexer.DefaultBuildBatch, "records the shards write at once, all together")
	maxBad := fs.Int("max-bad", 1000, "invalid lines skipped before the build fails (-1: no limit)")
	server := fs.String("server", "", "reindex the running serve at this `URL` instead of --data")
	brokers := fs.String("brokers", "", "reindex the cluster on these Kafka `brokers` B,... instead of --data")
	topic := fs.String("topic", "picdex.images", "cluster: the records `topic` the routers read")
	replicas := fs.Int("replicas", 1, "cluster: caught-up replicas each shard of the new generation needs before the switch")
	mappers := fs.Int("mappers", 0, "cluster: map tasks this process runs (0: one per core)")
	wait := fs.Duration("wait", 30*time.Minute, "cluster: longest to wait for the new generation's replicas to catch up")
	keyFile := addAPIKeyFileFlag(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var kafkaSrc []string
	for _, src := range from {
		if strings.HasPrefix(src, "kafka://") {
			kafkaSrc = append(kafkaSrc, src)
		}
	}
	if *brokers != "" || (len(kafkaSrc) > 0 && !set["data"]) {
		for _, local := range []string{"data", "batch", "server"} {
			if set[local] {
				return c.usageError(e, fs, "--"+local+" is not for a reindex of a cluster (--brokers or a kafka:// source)")
			}
		}
		if slices.Contains(from, liveSource) {
			return c.usageError(e, fs, liveSource+" is for a reindex of --data; a cluster rebuilds from kafka://")
		}
		o := &clusterReindex{topic: *topic, from: from, shards: *shards, replicas: *replicas, mappers: *mappers,
			maxBad: *maxBad, keep: *keep, wait: *wait, stderr: e.stderr}
		if len(kafkaSrc) > 0 {
			if len(from) > 1 {
				return c.usageError(e, fs, "a kafka:// source goes alone in --from")
			}
			b, t, err := parseKafkaSource(kafkaSrc[0])
			if err != nil {
				return c.usageError(e, fs, err.Error())
			}
			if set["topic"] && t != *topic {
				return c.usageError(e, fs, fmt.Sprintf("--from names topic %s, --topic %s", t, *topic))
			}
			o.kafkaSrc, o.topic, o.brokers = true, t, b
		}
		if *brokers != "" {
			o.brokers = strings.Split(*brokers, ",")
		}
		switch {
		case *shards < 0 || *shards > index.MaxShards:
			return c.usageError(e, fs, fmt.Sprintf("--shards %d: must be between 1 and %d", *shards, index.MaxShards))
		case *replicas < 1 || *mappers < 0 || *wait <= 0 || *keep < 0 || *maxBad < -1:
			return c.usageError(e, fs, "--replicas must be 1 or more, --wait positive, --mappers, --keep and --max-bad (-1: no limit) not negative")
		}
		key, err := clientKey(e, *keyFile)
		if err != nil {
			return c.usageError(e, fs, err.Error())
		}
		o.apiKey = key
		return o.run(ctx, e)
	}
	switch {
	case len(rest) > 0:
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q (sources go in --from)", rest[0]))
	case len(from) == 0:
		return c.usageError(e, fs, "--from is required")
	case *shards < 0 || *shards > index.MaxShards:
		return c.usageError(e, fs, fmt.Sprintf("--shards %d: must be between 1 and %d", *shards, index.MaxShards))
	case *keep < 0:
		return c.usageError(e, fs, "--keep must not be negative")
	case *batch < 1 || *batch > 1_000_000:
		return c.usageError(e, fs, fmt.Sprintf("--batch %d: must be between 1 and 1000000", *batch))
	case *maxBad < -1:
		return c.usageError(e, fs, "--max-bad must be -1 (no limit) or more")
	}
	var kafkaBrokers []string
	var kafkaTopic string
	stored := false
	for _, src := range from {
		switch {
		case src == liveSource:
			if len(from) > 1 {
				return c.usageError(e, fs, liveSource+" goes alone in --from")
			}
			if *server != "" {
				return c.usageError(e, fs, liveSource+" is for a reindex of --data")
			}
			stored = true
		case strings.HasPrefix(src, "kafka://"):
			if len(from) > 1 {
				return c.usageError(e, fs, "a kafka:// source goes alone in --from")
			}
			b, t, err := parseKafkaSource(src)
			if err != nil {
				return c.usageError(e, fs, err.Error())
			}
			kafkaBrokers, kafkaTopic = b, t
		case strings.Contains(src, "://"):
			return c.usageError(e, fs, fmt.Sprintf("--from %s: a source is a file or a directory, or kafka://BROKERS/TOPIC", src))
		}
	}
	for _, cl := range []string{"topic", "replicas", "mappers", "wait"} {
		if set[cl] {
			return c.usageError(e, fs, "--"+cl+" is for a reindex of a cluster (--brokers)")
		}
	}
	if *server != "" {
		for _, local := range []string{"data", "keep", "batch", "max-bad"} {
			if set[local] {
				return c.usageError(e, fs, "--"+local+" is for a reindex of --data; the server has its own")
			}
		}
		key, err := clientKey(e, *keyFile)
		if err != nil {
			return c.usageError(e, fs, err.Error())
		}
		return reindexRemote(ctx, e, *server, key, from, *shards)
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "picdex reindex: %v\n", err)
		return 1
	}
	unlock, err := lockData(*data)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	var splits []indexer.Split
	var kafkaSplits []indexer.KafkaSplit
	var kafkaEnds map[int]int64
	var total int64
	source := strings.Join(from, ",")
	if stored {
		file, n, err := exportLive(ctx, *data)
		if err != nil {
			return fail(err)
		}
		defer os.Remove(file)
		fmt.Fprintf(e.stderr, "read %d records stored in the live generation\n", n)
		from = []string{file}
	}
	if kafkaTopic != "" {
		kafkaSplits, kafkaEnds, err = indexer.KafkaSplits(ctx, kafkaBrokers, kafkaTopic)
	} else {
		splits, total, err = indexer.FileSplits(from, 0)
	}
	if err != nil {
		return fail(err)
	}
	m, err := generation.Load(*data)
	if err != nil {
		return fail(err)
	}
	old, hasOld := m.LiveGeneration()
	n := *shards
	if n == 0 {
		n = 4
		if hasOld {
			n = old.Shards
		}
	}
	// The write-queue position the live generation reached, which the
	// new one continues from.
	var offsets map[int]int64
	if hasOld {
		if offsets, err = queueOffsets(m.Path(old)); err != nil {
			return fail(fmt.Errorf("reading the live generation %d: %w", old.ID, err))
		}
	}
	g, err := m.Begin(n, source, time.Now())
	if err != nil {
		return fail(err)
	}
	abandon := func(err error) int {
		if aerr := m.Abandon(g.ID); aerr != nil {
			fmt.Fprintf(e.stderr, "picdex reindex: removing the failed build: %v\n", aerr)
		}
		if hasOld {
			fmt.Fprintf(e.stderr, "picdex reindex: generation %d stays live\n", old.ID)
		}
		return fail(err)
	}
	if kafkaTopic != "" {
		fmt.Fprintf(e.stderr, "building generation %d (%d shards) from %s: %d partitions to their ends now\n", g.ID, n, g.Source, len(kafkaSplits))
	} else {
		fmt.Fprintf(e.stderr, "building generation %d (%d shards) from %s: %d splits, %s\n", g.ID, n, g.Source, len(splits), byteSize(total))
	}
	ix, err := index.Open(m.Path(g), index.Options{Shards: n, IdleMerge: -1})
	if err != nil {
		return abandon(err)
	}
	bar := newProgressBar(e.stderr, isTerminal(e.stderr))
	bo := indexer.BuildOptions{Batch: *batch, MaxBadInputs: *maxBad, Progress: bar.update, Bad: func(err error) { bar.println(err.Error()) }}
	var st indexer.BuildStats
	if kafkaTopic != "" {
		st, err = indexer.BuildKafka(ctx, ix, kafkaSplits, bo)
	} else {
		st, err = indexer.Build(ctx, ix, splits, total, bo)
	}
	bar.clear()
	if err == nil {
		err = indexer.SeedOffsets(ctx, ix, indexer.EmbeddedTopic, offsets)
	}
	if err == nil && kafkaTopic != "" {
		// A consumer of the topic ("picdex indexer --data", "serve
		// --brokers") goes on from where the build stopped reading.
		err = indexer.SeedOffsets(ctx, ix, kafkaTopic, kafkaEnds)
	}
	if err == nil {
		err = verifyGeneration(ctx, ix, st)
	}
	if cerr := ix.Close(); err == nil && cerr != nil {
		err = cerr
	}
	oldMapping := false // the live generation is of another mapping version
	if err == nil && hasOld {
		err = answersSearches(ctx, m.Path(old))
		if errors.Is(err, index.ErrMappingVersion) {
			oldMapping, err = true, nil
		}
	}
	if err == nil && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if err != nil {
		return abandon(err)
	}
	qo := map[string]int64{}
	for p, off := range offsets {
		qo[fmt.Sprint(p)] = off
	}
	if err := m.Finish(g.ID, st.Docs, st.Records, st.Bad, qo, time.Now()); err != nil {
		return abandon(err)
	}
	if err := m.Switch(g.ID, time.Now()); err != nil {
		return fail(err)
	}
	if oldMapping {
		// This picdex cannot serve it: no rollback goes back to it.
		if err := m.Forget(); err != nil {
			return fail(err)
		}
	}
	if err := m.Retire(*keep); err != nil {
		fmt.Fprintf(e.stderr, "picdex reindex: retiring old generations: %v\n", err)
	}
	rate := float64(st.Records) / max(st.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(e.stdout, "generation %d is live: %d documents in %d shards, from %d records (%d invalid) in %s (%.0f records/s)\n",
		g.ID, st.TotalDocs(), n, st.Records, st.Bad, st.Elapsed.Round(time.Millisecond), rate)
	switch {
	case oldMapping:
		fmt.Fprintf(e.stdout, "generation %d, of another mapping version, is not kept for rollback: this picdex cannot serve it\n", old.ID)
	case hasOld:
		fmt.Fprintf(e.stdout, "generation %d is kept: picdex rollback --data %s goes back to it\n", old.ID, *data)
	}
	return 0
}

func runRollback(ctx context.Context, e *env, args []string) int {
	c := rollbackCmd
	fs := c.flags()
	data := fs.String("data", "./data", "index `directory`")
	server := fs.String("server", "", "roll back the running serve at this `URL` instead of --data")
	brokers := fs.String("brokers", "", "roll back the cluster on these Kafka `brokers` B,... instead of --data")
	keyFile := addAPIKeyFileFlag(fs)
	rest, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(e, fs, fmt.Sprintf("unexpected argument %q", rest[0]))
	}
	if *brokers != "" {
		return rollbackCluster(ctx, e, strings.Split(*brokers, ","))
	}
	if *server != "" {
		key, err := clientKey(e, *keyFile)
		if err != nil {
			return c.usageError(e, fs, err.Error())
		}
		return rollbackRemote(ctx, e, *server, key)
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "picdex rollback: %v\n", err)
		return 1
	}
	unlock, err := lockData(*data)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	m, err := generation.Load(*data)
	if err != nil {
		return fail(err)
	}
	from := m.Live
	g, err := m.Rollback(time.Now())
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.stdout, "generation %d is live again (%d shards); generation %d is kept: a second rollback returns to it\n", g.ID, g.Shards, from)
	return 0
}

// lockData takes the data directory, saying what to do when it is in use.
func lockData(dir string) (func(), error) {
	unlock, err := generation.Lock(dir)
	if errors.Is(err, generation.ErrInUse) {
		return nil, fmt.Errorf("%w (stop the picdex serve or index that has it first)", err)
	}
	return unlock, err
}

// liveSource as --from rebuilds from the records the live generation of
// --data stores.
const liveSource = "live://"

// exportLive writes the records stored in the live generation of dir to
// a JSONL file in dir, and returns its path and how many it holds.
func exportLive(ctx context.Context, dir string) (string, int64, error) {
	m, err := generation.Load(dir)
	if err != nil {
		return "", 0, err
	}
	path := dir
	if g, ok := m.LiveGeneration(); ok {
		path = m.Path(g)
	} else if !index.Exists(dir) {
		return "", 0, fmt.Errorf("%s holds no index to rebuild from", dir)
	}
	f, err := os.CreateTemp(dir, ".live-records-*.jsonl")
	if err != nil {
		return "", 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := index.ExportStored(ctx, path, func(raw json.RawMessage) error {
		bw.Write(raw)
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("reading the records of the live generation: %w", err)
	}
	return f.Name(), n, nil
}

// openLive opens the live generation of the data directory dir, or,
// when it has none, creates the index in dir itself (generation 1).
func openLive(dir string, opts index.Options) (*index.Index, error) {
	m, err := generation.Load(dir)
	if err != nil {
		return nil, err
	}
	if g, ok := m.LiveGeneration(); ok {
		return index.Open(m.Path(g), opts)
	}
	return index.Open(dir, opts)
}

// openLiveForWrites is openLive for a command that writes to the live
// generation by itself (picdex index, indexer --data): the generation
// kept for rollback would miss those writes, so it is no longer kept,
// and warn says so.
func openLiveForWrites(dir string, opts index.Options, warn io.Writer) (*index.Index, error) {
	m, err := generation.Load(dir)
	if err != nil {
		return nil, err
	}
	if prev := m.Previous; prev != 0 {
		if err := m.Forget(); err != nil {
			return nil, err
		}
		fmt.Fprintf(warn, "picdex: generation %d is no longer kept for rollback: generation %d is written to without it\n", prev, m.Live)
	}
	return openLive(dir, opts)
}

// liveExists reports whether dir holds an index (in any generation).
func liveExists(dir string) bool {
	m, err := generation.Load(dir)
	if err != nil {
		return index.Exists(dir)
	}
	_, ok := m.LiveGeneration()
	return ok
}

// queueOffsets reads the embedded write queue's positions that the index
// in dir has applied.
func queueOffsets(dir string) (map[int]int64, error) {
	// Only read: a live generation of another mapping version (which a
	// rebuild from live:// replaces) is read as any other.
	ix, err := index.Open(dir, index.Options{IdleMerge: -1, OtherMapping: true})
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	a := indexer.NewApplier(ix)
	out := map[int]int64{}
	for p := range indexer.EmbeddedPartitions {
		off, err := a.Resume(indexer.EmbeddedTopic, p)
		if err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, nil
}

// verifyGeneration checks a build before it may go live: what
// indexer.VerifyBuild checks, and a search of everything finds every
// document.
func verifyGeneration(ctx context.Context, ix *index.Index, st indexer.BuildStats) error {
	if err := indexer.VerifyBuild(ctx, ix, st); err != nil {
		return err
	}
	res, err := ix.Search(ctx, &index.Request{Size: new(1)})
	if err != nil {
		return fmt.Errorf("verification search: %w", err)
	}
	if res.Total != st.TotalDocs() {
		return fmt.Errorf("verification: a search of everything finds %d documents, the build wrote %d", res.Total, st.TotalDocs())
	}
	return nil
}

// answersSearches checks that the index in dir (the generation a switch
// leaves, kept for rollback) still opens and answers.
func answersSearches(ctx context.Context, dir string) error {
	ix, err := index.Open(dir, index.Options{IdleMerge: -1})
	if err != nil {
		return fmt.Errorf("the live generation: %w", err)
	}
	defer ix.Close()
	if _, err := ix.Search(ctx, &index.Request{Size: new(1)}); err != nil {
		return fmt.Errorf("the live generation does not answer: %w", err)
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// progressBar draws a build's progress: a bar redrawn in place on a
// terminal, a line every plainEvery otherwise.
type progressBar struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
	drawn    bool
	last     time.Time
}

const (
	plainEvery = 5 * time.Second
	barWidth   = 30
)

func newProgressBar(w io.Writer, terminal bool) *progressBar {
	return &progressBar{w: w, terminal: terminal}
}

func (b *progressBar) update(p indexer.BuildProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = min(float64(p.BytesRead)/float64(p.BytesTotal), 1)
	}
	eta := "?"
	if d, ok := p.ETA(); ok {
		eta = d.Round(time.Second).String()
	}
	line := fmt.Sprintf("%3.0f%%  %d records  %.0f records/s  %d invalid  ETA %s", 100*frac, p.Records, p.Rate(), p.Bad, eta)
	if !b.terminal {
		if time.Since(b.last) >= plainEvery {
			fmt.Fprintln(b.w, line)
			b.last = time.Now()
		}
		return
	}
	full := int(frac * barWidth)
	fmt.Fprintf(b.w, "\r[%s%s] %s\x1b[K", strings.Repeat("=", full), strings.Repeat(" ", barWidth-full), line)
	b.drawn = true
}

// println prints a line of its own, above the bar.
func (b *progressBar) println(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
	fmt.Fprintln(b.w, line)
}

// clear removes the bar, at the end.
func (b *progressBar) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
}

func (b *progressBar) erase() {
	if b.terminal && b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}
