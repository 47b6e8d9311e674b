package indexer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/generation"
)

// GenerationsOptions configure OpenGenerations.
type GenerationsOptions struct {
	// Index is how each generation is opened (Shards is ignored: each
	// generation has its own).
	Index index.Options
	// Shards is the shard count of a new data directory's generation 1
	// (0: 4).
	Shards int
	// Keep is how many generations besides the live one stay (default
	// 1: the one rollback returns to); older ones are deleted.
	Keep int
	// Logger receives the jobs' progress; nil discards it.
	Logger *slog.Logger
	// EmbeddedPartitions is the write queue's partitions (default
	// EmbeddedPartitions).
	EmbeddedPartitions int
	// Roots are the directories a reindex may read its sources from
	// (the files in them and below, symbolic links resolved); none, and
	// StartReindex refuses every source. A reindex makes the server read
	// files, so which ones is the operator's choice, as the snapshot
	// repositories of Elasticsearch are.
	Roots []string
}

// Generations are the index generations of one data directory in a
// running process (picdex serve): the live one answers the searches
// (Current), every kept one follows the write stream (Sink), and a
// reindex job (StartReindex) builds a new one beside them and switches to it
// with no search failing or seeing two generations.
type Generations struct {
	opts    GenerationsOptions
	man     *generation.Manifest
	cur     *generation.Current
	follow  *Followers
	mu      sync.Mutex // guards open, jobs, running; one switch at a time
	open    map[int]*openGen
	jobs    map[string]*job
	order   []string // job ids, oldest first
	running *job
}

type openGen struct {
	ix *index.Index
	a  *Applier
}

// maxJobs bounds the finished jobs remembered.
const maxJobs = 32

// OpenGenerations opens the live generation of the data directory dir
// (creating generation 1 in dir itself when it has none) and the one
// kept for rollback. The caller holds dir's lock (generation.Lock).
func OpenGenerations(dir string, opts GenerationsOptions) (*Generations, error) {
	if opts.Keep == 0 {
		opts.Keep = 1
	}
	if opts.EmbeddedPartitions == 0 {
		opts.EmbeddedPartitions = EmbeddedPartitions
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := generation.Load(dir)
	if err != nil {
		return nil, err
	}
	// A build still "building" was the job of a process that died: no
	// job runs before this one starts any, so it is removed.
	for _, gen := range slices.Clone(m.Generations) {
		if gen.State == generation.Building {
			if err := m.Abandon(gen.ID); err != nil {
				return nil, fmt.Errorf("removing the unfinished generation %d: %w", gen.ID, err)
			}
			opts.Logger.Info("removed a build that never finished", "generation", gen.ID)
		}
	}
	g := &Generations{opts: opts, man: m, open: map[int]*openGen{}, jobs: map[string]*job{}}
	live, ok := m.LiveGeneration()
	io := opts.Index
	var ix *index.Index
	if ok {
		io.Shards = 0
		ix, err = index.Open(m.Path(live), io)
	} else {
		io.Shards = opts.Shards
		ix, err = index.Open(dir, io)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		// The index just made in dir is generation 1.
		if m, err = generation.Load(dir); err != nil {
			ix.Close()
			return nil, err
		}
		g.man = m
	}
	id := max(live.ID, 1)
	g.open[id] = &openGen{ix: ix, a: NewApplier(ix)}
	var others []*Applier
	if prev, err := m.Get(m.Previous); err == nil && prev.State == generation.Ready {
		po := opts.Index
		po.Shards, po.Warm = 0, false
		pix, err := index.Open(m.Path(*prev), po)
		if err != nil {
			ix.Close()
			return nil, fmt.Errorf("the generation kept for rollback, %d: %w", prev.ID, err)
		}
		g.open[prev.ID] = &openGen{ix: pix, a: NewApplier(pix)}
		others = append(others, g.open[prev.ID].a)
	}
	g.cur = generation.NewCurrent(ix, id)
	g.follow = NewFollowers(g.open[id].a, others...)
	return g, nil
}

// Unfollowed says the live generation is written to by another path
// than Sink (serve fed by Kafka applies its consumer's batches to it
// alone): the generation kept for rollback would miss those writes, so
// it is closed and no longer kept (it is retired by the next switch).
func (g *Generations) Unfollowed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, o := range g.open {
		if id == g.cur.Generation() {
			continue
		}
		g.follow.Remove(o.a)
		if err := o.ix.Close(); err != nil {
			return err
		}
		delete(g.open, id)
	}
	return g.man.Forget()
}

// Current is the live generation, for searches.
func (g *Generations) Current() *generation.Current { return g.cur }

// Sink applies the write stream to every generation that follows it.
func (g *Generations) Sink() Sink { return g.follow }

// Close closes every open generation; a running job is stopped first.
func (g *Generations) Close() error {
	g.mu.Lock()
	j := g.running
	g.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, o := range g.open {
		errs = append(errs, o.ix.Close())
	}
	g.open = map[int]*openGen{}
	return errors.Join(errs...)
}

// StartReindex validates req and starts its job, which runs until it is done
// whatever happens to the caller; generation.ErrJobRunning when one runs already.
func (g *Generations) StartReindex(_ context.Context, req generation.ReindexRequest) (generation.JobStatus, error) {
	if len(req.From) == 0 {
		return generation.JobStatus{}, fmt.Errorf("%w: no source", index.ErrBadRequest)
	}
	for _, src := range req.From {
		if strings.Contains(src, "://") {
			return generation.JobStatus{}, fmt.Errorf("%w: %s: a reindex reads files and directories on the server; a kafka:// source is not supported", index.ErrBadRequest, src)
		}
	}
	if req.Shards < 0 || req.Shards > index.MaxShards {
		return generation.JobStatus{}, fmt.Errorf("%w: %d shards: want 1 to %d (0: as the live generation)", index.ErrBadRequest, req.Shards, index.MaxShards)
	}
	// Every source is checked before anything is read of it, and every
	// file found in a directory is checked again.
	for _, src := range req.From {
		if err := g.allowed(src); err != nil {
			return generation.JobStatus{}, err
		}
	}
	if err := g.busy(); err != nil {
		return generation.JobStatus{}, err
	}
	splits, total, err := FileSplits(req.From, 0)
	if err != nil {
		return generation.JobStatus{}, fmt.Errorf("%w: %w", index.ErrBadRequest, err)
	}
	for _, sp := range splits {
		if err := g.allowed(sp.Path); err != nil {
			return generation.JobStatus{}, err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != nil {
		return generation.JobStatus{}, g.busyError()
	}
	shards := req.Shards
	if shards == 0 {
		shards = g.liveIndex().NumShards()
	}
	gen, err := g.man.Begin(shards, strings.Join(req.From, ","), time.Now())
	if err != nil {
		return generation.JobStatus{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{id: newJobID(), cancel: cancel, done: make(chan struct{})}
	j.st = generation.JobStatus{ID: j.id, Kind: "reindex", State: generation.JobRunning, Phase: "build",
		Generation: gen.ID, Shards: shards, Source: gen.Source, BytesTotal: total, Started: time.Now().UTC()}
	g.jobs[j.id] = j
	g.order = append(g.order, j.id)
	for len(g.order) > maxJobs {
		delete(g.jobs, g.order[0])
		g.order = g.order[1:]
	}
	// Every write accepted from here on is recorded for the new
	// generation, before the job is answered: a client told the job has
	// started can count on its next write being in the new generation.
	rec, err := g.startRecording(gen)
	if err != nil {
		cancel()
		delete(g.jobs, j.id)
		g.order = g.order[:len(g.order)-1]
		if aerr := g.man.Abandon(gen.ID); aerr != nil {
			g.opts.Logger.Warn("removing the build that could not start", "err", aerr)
		}
		return generation.JobStatus{}, err
	}
	g.running = j
	go g.run(ctx, j, gen, splits, total, rec)
	return j.status(), nil
}

// recording is the writes recorded for a build from its start: where
// the live generation stood then, and what came after.
type recording struct {
	pending *PendingLog
	offsets map[int]int64
}

// startRecording creates gen's pending log and has every write from now
// on recorded in it.
func (g *Generations) startRecording(gen generation.Generation) (*recording, error) {
	dir := g.man.Path(gen)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pending, err := CreatePendingLog(filepath.Join(dir, "writes-during-build.jsonl"))
	if err != nil {
		return nil, err
	}
	offsets, err := g.follow.Record(pending, EmbeddedTopic, g.opts.EmbeddedPartitions)
	if err != nil {
		pending.Close()
		return nil, err
	}
	return &recording{pending: pending, offsets: offsets}, nil
}

// busy reports a job running.
func (g *Generations) busy() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != nil {
		return g.busyError()
	}
	return nil
}

// busyError says which job runs; the caller holds g.mu.
func (g *Generations) busyError() error {
	return fmt.Errorf("%w (job %s, building generation %d); wait for it to end", generation.ErrJobRunning, g.running.id, g.running.status().Generation)
}

// allowed refuses a source outside the Roots.
func (g *Generations) allowed(path string) error { return AllowedSource(g.opts.Roots, path) }

// AllowedSource refuses a reindex source path that is not inside one of
// roots once symbolic links are resolved (no roots: none is allowed).
func AllowedSource(roots []string, path string) error {
	if len(roots) == 0 {
		return fmt.Errorf("%w: this server reads no reindex sources (none of its directories is allowed: --reindex-roots DIR)", index.ErrBadRequest)
	}
	outside := fmt.Errorf("%w: %s is outside the directories reindex sources may come from", index.ErrBadRequest, path)
	real, err := filepath.EvalSymlinks(path)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		// Why it cannot be read is said only of a path inside the roots:
		// elsewhere that would tell what exists on the server.
		if abs, aerr := filepath.Abs(path); aerr == nil && insideRoots(roots, abs) {
			return fmt.Errorf("%w: %s: %w", index.ErrBadRequest, path, err)
		}
		return outside
	}
	if insideRoots(roots, real) {
		return nil
	}
	return outside
}

// insideRoots reports whether the absolute path p lies in one of roots
// (their links resolved).
func insideRoots(roots []string, p string) bool {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err == nil {
			r, err = filepath.Abs(r)
		}
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, p); err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}

// Job returns the status of job id.
func (g *Generations) Job(id string) (generation.JobStatus, bool) {
	g.mu.Lock()
	j := g.jobs[id]
	g.mu.Unlock()
	if j == nil {
		return generation.JobStatus{}, false
	}
	return j.status(), true
}

// Rollback makes the generation live before the last switch live again.
func (g *Generations) Rollback(ctx context.Context) (generation.Generation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != nil {
		return generation.Generation{}, fmt.Errorf("%w (job %s); roll back once it has ended", generation.ErrJobRunning, g.running.id)
	}
	prevID := g.man.Previous
	o := g.open[prevID]
	if prevID == 0 || o == nil {
		return generation.Generation{}, generation.ErrNoPrevious
	}
	// Warm before it takes searches, as a switch does.
	if err := o.ix.Warm(ctx); err != nil {
		return generation.Generation{}, err
	}
	if err := g.follow.Dropped(o.a); err != nil {
		return generation.Generation{}, fmt.Errorf("%w: generation %d stopped following the writes (%v)", generation.ErrNoPrevious, prevID, err)
	}
	gen, err := g.man.Rollback(time.Now())
	if err != nil {
		return generation.Generation{}, err
	}
	g.follow.Promote(o.a)
	// Switched now: the drain is not the caller's to cut short.
	if _, err := g.cur.Switch(context.WithoutCancel(ctx), o.ix, gen.ID); err != nil {
		return gen, err
	}
	g.opts.Logger.Info("rolled back", "generation", gen.ID, "shards", gen.Shards)
	return gen, nil
}

func (g *Generations) liveIndex() *index.Index {
	ix, _, release := g.cur.Acquire()
	release()
	return ix
}

// job is a running or finished reindex.
type job struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	st     generation.JobStatus
}

func (j *job) status() generation.JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.st
	st.Errors = append([]string(nil), j.st.Errors...)
	return st
}

func (j *job) update(f func(*generation.JobStatus)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.st)
}

// maxJobErrors bounds the invalid lines a job reports.
const maxJobErrors = 20

func newJobID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "reindex-" + hex.EncodeToString(b)
}

// run is the job: build, catch up, verify, merge, warm, switch.
func (g *Generations) run(ctx context.Context, j *job, gen generation.Generation, splits []Split, total int64, rec *recording) {
	defer close(j.done)
	log := g.opts.Logger.With("job", j.id, "generation", gen.ID)
	err := g.build(ctx, j, gen, splits, total, rec, log)
	now := time.Now().UTC()
	g.mu.Lock()
	g.running = nil
	if err != nil {
		if aerr := g.man.Abandon(gen.ID); aerr != nil {
			log.Warn("removing the failed build", "err", aerr)
		}
	}
	g.mu.Unlock()
	j.update(func(st *generation.JobStatus) {
		st.Finished, st.ETASeconds = &now, nil
		if err != nil {
			st.State = generation.JobFailed
			st.Errors = append(st.Errors, err.Error())
			return
		}
		st.State, st.Phase = generation.JobSucceeded, "done"
	})
	if err != nil {
		log.Error("reindex failed; the live generation is unchanged", "err", err)
		return
	}
	log.Info("reindex done: the new generation is live")
}

func (g *Generations) build(ctx context.Context, j *job, gen generation.Generation, splits []Split, total int64, rec *recording, log *slog.Logger) error {
	// Every write since the job started is recorded for the new
	// generation, which starts from where the live one stood then.
	pending, offsets := rec.pending, rec.offsets
	defer pending.Close()
	recording := true
	defer func() {
		if recording {
			g.follow.StopRecording(pending)
		}
	}()
	io := g.opts.Index
	io.Shards, io.Warm = gen.Shards, false
	ix, err := index.Open(g.man.Path(gen), io)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			ix.Close()
		}
	}()
	log.Info("building", "shards", gen.Shards, "source", gen.Source, "splits", len(splits))
	st, err := Build(ctx, ix, splits, total, BuildOptions{
		Progress: func(p BuildProgress) {
			j.update(func(s *generation.JobStatus) { SetProgress(s, p, pending.Count()) })
		},
		Bad: func(err error) {
			j.update(func(s *generation.JobStatus) {
				if len(s.Errors) < maxJobErrors {
					s.Errors = append(s.Errors, err.Error())
				}
			})
		},
	})
	j.update(func(s *generation.JobStatus) { SetProgress(s, st.BuildProgress, pending.Count()) })
	if err != nil {
		return err
	}
	j.update(func(s *generation.JobStatus) { s.Phase, s.ETASeconds = "verify", nil })
	if err := VerifyBuild(ctx, ix, st); err != nil {
		return err
	}
	if err := SeedOffsets(ctx, ix, EmbeddedTopic, offsets); err != nil {
		return err
	}
	j.update(func(s *generation.JobStatus) { s.Phase = "catchup" })
	a := NewApplier(ix)
	if err := g.follow.CatchUp(ctx, pending, a); err != nil {
		return err
	}
	recording = false
	following := true
	defer func() {
		if following {
			g.follow.Remove(a)
		}
	}()
	j.update(func(s *generation.JobStatus) { s.Phase, s.Writes = "merge", pending.Count() })
	if err := ix.Merge(ctx); err != nil {
		return err
	}
	j.update(func(s *generation.JobStatus) { s.Phase = "warm" })
	if err := ix.Warm(ctx); err != nil {
		return err
	}
	// Both generations answer the same search.
	if _, err := ix.Search(ctx, &index.Request{Query: "a", Size: new(1)}); err != nil {
		return fmt.Errorf("verification search on the new generation: %w", err)
	}
	if _, err := g.liveIndex().Search(ctx, &index.Request{Query: "a", Size: new(1)}); err != nil {
		return fmt.Errorf("verification search on the live generation: %w", err)
	}
	j.update(func(s *generation.JobStatus) { s.Phase = "switch" })
	qo := map[string]int64{}
	for p, off := range offsets {
		qo[fmt.Sprint(p)] = off
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.man.Finish(gen.ID, st.Docs, st.Records, st.Bad, qo, time.Now()); err != nil {
		return err
	}
	if err := g.follow.Dropped(a); err != nil {
		return fmt.Errorf("the new generation stopped following the writes: %w", err)
	}
	oldID := g.cur.Generation()
	if err := g.man.Switch(gen.ID, time.Now()); err != nil {
		return err
	}
	g.open[gen.ID] = &openGen{ix: ix, a: a}
	keep, following = true, false
	g.follow.Promote(a)
	if _, err := g.cur.Switch(context.WithoutCancel(ctx), ix, gen.ID); err != nil {
		return err
	}
	log.Info("switched", "from", oldID, "to", gen.ID, "docs", st.TotalDocs(), "writes_during_build", pending.Count())
	if err := g.retire(); err != nil {
		// Switched all the same: the job succeeded; what is left is
		// files of a retired generation.
		log.Warn("retiring old generations", "err", err)
	}
	return nil
}

// retire closes the generations past Keep, then has the manifest retire
// them (mark, save, delete); the caller holds g.mu.
func (g *Generations) retire() error {
	for _, id := range g.man.Retirees(g.opts.Keep) {
		o := g.open[id]
		if o == nil {
			continue
		}
		g.follow.Remove(o.a)
		if err := o.ix.Close(); err != nil {
			return err
		}
		delete(g.open, id)
	}
	return g.man.Retire(g.opts.Keep)
}

// VerifyBuild checks a build before anything else is applied to it:
// every shard holds the documents the build wrote, the mapping version
// is this picdex's, and the sampled ids are found.
func VerifyBuild(ctx context.Context, ix *index.Index, st BuildStats) error {
	stats, err := ix.Stats(ctx)
	if err != nil {
		return err
	}
	if stats.MappingVersion != index.MappingVersion {
		return fmt.Errorf("verification: mapping version %d, want %d", stats.MappingVersion, index.MappingVersion)
	}
	for i, s := range stats.Shards {
		if s.Docs != st.Docs[i] {
			return fmt.Errorf("verification: shard %d holds %d documents, the build wrote %d", i, s.Docs, st.Docs[i])
		}
	}
	for _, id := range st.Sample {
		if _, err := ix.Get(ctx, id); err != nil {
			return fmt.Errorf("verification: %s: %w", id, err)
		}
	}
	return nil
}

// SetProgress puts a build's progress into a job's status, with the
// writes recorded for it meanwhile.
func SetProgress(s *generation.JobStatus, p BuildProgress, writes int64) {
	s.Records, s.Bad, s.BytesRead, s.BytesTotal, s.Rate, s.Writes = p.Records, p.Bad, p.BytesRead, p.BytesTotal, p.Rate(), writes
	if p.BytesTotal > 0 {
		s.Percent = min(100*float64(p.BytesRead)/float64(p.BytesTotal), 100)
	}
	s.ETASeconds = nil
	if eta, ok := p.ETA(); ok {
		secs := eta.Seconds()
		s.ETASeconds = &secs
	}
}
