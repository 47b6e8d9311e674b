package mapreduce

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// LocalOptions tune RunLocal. The zero value is ready to use.
type LocalOptions struct {
	// Mappers is how many map tasks run at once; 0 means one per CPU
	// (GOMAXPROCS).
	Mappers int
	// Buffer is how many pairs wait for each reduce task; 0 means 1024.
	Buffer int
	// Progress, when set, is called with the job's stats every
	// ProgressEvery (default one second) and once when it ends, from a
	// goroutine of its own.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

// Validate reports options that cannot be used.
func (o LocalOptions) Validate() error {
	switch {
	case o.Mappers < 0 || o.Mappers > 4096:
		return fmt.Errorf("mapreduce: %d mappers, want 0 (one per CPU) to 4096", o.Mappers)
	case o.Buffer < 0 || o.Buffer > 1<<20:
		return fmt.Errorf("mapreduce: a buffer of %d pairs, want 0 (1024) to %d", o.Buffer, 1<<20)
	case o.ProgressEvery < 0:
		return fmt.Errorf("mapreduce: progress every %s", o.ProgressEvery)
	}
	return nil
}

func (o *LocalOptions) setDefaults() {
	if o.Mappers == 0 {
		o.Mappers = runtime.GOMAXPROCS(0)
	}
	if o.Buffer == 0 {
		o.Buffer = 1024
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
}

// Stats is a job's progress.
type Stats struct {
	Splits     int      // of the job
	SplitsDone int      // whose map task has returned
	Emitted    uint64   // pairs emitted
	Bad        uint64   // bad inputs skipped
	Pending    uint64   // pairs emitted and not yet taken by a reduce task
	Partitions []uint64 // pairs emitted to each partition (the skew)
	Elapsed    time.Duration
}

// run is one job's state in RunLocal.
type run[S, V any] struct {
	job       *Job[S, V]
	partition func(string, int) int
	chans     []chan Pair[V]
	ctx       context.Context
	fail      context.CancelCauseFunc
	start     time.Time

	next       atomic.Int64 // the next split to map
	splitsDone atomic.Int64
	emitted    atomic.Uint64
	perPart    []atomic.Uint64

	badMu   sync.Mutex
	bad     uint64
	reasons []string
}

// RunLocal runs job in this process and returns its final stats: map
// tasks opts.Mappers at a time, every reduce task at once, a bounded
// channel per partition between them. It returns the first error of a
// task (a panic is one), a *BadInputError past the bad-input limit, or
// ctx's error, and only once every task has returned.
func RunLocal[S, V any](ctx context.Context, job *Job[S, V], opts LocalOptions) (Stats, error) {
	if err := job.Validate(); err != nil {
		return Stats{}, err
	}
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	opts.setDefaults()
	r := &run[S, V]{job: job, partition: job.Partition, start: time.Now(),
		chans: make([]chan Pair[V], job.Partitions), perPart: make([]atomic.Uint64, job.Partitions)}
	if r.partition == nil {
		r.partition = HashPartition
	}
	for i := range r.chans {
		r.chans[i] = make(chan Pair[V], opts.Buffer)
	}
	r.ctx, r.fail = context.WithCancelCause(ctx)
	defer r.fail(nil)

	var reducers sync.WaitGroup
	for p := range job.Partitions {
		reducers.Go(func() { reduceTask(r.ctx, job, p, r.chans[p], r.fail) })
	}
	var mappers sync.WaitGroup
	for range min(opts.Mappers, max(len(job.Splits), 1)) {
		mappers.Go(r.mapSplits)
	}

	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	if opts.Progress != nil {
		progress.Go(func() { every(progressDone, opts.ProgressEvery, func() { r.progress(opts.Progress) }) })
	}

	mappers.Wait()
	// Every map task has returned: nothing sends any more.
	for _, c := range r.chans {
		close(c)
	}
	reducers.Wait()
	close(progressDone)
	progress.Wait()
	st := r.stats()
	if opts.Progress != nil {
		r.progress(opts.Progress)
	}
	if err := context.Cause(r.ctx); err != nil {
		return st, err
	}
	return st, nil
}

// mapSplits runs map tasks until no split is left or the job ends.
func (r *run[S, V]) mapSplits() {
	for r.ctx.Err() == nil {
		i := int(r.next.Add(1) - 1)
		if i >= len(r.job.Splits) {
			return
		}
		out := &Emitter[V]{r: r, split: i}
		err := guard(func() error { return r.job.Map(r.ctx, r.job.Splits[i], out) })
		if err != nil && r.ctx.Err() == nil {
			r.fail(fmt.Errorf("mapreduce: job %q: map task of split %d: %w", r.job.Name, i, err))
		}
		r.splitsDone.Add(1)
	}
}

func (r *run[S, V]) stats() Stats {
	st := Stats{Splits: len(r.job.Splits), SplitsDone: int(r.splitsDone.Load()), Emitted: r.emitted.Load(),
		Partitions: make([]uint64, len(r.perPart)), Elapsed: time.Since(r.start)}
	for i := range r.perPart {
		st.Partitions[i] = r.perPart[i].Load()
	}
	for _, c := range r.chans {
		st.Pending += uint64(len(c))
	}
	r.badMu.Lock()
	st.Bad = r.bad
	r.badMu.Unlock()
	return st
}

// progress hands the stats to the caller's callback; its panic fails
// the job rather than the process.
func (r *run[S, V]) progress(report func(Stats)) {
	if err := guard(func() error { report(r.stats()); return nil }); err != nil {
		r.fail(fmt.Errorf("mapreduce: job %q: progress: %w", r.job.Name, err))
	}
}

// reduceTask runs job's reduce task p over in, failing the job on its
// error or when it returns before in is closed. Whatever is left once the
// job has failed is dropped, so that nobody waits on a partition nobody
// reads.
func reduceTask[S, V any](ctx context.Context, job *Job[S, V], p int, in <-chan Pair[V], fail context.CancelCauseFunc) {
	err := guard(func() error { return job.Reduce(ctx, p, in) })
	if err == nil && ctx.Err() == nil {
		if _, open := <-in; open {
			err = errors.New("returned before its input ended")
		}
	}
	if err != nil {
		fail(fmt.Errorf("mapreduce: job %q: reduce task %d: %w", job.Name, p, err))
	}
	for range in {
	}
}

// every calls f every d until done is closed.
func every(done <-chan struct{}, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			f()
		}
	}
}

// guard runs f, turning a panic into an error.
func guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	return f()
}

// shuffle is what an Emitter needs of its run, whatever the split type.
type shuffle[V any] interface {
	send(p Pair[V]) error
	badInput(split int, reason error) error
}

func (r *run[S, V]) send(p Pair[V]) error {
	n := len(r.chans)
	part := r.partition(p.Key, n)
	if part < 0 || part >= n {
		return fmt.Errorf("mapreduce: job %q: key %q partitioned to %d of %d", r.job.Name, p.Key, part, n)
	}
	if err := r.ctx.Err(); err != nil {
		return context.Cause(r.ctx) // the job has ended: nothing more goes in
	}
	select {
	case r.chans[part] <- p:
	default:
		// The partition's buffer is full: wait for its reduce task.
		select {
		case r.chans[part] <- p:
		case <-r.ctx.Done():
			return context.Cause(r.ctx)
		}
	}
	r.emitted.Add(1)
	r.perPart[part].Add(1)
	return nil
}

func (r *run[S, V]) badInput(split int, reason error) error {
	r.badMu.Lock()
	defer r.badMu.Unlock()
	r.bad++
	if len(r.reasons) < maxReasons {
		r.reasons = append(r.reasons, fmt.Sprintf("split %d: %v", split, reason))
	}
	if lim := r.job.MaxBadInputs; lim >= 0 && r.bad > uint64(lim) {
		err := &BadInputError{Job: r.job.Name, Limit: lim, Count: r.bad, Reasons: append([]string(nil), r.reasons...)}
		r.fail(err)
		return err
	}
	return nil
}

// Emitter is a map task's output, for its goroutine alone and only
// until Map returns.
type Emitter[V any] struct {
	r     shuffle[V]
	split int
	seq   uint64
}

// Emit sends key and v to key's partition. It waits while the
// partition's buffer is full, and fails when the job has.
func (e *Emitter[V]) Emit(key string, v V) error {
	if err := e.r.send(Pair[V]{Key: key, Value: v, Split: e.split, Seq: e.seq}); err != nil {
		return err
	}
	e.seq++
	return nil
}

// Bad counts an input the map task skips, for reason. Past the job's
// MaxBadInputs it fails the job and returns the *BadInputError, which the
// map task should return.
func (e *Emitter[V]) Bad(reason error) error { return e.r.badInput(e.split, reason) }
