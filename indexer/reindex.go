package indexer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/mapreduce"
)

// Split is one map task's share of a source file: the lines that start
// at a byte offset in [Start, End); End < 0 means to the end. A
// compressed file is one split, for it can only be read from its start.
type Split struct {
	Path       string
	Start, End int64
	// file is what Path was when the splits were made: a split whose
	// Path is another file by the time it is read (replaced, or a link
	// made to point elsewhere) is refused. A split that went through
	// Kafka (mapreduce.RunKafka) has only the file's size and time for
	// that.
	file    os.FileInfo
	Size    int64     `json:",omitempty"`
	ModTime time.Time `json:",omitzero"`
}

func (s Split) String() string {
	if s.Start == 0 && s.End < 0 {
		return s.Path
	}
	return fmt.Sprintf("%s[%d:%d]", s.Path, s.Start, s.End)
}

// DefaultSplitBytes is the size of the splits a plain JSONL file is cut
// into, so that one large file is read by all the map tasks.
const DefaultSplitBytes = 32 << 20

// FileSplits lists the splits of sources: JSONL files (".gz" ones are
// decompressed) and directories, such as a crawl's output, whose .jsonl
// and .jsonl.gz files (at any depth, in name order) are read. A plain
// file is cut into splits of about chunk bytes (0: DefaultSplitBytes).
// The splits come in source order, which is the order in which a later
// version of a record wins over an earlier one; a file named again (or
// through a link) is read once, where it first came.
func FileSplits(sources []string, chunk int64) ([]Split, int64, error) {
	if chunk <= 0 {
		chunk = DefaultSplitBytes
	}
	var files []string
	for _, src := range sources {
		fi, err := os.Stat(src)
		if err != nil {
			return nil, 0, err
		}
		if !fi.IsDir() {
			files = append(files, src)
			continue
		}
		var found []string
		err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".jsonl.gz")) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		if len(found) == 0 {
			return nil, 0, fmt.Errorf("%s: no .jsonl or .jsonl.gz files in it", src)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	var splits []Split
	var total int64
	seen := map[string]bool{} // a file named twice (or through a link) is read once
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f)
		if err == nil {
			real, err = filepath.Abs(real)
		}
		if err != nil {
			return nil, 0, err
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		fi, err := os.Stat(f)
		if err != nil {
			return nil, 0, err
		}
		if !fi.Mode().IsRegular() {
			return nil, 0, fmt.Errorf("%s: not a regular file", f)
		}
		total += fi.Size()
		if strings.HasSuffix(f, ".gz") || fi.Size() <= chunk {
			splits = append(splits, Split{Path: f, End: -1, file: fi, Size: fi.Size(), ModTime: fi.ModTime()})
			continue
		}
		for at := int64(0); at < fi.Size(); at += chunk {
			end := at + chunk
			if end >= fi.Size() {
				end = -1
			}
			splits = append(splits, Split{Path: f, Start: at, End: end, file: fi, Size: fi.Size(), ModTime: fi.ModTime()})
		}
	}
	return splits, total, nil
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Batch is how many records the shards write at once, all of them
	// together (default 10,000): each shard writes batches of Batch/shards
	// (at least minShardBatch). What a shard holds of a batch while it
	// analyses and writes it is most of a build's memory, so the bound is
	// on the sum, as a bulk load's batch is.
	Batch int
	// MaxBadInputs is how many invalid lines the build skips before it
	// fails (default 1,000; negative: no limit).
	MaxBadInputs int
	// Mappers is how many splits are read at once (0: one per CPU).
	Mappers int
	// Progress, when set, is called about every second, and at the end.
	Progress func(BuildProgress)
	// Bad, when set, is told each skipped line and why.
	Bad func(error)
}

// BuildProgress is how far a build has come.
type BuildProgress struct {
	Phase      string // "map" while reading, "done"
	BytesRead  int64
	BytesTotal int64
	Records    uint64 // valid records read
	Bad        uint64 // lines skipped
	Written    uint64 // records written to the shards
	Elapsed    time.Duration
}

// Rate is the records read per second so far.
func (p BuildProgress) Rate() float64 {
	return float64(p.Records) / max(p.Elapsed.Seconds(), 1e-9)
}

// ETA is the time left at the rate so far; false before it can be told.
func (p BuildProgress) ETA() (time.Duration, bool) {
	if p.BytesRead <= 0 || p.BytesTotal <= 0 || p.Elapsed <= 0 {
		return 0, false
	}
	left := float64(p.BytesTotal-p.BytesRead) / float64(p.BytesRead)
	return time.Duration(left * float64(p.Elapsed)), true
}

// BuildStats is what a finished build did.
type BuildStats struct {
	BuildProgress
	// Docs is the number of documents each shard must hold: the ids
	// whose last version in the source is not a delete.
	Docs []uint64
	// Sample is some ids the build wrote, for verification.
	Sample []string
}

// TotalDocs is the sum of Docs.
func (s BuildStats) TotalDocs() uint64 {
	var n uint64
	for _, d := range s.Docs {
		n += d
	}
	return n
}

// DefaultBuildBatch is BuildOptions.Batch's default: at 4 shards, 2,500
// records a shard at once, as fast as twice that and with 0.6 GiB less at
// the peak (100,000 gen records: 1.2 GiB, 11.1 s; 20,000: 1.9 GiB,
// 10.9 s; 5,000: 0.8 GiB, 12.9 s).
const DefaultBuildBatch = 10_000

// minShardBatch is the least a shard writes at once in a build.
const minShardBatch = 256

// maxSample is how many of the ids it wrote a shard gives BuildStats.
const maxSample = 16

// Build indexes the records of splits into ix, a new, empty index, as a
// map/reduce job run here (mapreduce.RunLocal): each map task parses and
// normalizes the lines of one split, each record goes to the shard its id
// routes to, and one reduce task per shard writes its records in batches.
// When an id comes more than once, its last version in source order wins
// (the one of the later split, or later in one split), whatever order the
// map tasks ran in; a delete ("op":"delete") removes the id.
func Build(ctx context.Context, ix *index.Index, splits []Split, total int64, opts BuildOptions) (BuildStats, error) {
	var read atomic.Int64
	return build(ctx, ix, splits, total, &read, opts, func(ctx context.Context, s Split, out *mapreduce.Emitter[record.Record]) error {
		return mapSplit(ctx, s, &read, out, opts.Bad, nil)
	})
}

// KafkaSplit is one partition of a records topic, from an offset to
// another (exclusive).
type KafkaSplit struct {
	Brokers   []string
	Topic     string
	Partition int
	From, To  int64
}

func (s KafkaSplit) String() string {
	return fmt.Sprintf("%s/%d[%d:%d]", s.Topic, s.Partition, s.From, s.To)
}

// KafkaSplits lists every partition of topic as a split, from its first
// offset to its end now, and returns the ends: where a consumer of the
// generation built from them goes on.
func KafkaSplits(ctx context.Context, brokers []string, topic string) ([]KafkaSplit, map[int]int64, error) {
	parts, err := topicPartitions(ctx, brokers, topic)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(parts)
	var splits []KafkaSplit
	ends := map[int]int64{}
	for _, p := range parts {
		first, last, err := partitionLog{brokers: brokers, topic: topic, part: p}.offsetRange(ctx)
		if err != nil {
			return nil, nil, err
		}
		ends[p] = last
		if last > first {
			splits = append(splits, KafkaSplit{Brokers: brokers, Topic: topic, Partition: p, From: first, To: last})
		}
	}
	return splits, ends, nil
}

// BuildKafka is Build from partitions of a records topic: each map task
// reads one partition's range, and an id's last version in it wins (an
// image's versions share a partition, keyed by id). Progress counts
// messages for bytes.
func BuildKafka(ctx context.Context, ix *index.Index, splits []KafkaSplit, opts BuildOptions) (BuildStats, error) {
	var read atomic.Int64
	var total int64
	for _, s := range splits {
		total += s.To - s.From
	}
	return build(ctx, ix, splits, total, &read, opts, func(ctx context.Context, s KafkaSplit, out *mapreduce.Emitter[record.Record]) error {
		return mapKafkaSplit(ctx, s, &read, out, opts.Bad)
	})
}

// mapKafkaSplit emits the records of one partition's range.
func mapKafkaSplit(ctx context.Context, s KafkaSplit, read *atomic.Int64, out *mapreduce.Emitter[record.Record], bad func(error)) error {
	in := make(chan Message, 1024)
	l := partitionLog{brokers: s.Brokers, topic: s.Topic, part: s.Partition, logger: slog.New(slog.DiscardHandler)}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	// The last offset of a partition is never compacted away (Kafka
	// compacts no active segment), so a range [From, To) taken from the
	// partition's end ends with a message at To-1.
	go func() { errc <- l.read(rctx, s.From, 100*time.Millisecond, in, nil) }()
	for {
		var m Message
		select {
		case m = <-in:
		case err := <-errc:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", s, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		if m.Offset >= s.To {
			return nil
		}
		read.Add(1)
		rec, err := Map(m)
		if err == nil {
			err = rec.Normalize()
		}
		if err != nil {
			if berr := badLine(out, bad, fmt.Errorf("%s/%d at offset %d: %s", s.Topic, s.Partition, m.Offset, strings.TrimPrefix(err.Error(), "invalid record: "))); berr != nil {
				return berr
			}
		} else if err := out.Emit(rec.ID, rec); err != nil {
			return err
		}
		if m.Offset+1 >= s.To {
			return nil
		}
	}
}

// build runs a build's job over splits of any kind, each mapped by mapf.
func build[S any](ctx context.Context, ix *index.Index, splits []S, total int64, read *atomic.Int64, opts BuildOptions,
	mapf func(context.Context, S, *mapreduce.Emitter[record.Record]) error) (BuildStats, error) {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBuildBatch
	}
	if opts.MaxBadInputs == 0 {
		opts.MaxBadInputs = 1000
	}
	n := ix.NumShards()
	perShard := max(opts.Batch/n, minShardBatch)
	var written atomic.Uint64
	docs := make([]uint64, n)
	samples := make([][]string, n)
	start := time.Now()
	job := &mapreduce.Job[S, record.Record]{
		Name:         "reindex",
		Splits:       splits,
		Partitions:   n,
		Partition:    index.ShardOf,
		MaxBadInputs: opts.MaxBadInputs,
		Map:          mapf,
		Reduce: func(ctx context.Context, shard int, in <-chan mapreduce.Pair[record.Record]) error {
			w := &shardWriter{ix: ix, shard: shard, batch: perShard, seen: map[string]order{}, written: &written}
			if err := w.run(ctx, in); err != nil {
				return err
			}
			docs[shard], samples[shard] = w.live, w.sample
			return nil
		},
	}
	progress := func(st mapreduce.Stats) BuildProgress {
		return BuildProgress{Phase: "map", BytesRead: read.Load(), BytesTotal: total, Records: st.Emitted, Bad: st.Bad,
			Written: written.Load(), Elapsed: time.Since(start)}
	}
	lo := mapreduce.LocalOptions{Mappers: opts.Mappers}
	if opts.Progress != nil {
		lo.Progress = func(st mapreduce.Stats) { opts.Progress(progress(st)) }
	}
	st, err := mapreduce.RunLocal(ctx, job, lo)
	res := BuildStats{BuildProgress: progress(st), Docs: docs}
	res.Phase = "done"
	for _, s := range samples {
		res.Sample = append(res.Sample, s...)
	}
	return res, err
}

// MapSplit is the map task of a build: it emits the records of the lines
// that start in s, keyed by id, adds the bytes it reads to read, reports
// each invalid line to bad (when set) and to out.Bad, and tells emitted
// (when set) the id of each record it emits other than a delete.
func MapSplit(ctx context.Context, s Split, read *atomic.Int64, out *mapreduce.Emitter[record.Record], bad func(error), emitted func(id string)) error {
	return mapSplit(ctx, s, read, out, bad, emitted)
}

// mapSplit emits the records of the lines that start in s.
func mapSplit(ctx context.Context, s Split, read *atomic.Int64, out *mapreduce.Emitter[record.Record], bad func(error), emitted func(string)) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if s.file != nil || !s.ModTime.IsZero() {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if (s.file != nil && !os.SameFile(st, s.file)) || (s.file == nil && (st.Size() != s.Size || !st.ModTime().Equal(s.ModTime))) {
			return fmt.Errorf("%s is no longer the file the job was started on", s.Path)
		}
	}
	// Progress counts the bytes of the file the split's lines take (the
	// compressed bytes read, for a compressed file), so that the splits
	// add up to the files' sizes.
	var r io.Reader = f
	gzipped := strings.HasSuffix(s.Path, ".gz")
	pos := s.Start
	if gzipped {
		gz, err := gzip.NewReader(&countingReader{r: f, n: read})
		if err != nil {
			return fmt.Errorf("%s: %w", s.Path, err)
		}
		defer gz.Close()
		r = gz
	} else if s.Start > 0 {
		// The line that holds byte Start-1 belongs to the split before,
		// which reads it to its end; this one starts after it.
		if _, err := f.Seek(s.Start-1, io.SeekStart); err != nil {
			return err
		}
		pos = s.Start - 1
	}
	br := bufio.NewReaderSize(r, record.MaxRecordBytes+1)
	if s.Start > 0 && !gzipped {
		skipped, err := skipLine(br)
		pos += skipped
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	for s.End < 0 || pos < s.End {
		if err := ctx.Err(); err != nil {
			return err
		}
		at := pos
		line, size, tooLong, err := readLineAt(br)
		pos += size
		if !gzipped {
			read.Add(size)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s at byte %d: %w", s.Path, at, err)
		}
		switch {
		case tooLong:
			if berr := badLine(out, bad, fmt.Errorf("%s at byte %d: line longer than %d bytes", s.Path, at, record.MaxRecordBytes)); berr != nil {
				return berr
			}
		case len(bytes.TrimSpace(line)) > 0:
			rec, perr := record.Parse(line)
			if perr == nil {
				perr = rec.Normalize()
			}
			if perr != nil {
				if berr := badLine(out, bad, fmt.Errorf("%s at byte %d: %s", s.Path, at, strings.TrimPrefix(perr.Error(), "invalid record: "))); berr != nil {
					return berr
				}
				break
			}
			if err := out.Emit(rec.ID, rec); err != nil {
				return err
			}
			if emitted != nil && rec.Op != record.OpDelete {
				emitted(rec.ID)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
	return nil
}

func badLine(out *mapreduce.Emitter[record.Record], report func(error), reason error) error {
	if report != nil {
		report(reason)
	}
	return out.Bad(reason)
}

// skipLine reads through the next newline and says how many bytes that was.
func skipLine(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if err != bufio.ErrBufferFull {
			return n, err
		}
	}
}

// readLineAt is readLine that also says how many bytes it consumed.
func readLineAt(br *bufio.Reader) (line []byte, size int64, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	size = int64(len(line))
	for err == bufio.ErrBufferFull {
		tooLong = true
		var more []byte
		more, err = br.ReadSlice('\n')
		size += int64(len(more))
	}
	if tooLong {
		return nil, size, true, err
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), size, false, err
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// order is where a version of a record stands in the source.
type order struct {
	split int
	seq   uint64
	live  bool // not a delete
}

func (o order) after(p order) bool {
	return o.split > p.split || o.split == p.split && o.seq > p.seq
}

// shardWriter is the reduce task of one shard: it keeps the last version
// of each id and writes in batches.
type shardWriter struct {
	ix      *index.Index
	shard   int
	batch   int
	seen    map[string]order
	buf     []record.Record
	inBuf   map[string]int // id -> its place in buf
	live    uint64         // ids whose last version is not a delete
	sample  []string       // ids whose last version is not a delete
	written *atomic.Uint64
}

func (w *shardWriter) run(ctx context.Context, in <-chan mapreduce.Pair[record.Record]) error {
	w.inBuf = map[string]int{}
	for p := range in {
		o := order{split: p.Split, seq: p.Seq, live: !p.Value.IsDelete()}
		prev, ok := w.seen[p.Key]
		if ok && !o.after(prev) {
			continue // a later version is written already
		}
		switch {
		case ok && prev.live && !o.live:
			w.live--
		case (!ok || !prev.live) && o.live:
			w.live++
		}
		w.seen[p.Key] = o
		if i, ok := w.inBuf[p.Key]; ok {
			w.buf[i] = p.Value
			continue
		}
		w.inBuf[p.Key] = len(w.buf)
		w.buf = append(w.buf, p.Value)
		if len(w.buf) >= w.batch {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for id, o := range w.seen {
		if len(w.sample) == maxSample {
			break
		}
		if o.live {
			w.sample = append(w.sample, id)
		}
	}
	return w.flush(ctx)
}

func (w *shardWriter) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.ix.ApplyShard(ctx, w.shard, w.buf, nil); err != nil {
		return fmt.Errorf("shard %d: %w", w.shard, err)
	}
	w.written.Add(uint64(len(w.buf)))
	w.buf = w.buf[:0]
	clear(w.inBuf)
	return nil
}

// SeedOffsets writes to every shard of ix that it has applied each
// partition of topic up to next[partition] (exclusive), as an Applier
// would have: a generation built beside a live one starts from the
// queue positions the live one had reached.
func SeedOffsets(ctx context.Context, ix *index.Index, topic string, next map[int]int64) error {
	if len(next) == 0 {
		return nil
	}
	internal := map[string][]byte{}
	for p, off := range next {
		if off < 0 {
			return errors.New("a negative offset")
		}
		internal[internalKey(topic, p)] = []byte(fmt.Sprint(off - 1))
	}
	for s := range ix.NumShards() {
		if err := ix.ApplyShard(ctx, s, nil, internal); err != nil {
			return err
		}
	}
	return nil
}
