package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"

	"github.com/picdex/picdex/index/record"
)

// ErrMappingVersion means a shard was built by another version of picdex's
// index layout; the data must be rebuilt with `picdex reindex`.
var ErrMappingVersion = errors.New("index mapping version mismatch")

// ErrLocked means another process has the index open.
var ErrLocked = errors.New("index is open in another process (query the running server instead)")

var mappingVersionKey = []byte("picdex.mapping_version")

// Shard is one partition of the index, as the fan-out sees it. A local
// bleve shard implements it; a remote shard (query tier) does too.
type Shard interface {
	// TermStats returns the shard's statistics for the terms req's query
	// touches (phase 1 of a search); req.Stats is nil.
	TermStats(ctx context.Context, req *ShardRequest) (*TermStats, error)
	// SearchShard returns the shard's best from+size hits for req, scored
	// with the given global statistics (phase 2).
	SearchShard(ctx context.Context, req *ShardRequest) (*ShardResult, error)
	// Fetch returns the stored records of ids, in order; nil for an id the
	// shard does not hold (phase 3: only the final page is fetched).
	Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error)
	String() string
	Close() error
}

// ShardRequest is a search as sent to one shard.
type ShardRequest struct {
	Request *Request   `json:"request"`
	Stats   *TermStats `json:"stats,omitempty"`
	// Budget bounds the terms patterns may expand to (zero fields take
	// their defaults).
	Budget Budget `json:"budget"`
	// LowPriority asks the shard to step aside for other searches as it
	// works: the fan-out sets it on expensive searches.
	LowPriority bool `json:"low_priority,omitempty"`
	// Records asks phase 2 for the stored records of the shard's best
	// Records hits along with them, so that a small page needs no fetch
	// round (the fan-out sets it to from+size, see
	// FanoutOptions.InlineRecords). A hit whose record is not sent (past
	// the page byte budget) is fetched as usual.
	Records int `json:"records,omitempty"`

	// plan is the request as the fan-out validated it, handed to shards
	// in the same process so they need not parse it again.
	plan *plan
	// wire is the request's encoding, made once for all the remote
	// shards of a fan-out's phase (which never changes a request it
	// sent).
	wire atomic.Pointer[[]byte]
	// lengths is Stats' field lengths as bleve's scorer reads them, made
	// once for all the shards in the process that get the request.
	lengthsOnce sync.Once
	lengths     *search.BM25Stats
	// tree is the plain-text query's tree prepared from Stats, made once
	// for all the shards in the process that get the request (sharedTree).
	treeOnce sync.Once
	tree     *textNode
}

// bm25Stats returns Stats.bm25Stats(), made once per request.
func (sr *ShardRequest) bm25Stats() *search.BM25Stats {
	sr.lengthsOnce.Do(func() { sr.lengths = sr.Stats.bm25Stats() })
	return sr.lengths
}

// Prepare validates the request once and keeps its plan, so that the
// shards in this process it is given to (a shard server's batch) share
// the plan and the prepared query tree, as the shards of a fan-out in
// one process do, instead of each parsing the request again. It returns
// the request's error, which each shard would have returned. Call it
// before the request is shared: it writes the request.
func (sr *ShardRequest) Prepare() error {
	p, err := sr.validated()
	if err == nil {
		sr.plan = p
	}
	return err
}

// validated returns the request's plan, validating it unless the fan-out
// (or Prepare) already has.
func (sr *ShardRequest) validated() (*plan, error) {
	if sr.plan != nil && sr.plan.req == sr.Request {
		return sr.plan, nil
	}
	return sr.Request.validate()
}

// ShardResult is one shard's answer: its best hits with their sort values
// and its exact facet counts (every value, not a top-N).
type ShardResult struct {
	Total  uint64                  `json:"total"`
	Hits   []ShardHit              `json:"hits"`
	Facets map[string][]FacetValue `json:"facets,omitempty"`
}

// ShardHit is a hit, without its record, plus the values the fan-out
// merges and pages by.
type ShardHit struct {
	Hit
	// Sort holds the engine's raw sort values (they compare as strings;
	// numbers are binary prefix-coded terms), which the cursor carries.
	Sort []string `json:"sort"`

	shard int   // which of the fan-out's shards returned it
	at    docAt // where the shard found it, in the snapshot it searched
}

// docAt is a document's place in a snapshot: its segment, counted from
// 1 (0: unknown), and its number there.
type docAt struct {
	seg int
	doc uint64
}

type localShard struct {
	name string
	path string
	idx  bleve.Index
	m    *mapping.IndexMappingImpl
	an   analyzers
	ph   *phashIndex
	cols columnCache // of the live segments, for facets, sorts and numeric filters
	fg   *foreground // the index's foreground shard calls (nil: none counted)
	// ceiling caps the budget a shard request may carry, so that a caller
	// cannot ask this shard for more work than its index allows.
	ceiling Budget

	writeMu sync.Mutex // one batch at a time keeps phash in step with bleve
	// gen is the content version: odd while a batch is being applied,
	// even between batches, so an even value read before and after a
	// read of the index means it saw exactly that version.
	gen atomic.Uint64

	lenMu    sync.Mutex
	lenGen   uint64
	lenCache map[string]uint64
}

// mergePlanOptions are bleve's merge policy for a shard's segments (a
// variable for tests that need segments left apart).
var mergePlanOptions = map[string]any{
	"FloorSegmentFileSize": 8 << 20,
	"SegmentsPerMergeTask": 10,
	"MaxSegmentsPerTier":   10,
}

// scorchConfig tunes bleve's scorch engine for bulk loads: persisted
// segments are merged in larger steps, and no snapshots beyond the live one
// are kept.
func scorchConfig() map[string]any {
	return map[string]any{
		"numSnapshotsToKeep": 1,
		// Another process holding the shard open (a running serve) makes
		// Open fail after this long instead of waiting forever.
		"bolt_timeout":           "2s",
		"scorchMergePlanOptions": mergePlanOptions,
		"scorchPersisterOptions": map[string]any{
			"NumPersisterWorkers":           2,
			"MaxSizeInMemoryMergePerWorker": 32 << 20,
		},
	}
}

// createShard makes an empty shard at path, whole or not at all: it is
// made beside path, given its mapping version, closed and renamed into
// place, so a process killed meanwhile leaves no half-made shard that
// cannot be opened (bleve writes its metadata before its store). A
// directory at path without bleve's metadata is such a leftover of an
// older picdex and is replaced.
func createShard(path string, m mapping.IndexMapping) error {
	tmp := path + ".creating"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	idx, err := bleve.NewUsing(tmp, m, scorch.Name, scorch.Name, scorchConfig())
	if err != nil {
		return err
	}
	err = idx.SetInternal(mappingVersionKey, []byte(strconv.Itoa(MappingVersion)))
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.RemoveAll(path)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func openShard(path string, otherMapping bool) (*localShard, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	an, err := loadAnalyzers(m)
	if err != nil {
		return nil, err
	}
	s := &localShard{name: filepath.Base(path), path: path, m: m, an: an, ph: newPHashIndex()}
	if _, err := os.Stat(filepath.Join(path, "index_meta.json")); errors.Is(err, os.ErrNotExist) {
		if err := createShard(path, m); err != nil {
			return nil, fmt.Errorf("create shard %s: %w", path, err)
		}
	}
	{
		s.idx, err = bleve.OpenUsing(path, scorchConfig())
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				return nil, fmt.Errorf("%w: %s", ErrLocked, path)
			}
			return nil, fmt.Errorf("open shard %s: %w", path, err)
		}
		v, err := s.idx.GetInternal(mappingVersionKey)
		if err != nil {
			s.idx.Close()
			return nil, err
		}
		if v == nil {
			// Created, but the process stopped before the version was
			// written: an empty shard of this version, to be finished.
			n, err := s.idx.DocCount()
			if err == nil && n == 0 {
				v = []byte(strconv.Itoa(MappingVersion))
				err = s.idx.SetInternal(mappingVersionKey, v)
			}
			if err != nil {
				s.idx.Close()
				return nil, err
			}
		}
		if string(v) != strconv.Itoa(MappingVersion) && !otherMapping {
			s.idx.Close()
			return nil, fmt.Errorf("%w: shard %s has version %q, this picdex writes %d; rebuild it with `picdex reindex --from live://` (stop the server first)",
				ErrMappingVersion, path, v, MappingVersion)
		}
		if err := s.loadPHashes(); err != nil {
			s.idx.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *localShard) String() string { return "shard " + s.name }

func (s *localShard) Close() error {
	s.cols.close()
	return s.idx.Close()
}

// loadPHashes rebuilds the in-memory near-duplicate index from the phash
// terms stored in the shard.
func (s *localShard) loadPHashes() error {
	r, err := s.idx.Advanced()
	if err != nil {
		return err
	}
	reader, err := r.Reader()
	if err != nil {
		return err
	}
	defer reader.Close()
	dict, err := reader.FieldDict(fieldPHash)
	if err != nil {
		return err
	}
	defer dict.Close()
	ctx := context.Background()
	for {
		entry, err := dict.Next()
		if err != nil {
			return err
		}
		if entry == nil {
			return nil
		}
		h, err := strconv.ParseUint(entry.Term, 16, 64)
		if err != nil {
			continue
		}
		tfr, err := reader.TermFieldReader(ctx, []byte(entry.Term), fieldPHash, false, false, false)
		if err != nil {
			return err
		}
		err = func() error {
			defer tfr.Close()
			for {
				d, err := tfr.Next(nil)
				if err != nil || d == nil {
					return err
				}
				id, err := reader.ExternalID(d.ID)
				if err != nil {
					return err
				}
				s.ph.set(id, h)
			}
		}()
		if err != nil {
			return fmt.Errorf("%s: rebuilding the near-duplicate index: %w", s, err)
		}
	}
}

// op is one prepared change for a shard.
type op struct {
	rec *record.Record
	raw []byte // record JSON; nil for deletes
}

// apply writes ops and the internal key/values as one atomic bleve batch;
// when it returns nil the batch is persisted.
func (s *localShard) apply(ctx context.Context, ops []op, internal map[string][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.idx.NewBatch()
	for _, o := range ops {
		if o.rec.IsDelete() {
			b.Delete(o.rec.ID)
			continue
		}
		if err := b.IndexAdvanced(toDocument(o.rec, o.raw, s.an)); err != nil {
			return err
		}
	}
	for k, v := range internal {
		b.SetInternal([]byte(k), v)
	}
	s.gen.Add(1)
	err := s.idx.Batch(b)
	s.gen.Add(1)
	if err != nil {
		return fmt.Errorf("%s: batch: %w", s, err)
	}
	for _, o := range ops {
		if h, ok := o.rec.PHashValue(); ok && !o.rec.IsDelete() {
			s.ph.set(o.rec.ID, h)
		} else {
			s.ph.remove(o.rec.ID)
		}
	}
	return nil
}

// ContentVersion implements VersionedShard.
func (s *localShard) ContentVersion() (uint64, bool) {
	g := s.gen.Load()
	return g, g%2 == 0
}

func (s *localShard) getInternal(key string) ([]byte, error) {
	return s.idx.GetInternal([]byte(key))
}

// get returns the stored record JSON, or nil when the id is absent.
func (s *localShard) get(ctx context.Context, id string) (json.RawMessage, error) {
	raws, err := s.Fetch(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return raws[0], nil
}

// Fetch implements Shard. It reads the stored record alone, from one
// snapshot for all the ids, rather than asking bleve for each whole
// document (a reader per id, and a copy of every stored field).
func (s *localShard) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	out := make([]json.RawMessage, len(ids))
	if err := s.loadRecords(ctx, snap, ids, out, s.ceiling.withDefaults().MaxPageBytes); err != nil {
		return nil, err
	}
	return out, nil
}

// loadRecords reads the stored records of ids from snap into out (left
// nil for an id the shard does not hold) until they pass limit bytes: a
// page past the limit with records left to read fails with a
// *BudgetError, the records read so far in out.
func (s *localShard) loadRecords(ctx context.Context, snap *scorch.IndexSnapshot, ids []string, out []json.RawMessage, limit int) error {
	size := 0
	for i, id := range ids {
		if size > limit {
			// A page past the limit fails at the fan-out anyway: stop
			// loading it here.
			return &BudgetError{Limit: "max_page_bytes", Param: "size", Max: limit,
				What: "bytes of records in the page; ask for fewer hits (size)"}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := s.storedRecord(snap, id)
		if err != nil {
			return err
		}
		out[i] = raw
		size += len(raw)
	}
	return nil
}

// inlineRecords gives the best n hits of res their stored records, as
// far as the page byte budget allows; the fan-out fetches the rest.
func (s *localShard) inlineRecords(ctx context.Context, snap *scorch.IndexSnapshot, sr *ShardRequest, res *ShardResult) error {
	hits := res.Hits[:min(sr.Records, len(res.Hits))]
	if len(hits) == 0 {
		return nil
	}
	limit := sr.Budget.clamp(s.ceiling).MaxPageBytes
	segs := snap.Segments()
	size := 0
	for i := range hits {
		if size > limit {
			// Past the budget, the records not read are fetched with the page.
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The hits were found in snap, whose segments do not change: each
		// is read where it was found, without looking its id up.
		at := hits[i].at
		if at.seg < 1 || at.seg > len(segs) {
			return fmt.Errorf("hit %q has no place in the snapshot searched", hits[i].ID)
		}
		raw, err := storedAt(segs[at.seg-1], at.doc)
		if err != nil {
			return err
		}
		hits[i].Image = raw
		size += len(raw)
	}
	return nil
}

// storedAt returns the stored record JSON of document doc of a segment.
func storedAt(ss *scorch.SegmentSnapshot, doc uint64) (json.RawMessage, error) {
	var raw json.RawMessage
	err := ss.VisitDocument(doc, func(name string, _ byte, val []byte, _ []uint64) bool {
		if name != fieldRaw {
			return true
		}
		// RepairJSON: records stored before ingest repaired unknown
		// fields may hold invalid UTF-8.
		raw = append(json.RawMessage(nil), record.RepairJSON(val)...)
		return false
	})
	return raw, err
}

// storedRecord returns the stored record JSON of the live document id in
// snap, or nil when there is none. An id has at most one live document;
// a segment's id column finds it (an id of several documents in one
// segment, all but one deleted, is looked up in the segment's dictionary).
func (s *localShard) storedRecord(snap *scorch.IndexSnapshot, id string) (json.RawMessage, error) {
	for _, ss := range snap.Segments() {
		col, err := s.cols.column(ss.Segment(), "_id")
		if err != nil {
			return nil, err
		}
		doc, found, several := col.holder(id)
		if several {
			if doc, found, err = liveHolder(ss, id); err != nil {
				return nil, err
			}
		} else if found && ss.Deleted() != nil && ss.Deleted().Contains(uint32(doc)) {
			found = false
		}
		if !found {
			continue
		}
		return storedAt(ss, doc)
	}
	return nil, nil
}

// liveHolder looks id up in the segment's dictionary, returning its live
// document.
func liveHolder(ss *scorch.SegmentSnapshot, id string) (uint64, bool, error) {
	dict, err := ss.Segment().Dictionary("_id")
	if err != nil {
		return 0, false, err
	}
	pl, err := dict.PostingsList([]byte(id), ss.Deleted(), nil)
	if err != nil {
		return 0, false, err
	}
	p, err := pl.Iterator(false, false, false, nil).Next()
	if err != nil || p == nil {
		return 0, false, err
	}
	return p.Number(), true, nil
}

func (s *localShard) docCount() (uint64, error) { return s.idx.DocCount() }

// fieldLengths returns, for every field a query can score, the sum of its
// field lengths over the live documents, recomputed lazily after writes.
// A text field's length is its number of tokens, the same length its norms
// give each document's score (read once per segment, see liveLength);
// keyword, numeric and date values are one term per document, so their
// sum is the document count. Every shard reports every field, whether or
// not the query's terms occur in it there, so the sums are global.
func (s *localShard) fieldLengths(docs uint64) (map[string]uint64, error) {
	s.lenMu.Lock()
	defer s.lenMu.Unlock()
	if g := s.gen.Load(); s.lenCache == nil || s.lenGen != g {
		s.lenCache, s.lenGen = map[string]uint64{}, g
	}
	out := make(map[string]uint64, len(schema))
	var snap *scorch.IndexSnapshot
	for f, spec := range schema {
		switch {
		case spec.kind == kindGeo:
		case spec.kind != kindText:
			out[f] = docs
		default:
			n, ok := s.lenCache[f]
			if !ok {
				if snap == nil {
					r, err := s.snapshot()
					if err != nil {
						return nil, err
					}
					defer r.Close()
					snap = r
				}
				var err error
				if n, err = s.cols.liveLength(snap, f); err != nil {
					return nil, err
				}
				s.lenCache[f] = n
			}
			out[f] = n
		}
	}
	return out, nil
}

// snapshot opens a reader on the shard's current scorch snapshot; the
// caller closes it.
func (s *localShard) snapshot() (*scorch.IndexSnapshot, error) {
	adv, err := s.idx.Advanced()
	if err != nil {
		return nil, err
	}
	reader, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	snap, ok := reader.(*scorch.IndexSnapshot)
	if !ok {
		reader.Close()
		return nil, fmt.Errorf("%s: not a scorch index (%T)", s, reader)
	}
	return snap, nil
}

// begin is the prologue of a shard call: counted among the foreground
// calls unless it is low priority, its request validated, a snapshot to
// run on. done ends all of it.
func (s *localShard) begin(sr *ShardRequest) (*plan, *scorch.IndexSnapshot, func(), error) {
	exit := func() {}
	if !sr.LowPriority {
		exit = s.fg.enter()
	}
	p, err := sr.validated()
	if err != nil {
		exit()
		return nil, nil, nil, err
	}
	snap, err := s.snapshot()
	if err != nil {
		exit()
		return nil, nil, nil, err
	}
	return p, snap, func() { snap.Close(); exit() }, nil
}

// TermStats builds the scored part of the query against the shard without
// running it, recording every term it opens and every expansion.
func (s *localShard) TermStats(ctx context.Context, sr *ShardRequest) (*TermStats, error) {
	p, snap, done, err := s.begin(sr)
	if err != nil {
		return nil, err
	}
	defer done()
	st := newTermStats()
	if st.DocCount, err = snap.DocCount(); err != nil {
		return nil, err
	}
	ex, err := s.newExpansion(ctx, snap, p, sr)
	if err != nil {
		return nil, err
	}
	if countPlainTerms {
		if keys, ok := statKeys(p, s.an.text); ok {
			return s.plainTermStats(ctx, snap, st, keys)
		}
	}
	tr := translator{text: s.an.text, cols: &s.cols, guard: s.guard(ctx, sr), expand: func(mt multiTerm) ([]string, error) {
		terms, err := ex.terms(mt)
		if err != nil {
			return nil, err
		}
		st.Expansions[mt.signature()] = terms
		return terms, nil
	}}
	scored, err := tr.query(p)
	if err != nil || scored == nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sq := &statsQuery{inner: scored, recorded: newTermStats()}
	searcher, err := sq.Searcher(ctx, snap, s.m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, queryBuildError(err)
	}
	searcher.Close()
	st.DocFreq = sq.recorded.DocFreq
	if st.FieldLength, err = s.fieldLengths(st.DocCount); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *localShard) inProcess() {}

// countPlainTerms enables plainTermStats; tests turn it off to compare
// with what the searcher tree records.
var countPlainTerms = true

// plainTermStats completes st for plain words, which open exactly their
// terms in their fields (keys, see statKeys): each is counted as the
// searcher tree would open it, without building the tree.
func (s *localShard) plainTermStats(ctx context.Context, snap *scorch.IndexSnapshot, st *TermStats, keys []fieldTerm) (*TermStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, k := range keys {
		tfr, err := snap.TermFieldReader(ctx, []byte(k.term), k.field, true, true, false)
		if err != nil {
			return nil, queryBuildError(err)
		}
		terms := st.DocFreq[k.field]
		if terms == nil {
			terms = map[string]uint64{}
			st.DocFreq[k.field] = terms
		}
		terms[k.term] = tfr.Count()
		tfr.Close()
	}
	var err error
	if st.FieldLength, err = s.fieldLengths(st.DocCount); err != nil {
		return nil, err
	}
	return st, nil
}
