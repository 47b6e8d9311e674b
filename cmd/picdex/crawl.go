package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/crawler/feed"
	"github.com/picdex/picdex/crawler/files"
	"github.com/picdex/picdex/crawler/imagefile"
	"github.com/picdex/picdex/crawler/sink"
	"github.com/picdex/picdex/crawler/web"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/queue"
)

var crawlCmd = &command{
	name:     "crawl",
	synopsis: "crawl web pages, image files or a feed into records",
	usage:    "crawl (--url URL... | --dir DIR | --feed FILE) [--out FILE | --to URL | --brokers B,...] [flags]",
	help: `
Crawl turns where image metadata lives into records:

  --url URL    web pages: follows links within the start hosts (and
               --allow-host), honours robots.txt and a per-host delay, and
               emits every image a reader sees, with its alt text, caption,
               title and nearby text. --fetch-images also downloads each
               image for its real size, EXIF, perceptual hash and colours.
  --dir DIR    image files (JPEG, PNG, GIF, WebP, TIFF, HEIC): EXIF, XMP and
               IPTC, perceptual hash with --phash.
  --feed FILE  JSONL in the record schema, CSV with a header (--columns maps
               fields to columns), or MS-COCO caption annotations.

Records go to --out FILE (JSONL; "-" or nothing: standard output), to a
running picdex server with --to URL, or to Kafka with --brokers (topic
--topic, keyed by record id, acknowledged by all in-sync replicas). A
server with API keys gets the key in --api-key-file, or else in
$PICDEX_API_KEY (it needs the write scope).

With --state FILE the crawl saves where it is every few seconds; run the
same command again after an interruption and it continues from there
(--out is then appended to). The state file is removed when a crawl ends.

Inputs that cannot be used (unreachable pages, robots.txt refusals, corrupt
images, bad feed lines) are skipped and counted by reason; --verbose logs
each one. Web crawls refuse private, loopback and link-local addresses
unless --allow-private is given.

Exit status: 0 when the crawl ran to its end, 1 when it failed or was
interrupted, 2 for bad usage.`,
}

func init() { crawlCmd.run = runCrawl }

// checkpointEvery is how often a crawl with --state saves it.
const checkpointEvery = 5 * time.Second

func runCrawl(ctx context.Context, e *env, args []string) int {
	c := crawlCmd
	fs := c.flags()
	var urls, allowHosts listFlag
	fs.Var(&urls, "url", "start `URL` of a web crawl (repeatable)")
	dir := fs.String("dir", "", "`directory` of image files to crawl")
	feedPath := fs.String("feed", "", "feed `file` to read (JSONL, CSV or COCO; .gz too; - for standard input)")
	format := fs.String("format", "", "feed `format`: jsonl, csv or coco (default: from the name and content)")
	columns := fs.String("columns", "", "CSV column `mapping` field=column,... e.g. url=image_url,alt=caption")
	out := fs.String("out", "", "write records to this JSONL `file` (- for standard output, the default)")
	to := fs.String("to", "", "POST records to the picdex server at this `URL`")
	keyFile := addAPIKeyFileFlag(fs)
	brokers := fs.String("brokers", "", "publish records to the Kafka `brokers` B,...")
	topic := fs.String("topic", queue.DefaultTopic, "Kafka `topic` for --brokers (created when missing)")
	partitions := fs.Int("partitions", 12, "partitions of the topic when --brokers creates it")
	statePath := fs.String("state", "", "save progress to this `file` and resume from it")
	verbose := fs.Bool("verbose", false, "log every skipped input to standard error")

	var wo web.Options
	fs.Var(&allowHosts, "allow-host", "also crawl pages of this `host` (*.example.com for subdomains; repeatable)")
	fs.IntVar(&wo.MaxDepth, "max-depth", 3, "links to follow from a start URL (-1: start pages only)")
	fs.IntVar(&wo.MaxPages, "max-pages", 1000, "pages to fetch in all")
	fs.IntVar(&wo.PerHost, "per-host", 2, "requests at once to one host")
	fs.DurationVar(&wo.Delay, "delay", 250*time.Millisecond, "least time between two requests to one host (robots.txt Crawl-delay may ask for more; -1s: none)")
	fs.StringVar(&wo.UserAgent, "user-agent", web.DefaultUserAgent, "User-Agent header; its first word is what robots.txt is matched against")
	fs.DurationVar(&wo.Timeout, "timeout", 20*time.Second, "time limit of one request, body included")
	fs.BoolVar(&wo.AllowPrivate, "allow-private", false, "let a web crawl connect to private, loopback and link-local addresses")
	fs.BoolVar(&wo.FetchImages, "fetch-images", false, "download each image found on a page and read its bytes")
	fs.BoolVar(&wo.KeepDecorative, "keep-decorative", false, `emit decorative images too (spacers, trackers, icons, alt=""), marked "decorative"`)
	workers := fs.Int("workers", 0, "pages or files worked on at once (default: 8 for the web, the CPU count for files)")
	phash := fs.Bool("phash", false, "compute the perceptual hash of images read (files, or --fetch-images)")
	colors := fs.Bool("colors", false, "compute the dominant colours of images read (files, or --fetch-images)")

	positional, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return c.usageError(e, fs, "unexpected arguments: "+strings.Join(positional, " ")+" (start URLs go after --url)")
	}
	sources := 0
	for _, set := range []bool{len(urls) > 0, *dir != "", *feedPath != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return c.usageError(e, fs, "give exactly one of --url, --dir and --feed")
	}
	outputs := 0
	for _, set := range []bool{*out != "", *to != "", *brokers != ""} {
		if set {
			outputs++
		}
	}
	if outputs > 1 {
		return c.usageError(e, fs, "give at most one of --out, --to and --brokers")
	}
	if *workers < 0 || *workers > 1024 {
		return c.usageError(e, fs, fmt.Sprintf("--workers %d: must be between 1 and 1024", *workers))
	}

	tally := &crawler.Tally{}
	if *verbose {
		tally.Logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	imgOpts := imagefile.Options{PHash: *phash, Colors: *colors}

	var savedState []byte
	if *statePath != "" {
		b, err := os.ReadFile(*statePath)
		switch {
		case err == nil:
			savedState = b
		case !errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(e.stderr, "picdex crawl: --state: %v\n", err)
			return 1
		}
	}

	var src crawler.Source
	var stateOf func() ([]byte, error)
	var what string
	switch {
	case len(urls) > 0:
		wo.Seeds, wo.AllowHosts, wo.Workers, wo.Tally = urls, allowHosts, *workers, tally
		wo.ImagePHash, wo.ImageColors = *phash, *colors
		if wo.MaxDepth < 0 {
			wo.MaxDepth = -1
		}
		if wo.MaxPages == 0 {
			return c.usageError(e, fs, "--max-pages 0: nothing to crawl")
		}
		wc, err := web.New(wo)
		if err != nil {
			return c.usageError(e, fs, err.Error())
		}
		if savedState != nil {
			if err := wc.Restore(savedState); err != nil {
				fmt.Fprintf(e.stderr, "picdex crawl: --state %s: %v\n", *statePath, err)
				return 1
			}
		}
		src, stateOf, what = wc, wc.State, "web"
	case *dir != "":
		st := &fileState{Kind: "dir", Root: *dir}
		if err := st.restore(savedState); err != nil {
			fmt.Fprintf(e.stderr, "picdex crawl: --state %s: %v\n", *statePath, err)
			return 1
		}
		w := &files.Walker{Root: *dir, Options: imgOpts, Workers: *workers, After: st.After, Tally: tally}
		var mu sync.Mutex
		w.Progress = func(rel string) { mu.Lock(); st.After = rel; mu.Unlock() }
		stateOf = func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return json.Marshal(st) }
		src, what = w, "files"
	default:
		st := &fileState{Kind: "feed", Root: *feedPath}
		if err := st.restore(savedState); err != nil {
			fmt.Fprintf(e.stderr, "picdex crawl: --state %s: %v\n", *statePath, err)
			return 1
		}
		r := &feed.Reader{Path: *feedPath, Format: feed.Format(*format), Skip: st.Pos, Tally: tally}
		if *feedPath == "-" {
			r.Input = e.stdin
		}
		if *columns != "" {
			m, err := feed.ParseColumns(*columns)
			if err != nil {
				return c.usageError(e, fs, "--columns: "+err.Error())
			}
			r.Columns = m
		}
		var mu sync.Mutex
		r.Progress = func(pos int64) { mu.Lock(); st.Pos = pos; mu.Unlock() }
		stateOf = func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return json.Marshal(st) }
		src, what = r, "feed"
	}

	var dst crawler.Sink
	dest := "standard output"
	switch {
	case *brokers != "":
		ko := queue.KafkaOptions{Brokers: []string{*brokers}, Topic: *topic, Partitions: *partitions}
		if err := ko.Validate(); err != nil {
			return c.usageError(e, fs, "--brokers: "+err.Error())
		}
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		k, err := sink.NewKafka(kctx, ko)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex crawl: %v\n", err)
			return 1
		}
		dst, dest = k, "Kafka topic "+*topic
	case *to != "":
		key, err := clientKey(e, *keyFile)
		if err != nil {
			return c.usageError(e, fs, err.Error())
		}
		h, err := sink.NewHTTP(sink.HTTPOptions{URL: *to, Tally: tally, UserAgent: wo.UserAgent, APIKey: key})
		if err != nil {
			return c.usageError(e, fs, "--to: "+err.Error())
		}
		dst, dest = h, *to
	default:
		path := *out
		if path == "" {
			path = "-"
		}
		j, err := sink.NewJSONL(path, savedState != nil)
		if err != nil {
			fmt.Fprintf(e.stderr, "picdex crawl: --out: %v\n", err)
			return 1
		}
		dst = j
		if path != "-" {
			dest = path
		}
	}

	cp := &checkpointer{sink: dst, path: *statePath, state: stateOf}
	start := time.Now()
	prog := startProgress(e.stderr, tally, what, start)
	stopTicker := cp.tick(ctx)
	err := src.Crawl(ctx, cp.emit)
	stopTicker()
	prog.stop()

	failed := err != nil
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(e.stderr, "picdex crawl: %v\n", err)
	}
	// Deliver what was emitted, then record how far the crawl got.
	if cerr := cp.finish(context.WithoutCancel(ctx), err == nil); cerr != nil {
		fmt.Fprintf(e.stderr, "picdex crawl: %v\n", cerr)
		failed = true
	}
	summary(e.stderr, tally, what, dest, time.Since(start))
	if ctx.Err() != nil {
		if *statePath != "" {
			fmt.Fprintf(e.stderr, "picdex crawl: interrupted; run the same command again to continue from %s\n", *statePath)
		} else {
			fmt.Fprintln(e.stderr, "picdex crawl: interrupted")
		}
	}
	if failed {
		return 1
	}
	return 0
}

// fileState is the resume point of a directory walk or a feed.
type fileState struct {
	Kind  string `json:"kind"`
	Root  string `json:"root"`
	After string `json:"after,omitempty"` // last file emitted, relative to Root
	Pos   int64  `json:"pos,omitempty"`   // feed units consumed
}

func (s *fileState) restore(saved []byte) error {
	if saved == nil {
		return nil
	}
	var old fileState
	if err := json.Unmarshal(saved, &old); err != nil {
		return err
	}
	if old.Kind != s.Kind || old.Root != s.Root {
		return fmt.Errorf("saved by a crawl of %s %s, not this one", old.Kind, old.Root)
	}
	*s = old
	return nil
}

// checkpointer stands between a Source and its Sink. It serialises
// writes, and every few seconds takes the source's state, flushes the
// sink and then saves the state, in that order: everything the state
// counts as done has been delivered when the state reaches the disk.
type checkpointer struct {
	mu    sync.Mutex
	sink  crawler.Sink
	path  string // "" saves nothing
	state func() ([]byte, error)
	last  time.Time
}

func (cp *checkpointer) emit(ctx context.Context, r record.Record) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.sink.Write(ctx, r)
}

// tick checkpoints every checkpointEvery until the returned func is called.
func (cp *checkpointer) tick(ctx context.Context) (stop func()) {
	if cp.path == "" {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				cp.mu.Lock()
				_ = cp.checkpointLocked(ctx) // a failure here is retried at the next tick and reported at the end
				cp.mu.Unlock()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (cp *checkpointer) checkpointLocked(ctx context.Context) error {
	st, err := cp.state()
	if err != nil {
		return fmt.Errorf("crawl state: %w", err)
	}
	if err := cp.sink.Flush(ctx); err != nil {
		return err
	}
	if err := writeFileAtomic(cp.path, st); err != nil {
		return fmt.Errorf("saving crawl state: %w", err)
	}
	cp.last = time.Now()
	return nil
}

// finish closes the sink. A crawl that ran to its end removes its state;
// one that stopped early saves it for the next run.
func (cp *checkpointer) finish(ctx context.Context, complete bool) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var err error
	if cp.path != "" && !complete {
		err = cp.checkpointLocked(ctx)
	}
	if cerr := cp.sink.Close(ctx); cerr != nil && err == nil {
		err = cerr
	}
	if cp.path != "" && complete && err == nil {
		if rerr := os.Remove(cp.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	return err
}

// writeFileAtomic replaces path with data, or leaves it as it was.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// progress redraws one status line on a terminal once a second.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
	w    io.Writer
	on   bool
}

func startProgress(w io.Writer, t *crawler.Tally, what string, start time.Time) *progress {
	p := &progress{done: make(chan struct{}), w: w, on: isTerminal(w)}
	if !p.on {
		return p
	}
	p.wg.Go(func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tk.C:
				fmt.Fprintf(w, "\r\033[K%s", statusLine(t, what, time.Since(start)))
			}
		}
	})
	return p
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

func statusLine(t *crawler.Tally, what string, elapsed time.Duration) string {
	secs := max(elapsed.Seconds(), 1e-9)
	switch what {
	case "web":
		return fmt.Sprintf("%d pages (%.1f/s), %d images, %d skipped, %s",
			t.Pages.Load(), float64(t.Pages.Load())/secs, t.Records.Load(), t.SkippedTotal(), elapsed.Round(time.Second))
	case "files":
		return fmt.Sprintf("%d files (%.1f/s), %d images, %d skipped, %s",
			t.Files.Load(), float64(t.Files.Load())/secs, t.Records.Load(), t.SkippedTotal(), elapsed.Round(time.Second))
	}
	return fmt.Sprintf("%d records (%.1f/s), %d skipped, %s",
		t.Records.Load(), float64(t.Records.Load())/secs, t.SkippedTotal(), elapsed.Round(time.Second))
}

func summary(w io.Writer, t *crawler.Tally, what, dest string, elapsed time.Duration) {
	fmt.Fprintf(w, "picdex crawl: %s → %s in %s\n", statusLine(t, what, elapsed), dest, elapsed.Round(time.Millisecond))
	skipped := t.Skipped()
	reasons := make([]string, 0, len(skipped))
	for r := range skipped {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if skipped[reasons[i]] != skipped[reasons[j]] {
			return skipped[reasons[i]] > skipped[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	for _, r := range reasons {
		fmt.Fprintf(w, "  skipped %6d  %s\n", skipped[r], r)
	}
}
