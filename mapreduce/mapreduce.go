package mapreduce

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// Job is a map/reduce job over splits of type S whose map tasks emit
// values of type V.
type Job[S, V any] struct {
	// Name names the job in errors and progress.
	Name string
	// Splits are the input, one map task each.
	Splits []S
	// Map reads one split and emits its pairs to out. An
	// input it cannot use it reports with out.Bad and goes on; an error
	// it returns fails the job.
	Map func(ctx context.Context, split S, out *Emitter[V]) error
	// Partitions is the number of reduce tasks, at least 1.
	Partitions int
	// Partition maps a key to its partition in [0, partitions); nil
	// means HashPartition.
	Partition func(key string, partitions int) int
	// Reduce consumes the pairs of one partition until in is closed
	// (every map task done) and returns; an error fails the job, and so
	// does returning nil with pairs still to come. When the job fails or
	// its context ends, ctx ends: Reduce may then return without
	// draining in.
	Reduce func(ctx context.Context, partition int, in <-chan Pair[V]) error
	// MaxBadInputs is how many bad inputs the job skips; one more fails
	// it. Negative: no limit.
	MaxBadInputs int
}

// Pair is one emitted key and value, with where it came from: the index
// of its split and its number among the pairs that split emitted.
type Pair[V any] struct {
	Key   string
	Value V
	Split int
	Seq   uint64
}

// Validate reports a job that cannot run.
func (j *Job[S, V]) Validate() error {
	switch {
	case j.Map == nil:
		return fmt.Errorf("mapreduce: job %q has no map function", j.Name)
	case j.Reduce == nil:
		return fmt.Errorf("mapreduce: job %q has no reduce function", j.Name)
	case j.Partitions < 1 || j.Partitions > MaxPartitions:
		return fmt.Errorf("mapreduce: job %q has %d partitions, want 1 to %d", j.Name, j.Partitions, MaxPartitions)
	}
	return nil
}

// MaxPartitions bounds a job's reduce tasks.
const MaxPartitions = 1 << 16

// HashPartition is the jump consistent hash (Lamping and Veach) of the
// FNV-1a hash of key over n partitions: keys spread evenly, and from n to
// n+1 partitions only a 1/(n+1) share of them moves.
func HashPartition(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return jumpHash(h.Sum64(), n)
}

func jumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// ErrTooManyBadInputs fails a job that met more bad inputs than its
// MaxBadInputs; the error wrapping it lists the first reasons.
var ErrTooManyBadInputs = errors.New("too many bad inputs")

// BadInputError is the error of a job failed by its bad inputs.
type BadInputError struct {
	Job     string
	Limit   int
	Count   uint64   // bad inputs met
	Reasons []string // the first of them, at most maxReasons
}

func (e *BadInputError) Error() string {
	return fmt.Sprintf("mapreduce: job %q met %d bad inputs, more than its limit of %d (%v); the first: %s",
		e.Job, e.Count, e.Limit, ErrTooManyBadInputs, strings.Join(e.Reasons, "; "))
}

func (e *BadInputError) Unwrap() error { return ErrTooManyBadInputs }

// maxReasons bounds the reasons a job keeps of its bad inputs.
const maxReasons = 10
