package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/mapreduce"
)

// ErrNotFound is returned by Get for an id the index does not hold.
var ErrNotFound = errors.New("image not found")

// ErrShardCount means the index on disk has another number of shards than
// the caller asked for; resharding is a reindex.
var ErrShardCount = errors.New("shard count mismatch")

// Options configure Open.
type Options struct {
	// Shards is the number of shards of a new index (default 4). For an
	// existing index, 0 means "as on disk"; another value must match.
	Shards int
	// OtherMapping opens an index built with another mapping version
	// (which Open otherwise refuses with ErrMappingVersion) to read what
	// it stores, its records and its offsets, as a rebuild from it does
	// (picdex reindex --from live://): not to search or write it, since
	// this picdex's analysis is not the one it was built with.
	OtherMapping bool
	Fanout       FanoutOptions
	// Warm builds every shard's search caches in the background after
	// opening (see Index.Warm and Index.Warmed): for servers, which
	// should not take searches cold. Bulk loads leave it off.
	Warm bool
	// IdleMerge is how long a shard waits without writes before it merges
	// its segments into one (see DefaultIdleMerge); 0 means
	// DefaultIdleMerge, a negative value never.
	IdleMerge time.Duration
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Shards < 0 || o.Shards > MaxShards {
		return fmt.Errorf("shards: %d is not between 1 and %d", o.Shards, MaxShards)
	}
	return nil
}

// MaxShards bounds the shards of an index.
const MaxShards = 1024

const manifestName = "picdex-index.json"

// manifest records what a directory holds, so a later Open (or another
// binary) routes documents exactly as the writer did.
type manifest struct {
	Shards         int    `json:"shards"`
	MappingVersion int    `json:"mapping_version"`
	Routing        string `json:"routing"`
}

const routing = "jump-fnv1a64"

// Index is a sharded image-metadata index in one directory. It is safe for
// concurrent use.
type Index struct {
	dir    string
	shards []*localShard
	fan    *Fanout

	stopWarm func()
	warmDone chan struct{} // closed when the warming Open started ends

	stopIdle func()
	idleDone chan struct{} // closed when the idle merging ends
	// idleMerges counts the shards merged for being idle.
	idleMerges atomic.Int64
}

// Open opens the index in dir, creating it when absent.
func Open(dir string, opts Options) (*Index, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	mf, err := readManifest(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		n := opts.Shards
		if n == 0 {
			n = 4
		}
		mf = manifest{Shards: n, MappingVersion: MappingVersion, Routing: routing}
		if err := writeManifest(dir, mf); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case opts.Shards != 0 && opts.Shards != mf.Shards:
		return nil, fmt.Errorf("%w: %s has %d shards, %d requested; rebuild with `picdex reindex --shards %d`",
			ErrShardCount, dir, mf.Shards, opts.Shards, opts.Shards)
	case mf.MappingVersion != MappingVersion && !opts.OtherMapping:
		return nil, fmt.Errorf("%w: %s was built with mapping version %d, this picdex writes %d; rebuild it with `picdex reindex --from live://` (stop the server first)",
			ErrMappingVersion, dir, mf.MappingVersion, MappingVersion)
	case mf.Routing != routing:
		return nil, fmt.Errorf("%s: unknown routing %q", dir, mf.Routing)
	}
	ix := &Index{dir: dir, shards: make([]*localShard, mf.Shards)}
	fg := &foreground{}
	errs := make([]error, mf.Shards)
	var wg sync.WaitGroup
	for i := range ix.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ix.shards[i], errs[i] = openShard(filepath.Join(dir, fmt.Sprintf("shard-%03d", i)), opts.OtherMapping); errs[i] == nil {
				ix.shards[i].fg, ix.shards[i].ceiling = fg, opts.Fanout.Budget
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		ix.Close()
		return nil, err
	}
	shards := make([]Shard, len(ix.shards))
	for i, s := range ix.shards {
		shards[i] = s
	}
	ix.fan = NewFanout(shards, opts.Fanout)
	if opts.Warm {
		ix.startWarm()
	}
	switch {
	case opts.IdleMerge == 0:
		ix.startIdleMerge(DefaultIdleMerge)
	case opts.IdleMerge > 0:
		ix.startIdleMerge(opts.IdleMerge)
	}
	return ix, nil
}

// Exists reports whether dir holds a picdex index.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, manifestName))
	return err == nil
}

// Info is what an index directory says of itself.
type Info struct {
	Shards         int
	MappingVersion int
}

// ReadInfo reads the description of the index in dir without opening it.
func ReadInfo(dir string) (Info, error) {
	mf, err := readManifest(dir)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", dir, err)
	}
	return Info{Shards: mf.Shards, MappingVersion: mf.MappingVersion}, nil
}

// RemoveFiles deletes the index in dir (closed by every process): its
// shards and its description, and nothing else dir holds.
func RemoveFiles(dir string) error {
	mf, err := readManifest(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for i := range mf.Shards {
		if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("shard-%03d", i))); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, manifestName))
}

func readManifest(dir string) (manifest, error) {
	var mf manifest
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return mf, err
	}
	if err := json.Unmarshal(data, &mf); err != nil {
		return mf, fmt.Errorf("%s: %w", manifestName, err)
	}
	if mf.Shards < 1 {
		return mf, fmt.Errorf("%s: invalid shard count %d", manifestName, mf.Shards)
	}
	return mf, nil
}

func writeManifest(dir string, mf manifest) error {
	data, _ := json.MarshalIndent(mf, "", "  ")
	tmp := filepath.Join(dir, manifestName+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, manifestName))
}

// Dir returns the index directory.
func (ix *Index) Dir() string { return ix.dir }

// NumShards returns the number of shards.
func (ix *Index) NumShards() int { return len(ix.shards) }

// ShardOf returns the shard a record id is routed to: jump consistent
// hashing of the id's FNV-1a hash, so growing from n to n+1 shards moves
// only 1/(n+1) of the documents.
func (ix *Index) ShardOf(id string) int { return ShardOf(id, len(ix.shards)) }

// ShardOf routes id among n shards: mapreduce.HashPartition, so a batch
// build's partitions are the shards its records are routed to.
func ShardOf(id string, n int) int { return mapreduce.HashPartition(id, n) }

// Apply normalizes and writes records: upserts, and deletes for records
// with op "delete". Records are grouped by shard and each shard's group is
// written as one atomic batch; when Apply returns nil every batch is
// durable. Within one call, the last record for an id wins. A record that
// fails validation fails the call before anything is written (the error
// wraps record.ErrInvalid and says which record).
//
// Apply is Route followed by ApplyShards: the map and reduce steps that
// bulk loads and the streaming indexer share.
func (ix *Index) Apply(ctx context.Context, recs []record.Record) error {
	for i := range recs {
		if err := recs[i].Normalize(); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	return ix.ApplyShards(ctx, ix.Route(recs), nil)
}

// Route groups normalized records by the shard that owns their id,
// keeping their order within each shard.
func (ix *Index) Route(recs []record.Record) [][]record.Record {
	shares := make([][]record.Record, len(ix.shards))
	for _, r := range recs {
		s := ix.ShardOf(r.ID)
		shares[s] = append(shares[s], r)
	}
	return shares
}

// ApplyShards writes shares[s] to shard s together with internal[s] (a
// nil internal, or a nil map in it, writes no internal values), every
// shard in parallel and each as one atomic batch. Shards with nothing to
// write are not touched. On an error some shards may have written their
// share; the error says which failed.
func (ix *Index) ApplyShards(ctx context.Context, shares [][]record.Record, internal []map[string][]byte) error {
	if len(shares) != len(ix.shards) || (internal != nil && len(internal) != len(ix.shards)) {
		return fmt.Errorf("ApplyShards: %d shares and %d internal maps for %d shards", len(shares), len(internal), len(ix.shards))
	}
	errs := make([]error, len(ix.shards))
	var wg sync.WaitGroup
	for s := range ix.shards {
		var in map[string][]byte
		if internal != nil {
			in = internal[s]
		}
		if len(shares[s]) == 0 && len(in) == 0 {
			continue
		}
		wg.Go(func() {
			if err := ix.ApplyShard(ctx, s, shares[s], in); err != nil {
				errs[s] = fmt.Errorf("shard %d: %w", s, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ApplyShard writes already-routed, normalized records to one shard
// together with internal key/values, in one atomic batch.
func (ix *Index) ApplyShard(ctx context.Context, shard int, recs []record.Record, internal map[string][]byte) error {
	if shard < 0 || shard >= len(ix.shards) {
		return fmt.Errorf("shard %d out of range", shard)
	}
	ops := make([]op, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if ix.ShardOf(r.ID) != shard {
			return fmt.Errorf("record %q belongs to shard %d, not %d", r.ID, ix.ShardOf(r.ID), shard)
		}
		o, err := prepare(r)
		if err != nil {
			return err
		}
		ops = append(ops, o)
	}
	return ix.shards[shard].apply(ctx, ops, internal)
}

// GetInternal reads a value stored with ApplyShard.
func (ix *Index) GetInternal(shard int, key string) ([]byte, error) {
	if shard < 0 || shard >= len(ix.shards) {
		return nil, fmt.Errorf("shard %d out of range", shard)
	}
	return ix.shards[shard].getInternal(key)
}

func prepare(r *record.Record) (op, error) {
	if r.IsDelete() {
		return op{rec: r}, nil
	}
	raw, err := record.Encode(r)
	if err != nil {
		return op{}, err
	}
	return op{rec: r, raw: raw}, nil
}

// Delete removes images by id; absent ids are not an error.
func (ix *Index) Delete(ctx context.Context, ids ...string) error {
	recs := make([]record.Record, len(ids))
	for i, id := range ids {
		recs[i] = record.Record{ID: id, Op: record.OpDelete}
	}
	return ix.Apply(ctx, recs)
}

// Get returns the stored record JSON of an image.
func (ix *Index) Get(ctx context.Context, id string) (json.RawMessage, error) {
	raw, err := ix.shards[ix.ShardOf(id)].get(ctx, id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return raw, nil
}

// Search runs a search over all shards.
func (ix *Index) Search(ctx context.Context, req *Request) (*Result, error) {
	return ix.fan.Search(ctx, req)
}

// FanoutStats returns how the index's searches got their term
// statistics.
func (ix *Index) FanoutStats() FanoutStats { return ix.fan.Stats() }

// Shards returns the shards as the fan-out sees them, for serving them to
// a remote query tier.
func (ix *Index) Shards() []Shard {
	out := make([]Shard, len(ix.shards))
	for i, s := range ix.shards {
		out[i] = s
	}
	return out
}

func (ix *Index) String() string { return fmt.Sprintf("index %s (%d shards)", ix.dir, len(ix.shards)) }

// Stats describe an index.
type Stats struct {
	Docs           uint64       `json:"docs"`
	MappingVersion int          `json:"mapping_version"`
	Shards         []ShardStats `json:"shards"`
}

// ShardStats describe one shard.
type ShardStats struct {
	Name    string `json:"name"`
	Docs    uint64 `json:"docs"`
	PHashes int    `json:"phashes"`
}

// Stats counts documents per shard.
func (ix *Index) Stats(ctx context.Context) (Stats, error) {
	st := Stats{MappingVersion: MappingVersion}
	for _, s := range ix.shards {
		n, err := s.docCount()
		if err != nil {
			return st, err
		}
		st.Docs += n
		st.Shards = append(st.Shards, ShardStats{Name: s.name, Docs: n, PHashes: s.ph.len()})
	}
	return st, ctx.Err()
}

// Close closes every shard.
func (ix *Index) Close() error {
	if ix.stopWarm != nil {
		ix.stopWarm()
		<-ix.warmDone
	}
	if ix.stopIdle != nil {
		ix.stopIdle()
		<-ix.idleDone
	}
	var errs []error
	for _, s := range ix.shards {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
