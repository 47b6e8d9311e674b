package indexer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// Sink is what an Embedded indexer applies its batches with: an Applier,
// or Followers.
type Sink interface {
	Resume(topic string, partition int) (int64, error)
	ApplyMapped(ctx context.Context, msgs []Mapped) (Result, error)
}

var (
	_ Sink = (*Applier)(nil)
	_ Sink = (*Followers)(nil)
)

// Followers applies every batch of the write stream to each generation
// that follows it (the live one, the one kept for rollback, one just
// built), and, while a generation is being built, records the batches in
// a log for it: they are applied to it once its build is done, so that a
// write made during the build wins over the build's older version of the
// record. A batch is acknowledged only once the live generation has it
// (an error there fails the batch, which is applied again: every Applier
// skips what it already holds); a follower that is not live and fails is
// dropped instead, so that it cannot hold up the writes, and so is the
// recording, whose error the build's CatchUp then returns.
type Followers struct {
	mu        sync.Mutex
	primary   *Applier
	others    []*Applier
	dropped   map[*Applier]error
	pending   *PendingLog
	recordErr error
}

// NewFollowers returns Followers applying to primary, the live
// generation's Applier, and to others.
func NewFollowers(primary *Applier, others ...*Applier) *Followers {
	return &Followers{primary: primary, others: others, dropped: map[*Applier]error{}}
}

// ApplyMapped implements Sink: the Result is the live generation's.
func (f *Followers) ApplyMapped(ctx context.Context, msgs []Mapped) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res, err := f.primary.ApplyMapped(ctx, msgs)
	if err != nil {
		return Result{}, err
	}
	for _, a := range slices.Clone(f.others) {
		if _, err := a.ApplyMapped(ctx, msgs); err != nil {
			f.drop(a, err)
		}
	}
	if f.pending != nil {
		if err := f.pending.append(msgs); err != nil {
			f.recordErr = fmt.Errorf("recording the writes for the generation being built: %w", err)
			f.pending = nil
		}
	}
	return res, nil
}

// drop stops applying to a follower that failed; the caller holds f.mu.
func (f *Followers) drop(a *Applier, err error) {
	f.others = slices.DeleteFunc(f.others, func(x *Applier) bool { return x == a })
	f.dropped[a] = err
}

// Dropped says why a was dropped, nil when it was not.
func (f *Followers) Dropped(a *Applier) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped[a]
}

// Resume implements Sink: the lowest position any follower resumes from.
func (f *Followers) Resume(topic string, partition int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	low, err := f.primary.Resume(topic, partition)
	if err != nil {
		return 0, err
	}
	for _, a := range f.others {
		off, err := a.Resume(topic, partition)
		if err != nil {
			return 0, err
		}
		low = min(low, off)
	}
	return low, nil
}

// Record starts recording every batch in log, and returns the write
// queue's partitions' positions (next offsets) that the live generation
// has applied at that moment: where the recorded writes begin.
func (f *Followers) Record(log *PendingLog, topic string, partitions int) (map[int]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := map[int]int64{}
	for p := range partitions {
		off, err := f.primary.Resume(topic, p)
		if err != nil {
			return nil, err
		}
		next[p] = off
	}
	f.pending, f.recordErr = log, nil
	return next, nil
}

// CatchUp applies log's batches to a while the writes go on, a few
// rounds at most, until little is left; then, with the writes held for
// that moment, the rest, and makes a a follower: from then on it gets
// every batch directly.
func (f *Followers) CatchUp(ctx context.Context, log *PendingLog, a *Applier) error {
	for range catchUpRounds {
		n, err := log.replay(ctx, a)
		if err != nil {
			return err
		}
		if n < catchUpLeft {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recordErr != nil {
		return f.recordErr
	}
	if _, err := log.replay(ctx, a); err != nil {
		return err
	}
	if f.pending == log {
		f.pending = nil
	}
	f.others = append(f.others, a)
	return nil
}

// CatchUp's bounds: it finishes with the writes held once a round finds
// fewer than catchUpLeft messages, or after catchUpRounds rounds (the
// writes coming faster than they are caught up with).
const (
	catchUpLeft   = 5000
	catchUpRounds = 8
)

// StopRecording stops recording (a build that failed).
func (f *Followers) StopRecording(log *PendingLog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == log {
		f.pending = nil
	}
}

// Promote makes a, a follower, the live generation's: its failures fail
// the batches from now on; the one live before follows as the others do.
func (f *Followers) Promote(a *Applier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a == f.primary {
		return
	}
	f.others = append(slices.DeleteFunc(f.others, func(x *Applier) bool { return x == a }), f.primary)
	f.primary = a
}

// Remove stops applying to a follower that is not live (a generation
// retired).
func (f *Followers) Remove(a *Applier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.others = slices.DeleteFunc(f.others, func(x *Applier) bool { return x == a })
}

// Len is the number of followers, the live one included.
func (f *Followers) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return 1 + len(f.others)
}

// PendingLog is the batches written while a generation is built, kept
// in a file until they are applied to it.
type PendingLog struct {
	mu    sync.Mutex
	f     *os.File
	size  int64 // bytes of whole batches written
	read  int64 // bytes applied by replay
	count int64 // messages written
}

// CreatePendingLog creates the log file path.
func CreatePendingLog(path string) (*PendingLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &PendingLog{f: f}, nil
}

// Close closes and removes the file.
func (l *PendingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := l.f.Name()
	err := l.f.Close()
	if rerr := os.Remove(name); err == nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	return err
}

// Count is how many messages were recorded.
func (l *PendingLog) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

type pendingMessage struct {
	Topic      string    `json:"t"`
	Partition  int       `json:"p"`
	Offset     int64     `json:"o"`
	Key        []byte    `json:"k,omitempty"`
	Value      []byte    `json:"v"`
	ProducedAt time.Time `json:"at,omitzero"`
}

func (l *PendingLog) append(msgs []Mapped) error {
	var buf []byte
	for _, m := range msgs {
		line, err := json.Marshal(pendingMessage{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, ProducedAt: m.ProducedAt})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		return err
	}
	l.size += int64(len(buf))
	l.count += int64(len(msgs))
	return nil
}

// replay applies the batches recorded since the last replay to a, and
// says how many messages that was.
func (l *PendingLog) replay(ctx context.Context, a *Applier) (int, error) {
	l.mu.Lock()
	from, to := l.read, l.size
	l.mu.Unlock()
	if from == to {
		return 0, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(l.f, from, to-from), 1<<20)
	n := 0
	var batch []Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := a.ApplyMapped(ctx, MapAll(batch)); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var pm pendingMessage
			if jerr := json.Unmarshal(line, &pm); jerr != nil {
				return n, fmt.Errorf("pending log: %w", jerr)
			}
			batch = append(batch, Message{Topic: pm.Topic, Partition: pm.Partition, Offset: pm.Offset, Key: pm.Key, Value: pm.Value, ProducedAt: pm.ProducedAt})
			if len(batch) >= 5000 {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	l.mu.Lock()
	l.read = to
	l.mu.Unlock()
	return n, nil
}
