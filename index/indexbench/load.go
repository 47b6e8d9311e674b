package indexbench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// Batch sizes of the load suite: picdex as its indexer writes, bleve as
// its documentation suggests.
const (
	picdexBatch = 5000
	bleveBatch  = 1000
)

// Target of the load suite.
const loadTargetRatio = 3.0

// loader bulk-loads records into a new index in dir and closes it; when it
// returns nil everything is on disk.
type loader struct {
	name string
	load func(ctx context.Context, dir string, recs []record.Record) error
}

func picdexLoader(shards int) loader {
	return loader{"picdex", func(ctx context.Context, dir string, recs []record.Record) error {
		return loadPicdex(ctx, dir, shards, recs)
	}}
}

var bleveLoader = loader{"bleve-default", LoadBleveDefault}

func loadPicdex(ctx context.Context, dir string, shards int, recs []record.Record) error {
	ix, err := index.Open(dir, index.Options{Shards: shards})
	if err != nil {
		return err
	}
	for i := 0; i < len(recs); i += picdexBatch {
		if err := ix.Apply(ctx, recs[i:min(i+picdexBatch, len(recs))]); err != nil {
			ix.Close()
			return err
		}
	}
	return ix.Close()
}

// LoadBleveDefault is what a bleve user writes first: the default mapping
// and the record struct handed to Batch.Index, in 1,000-record batches,
// into a new index at dir, which it closes.
func LoadBleveDefault(ctx context.Context, dir string, recs []record.Record) error {
	idx, err := bleve.New(dir, bleve.NewIndexMapping())
	if err != nil {
		return err
	}
	b := idx.NewBatch()
	flush := func() error {
		if b.Size() == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := idx.Batch(b)
		b.Reset()
		return err
	}
	for i := range recs {
		if err := b.Index(recs[i].ID, recs[i]); err != nil {
			idx.Close()
			return fmt.Errorf("record %s: %w", recs[i].ID, err)
		}
		if b.Size() >= bleveBatch {
			if err := flush(); err != nil {
				idx.Close()
				return err
			}
		}
	}
	if err := flush(); err != nil {
		idx.Close()
		return err
	}
	return idx.Close()
}

// loadResult is one timed load.
type loadResult struct {
	engine     string
	records    int
	dur        time.Duration
	allocBytes uint64 // heap bytes allocated during the load
	allocs     uint64 // heap objects allocated during the load
	diskBytes  int64
	others     string // CPUs other processes kept busy meanwhile
}

func (r loadResult) perSecond() float64 { return float64(r.records) / r.dur.Seconds() }
func (r loadResult) bytesPerRecord() float64 {
	return float64(r.allocBytes) / float64(r.records)
}
func (r loadResult) allocsPerRecord() float64 { return float64(r.allocs) / float64(r.records) }

// measureLoad runs one load into a fresh directory under scratch, timing
// from opening the index to closing it, and removes the directory after.
func measureLoad(ctx context.Context, scratch string, l loader, recs []record.Record) (loadResult, error) {
	dir, err := os.MkdirTemp(scratch, l.name+"-")
	if err != nil {
		return loadResult{}, err
	}
	defer os.RemoveAll(dir)
	dir = filepath.Join(dir, "index")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu := time.Now(), sampleCPU()
	err = l.load(ctx, dir, recs)
	dur := time.Since(start)
	others := "-"
	if n, ok := otherCPUs(cpu, sampleCPU()); ok {
		others = fmt.Sprintf("%.2f", n)
	}
	runtime.ReadMemStats(&after)
	if err != nil {
		return loadResult{}, fmt.Errorf("%s load: %w", l.name, err)
	}
	return loadResult{
		engine:     l.name,
		records:    len(recs),
		dur:        dur,
		allocBytes: after.TotalAlloc - before.TotalAlloc,
		allocs:     after.Mallocs - before.Mallocs,
		diskBytes:  dirSize(dir),
		others:     others,
	}, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// loadSuite compares picdex's bulk load with bleve's default, alternating
// which goes first so neither always runs on a cooler machine.
func loadSuite(ctx context.Context, w io.Writer, o Options, scratch string, recs []record.Record) error {
	fmt.Fprintf(w, "\n== load: bulk load of %d synth records (picdex: %d shards, batches of %d; bleve-default: 1 index, batches of %d), %d repeats ==\n",
		len(recs), o.Shards, picdexBatch, bleveBatch, o.Repeat)
	fmt.Fprintf(w, "%-4s %-14s %11s %9s %11s %11s %10s %12s\n", "run", "engine", "records/s", "time", "alloc/rec", "allocs/rec", "disk", "others' CPUs")
	engines := []loader{picdexLoader(o.Shards), bleveLoader}
	results := map[string][]loadResult{}
	for run := 1; run <= o.Repeat; run++ {
		order := engines
		if run%2 == 0 {
			order = []loader{engines[1], engines[0]}
		}
		for _, l := range order {
			r, err := measureLoad(ctx, scratch, l, recs)
			if err != nil {
				return err
			}
			results[l.name] = append(results[l.name], r)
			fmt.Fprintf(w, "%-4d %-14s %11.0f %9s %11s %11.0f %10s %12s\n", run, r.engine, r.perSecond(),
				r.dur.Round(time.Millisecond), formatBytes(r.bytesPerRecord()), r.allocsPerRecord(), formatBytes(float64(r.diskBytes)), r.others)
		}
	}
	med := map[string]float64{}
	for _, l := range engines {
		rs := results[l.name]
		rates := make([]float64, len(rs))
		perRec := make([]float64, len(rs))
		objs := make([]float64, len(rs))
		for i, r := range rs {
			rates[i], perRec[i], objs[i] = r.perSecond(), r.bytesPerRecord(), r.allocsPerRecord()
		}
		med[l.name] = Median(rates)
		fmt.Fprintf(w, "median %-14s %11.0f records/s %11s/rec allocated %8.0f allocs/rec\n",
			l.name, med[l.name], formatBytes(Median(perRec)), Median(objs))
	}
	ratio := med[engines[0].name] / med[engines[1].name]
	fmt.Fprintf(w, "ratio picdex/bleve-default (median records/s): %.2fx   target >= %.1fx: %s\n",
		ratio, loadTargetRatio, PassFail(ratio >= loadTargetRatio))
	return nil
}
