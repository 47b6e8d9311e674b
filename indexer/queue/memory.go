package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/picdex/picdex/index/record"
)

// Item is one message of the in-process queue.
type Item struct {
	Partition  int
	Offset     int64
	Key, Value []byte
	ProducedAt time.Time
}

// ErrClosed is returned by a Memory queue that was closed.
var ErrClosed = errors.New("queue closed")

// Memory is the embedded queue picdex serve uses without Kafka: the same
// shape — keyed partitions, offsets, acknowledgements — in process. Publish
// blocks while Capacity messages are unacknowledged, which is the
// back-pressure; a message stays until the consumer acknowledges it.
//
// A queue from NewMemory keeps its messages in memory only: what is not
// yet acknowledged is lost if the process dies, so a graceful stop drains
// it first (Drain). A queue from OpenDurable also appends every message to
// a per-partition log on disk before Publish returns, as a Kafka broker
// does, and finds the unacknowledged ones there again after a crash.
type Memory struct {
	capacity int

	// pmu serializes writers of the logs, so messages reach them in
	// offset order. smu serializes fsyncs and the log maintenance of Ack:
	// a publisher writes under pmu, lets go, and then waits under smu for
	// an fsync that covers its write — one fsync for every publisher that
	// wrote meanwhile (group commit). Lock order: smu, pmu, mu.
	smu     sync.Mutex
	pmu     sync.Mutex
	durable bool       // from OpenDurable; set before the queue is shared
	logs    []*partLog // nil for a memory-only queue, and once closed (under pmu)
	written uint64     // writes to the logs so far (under pmu)
	synced  uint64     // writes covered by an fsync (under smu)

	mu      sync.Mutex
	parts   []memPart
	pending int // unacknowledged messages
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

type memPart struct {
	base  int64 // offset of items[0]
	items []Item
}

// NewMemory returns a queue of n partitions holding at most capacity
// unacknowledged messages; partition p's offsets start at start[p] (one
// past what the index already holds, so offsets keep growing across
// restarts).
func NewMemory(start []int64, capacity int) *Memory {
	m := &Memory{capacity: max(capacity, 1), parts: make([]memPart, len(start)), changed: make(chan struct{})}
	for p, off := range start {
		m.parts[p].base = off
	}
	return m
}

// OpenDurable is NewMemory with the messages also kept in logs in dir
// (created when missing). Messages the logs hold from start[p] on — those
// published but not applied before the process stopped — are queued again,
// with their offsets, ahead of anything new.
func OpenDurable(dir string, start []int64, capacity int) (*Memory, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if extra, _ := filepath.Glob(logPath(dir, len(start))); len(extra) > 0 {
		return nil, fmt.Errorf("%s: logs of more partitions than the %d of this queue", dir, len(start))
	}
	m := NewMemory(start, capacity)
	m.durable = true
	for p := range start {
		l, items, err := openLog(dir, p)
		if err != nil {
			m.closeLogs()
			return nil, err
		}
		m.logs = append(m.logs, l)
		i := 0
		for i < len(items) && items[i].Offset < start[p] {
			i++ // applied already
		}
		if items = items[i:]; len(items) == 0 {
			err = l.empty()
		} else {
			m.parts[p].base = items[0].Offset
			m.parts[p].items = items
			m.pending += len(items)
		}
		if err != nil {
			m.closeLogs()
			return nil, err
		}
	}
	return m, nil
}

func (m *Memory) closeLogs() {
	for _, l := range m.logs {
		l.f.Close()
	}
}

// Partitions is the number of partitions.
func (m *Memory) Partitions() int { return len(m.parts) }

func (m *Memory) signal() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// PartitionOf is the partition a key goes to.
func (m *Memory) PartitionOf(key []byte) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(len(m.parts)))
}

// Publish appends recs, keyed by id, blocking while the queue is full.
func (m *Memory) Publish(ctx context.Context, recs []record.Record) error {
	now := time.Now()
	items := make([]Item, len(recs))
	for i, r := range recs {
		msg, err := Message(r, now)
		if err != nil {
			return err
		}
		items[i] = Item{Key: msg.Key, Value: msg.Value, ProducedAt: now}
	}
	for len(items) > 0 {
		m.pmu.Lock()
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			m.pmu.Unlock()
			return ErrClosed
		}
		room := m.capacity - m.pending
		if room <= 0 {
			ch := m.changed
			m.mu.Unlock()
			m.pmu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Offsets: base+len(items) does not move under Ack, and no other
		// Publish runs while pmu is held.
		n := min(room, len(items))
		byPart := make([][]Item, len(m.parts))
		for _, it := range items[:n] {
			p := m.PartitionOf(it.Key)
			it.Partition, it.Offset = p, m.parts[p].base+int64(len(m.parts[p].items)+len(byPart[p]))
			byPart[p] = append(byPart[p], it)
		}
		m.mu.Unlock()
		if err := m.write(byPart); err != nil {
			m.pmu.Unlock()
			return err
		}
		m.written++
		mine := m.written
		// The messages may be consumed before they are synced: once
		// applied, the shards hold them durably anyway.
		m.mu.Lock()
		for p, its := range byPart {
			m.parts[p].items = append(m.parts[p].items, its...)
		}
		m.pending += n
		items = items[n:]
		m.signal()
		m.mu.Unlock()
		m.pmu.Unlock()
		if err := m.sync(mine); err != nil {
			return err
		}
	}
	return nil
}

// sync returns once write number mine of the logs is on disk, syncing
// every log written since the last fsync if no one has yet.
func (m *Memory) sync(mine uint64) error {
	if !m.durable {
		return nil
	}
	m.smu.Lock()
	defer m.smu.Unlock()
	if m.synced >= mine {
		return nil
	}
	m.pmu.Lock()
	if m.logs == nil {
		m.pmu.Unlock()
		return ErrClosed
	}
	upTo := m.written
	var dirty []*partLog
	for _, l := range m.logs {
		if l.dirty {
			dirty = append(dirty, l)
			l.dirty = false
		}
	}
	m.pmu.Unlock()
	// Writers may append while the files sync; they wait for the next
	// round. Neither Ack's maintenance nor Close can swap the files: both
	// need smu.
	errs := make([]error, len(dirty))
	var wg sync.WaitGroup
	for i, l := range dirty {
		wg.Go(func() {
			if err := l.f.Sync(); err != nil {
				errs[i] = fmt.Errorf("queue log %s: %w", l.path, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		m.pmu.Lock()
		for _, l := range dirty {
			l.dirty = true
		}
		m.pmu.Unlock()
		return err
	}
	m.synced = upTo
	return nil
}

// write appends each partition's new messages to its log, if the queue
// has logs, without syncing. On an error every log is cut back to where it
// was. The caller holds pmu.
func (m *Memory) write(byPart [][]Item) error {
	if m.logs == nil {
		return nil
	}
	var errs []error
	old := make([]int64, len(m.logs))
	for p, its := range byPart {
		old[p] = m.logs[p].size
		if len(its) > 0 {
			if err := m.logs[p].write(its); err != nil {
				errs = append(errs, fmt.Errorf("queue log of partition %d: %w", p, err))
			}
		}
	}
	if len(errs) > 0 {
		for p, l := range m.logs {
			if l.size != old[p] {
				if err := l.cut(old[p]); err != nil {
					errs = append(errs, err)
				}
				l.size = old[p]
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// Read returns the items of partition p from offset from on, waiting for
// one when there is none yet.
func (m *Memory) Read(ctx context.Context, p int, from int64) ([]Item, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		part := &m.parts[p]
		if i := from - part.base; i >= 0 && i < int64(len(part.items)) {
			out := append([]Item(nil), part.items[i:]...)
			m.mu.Unlock()
			return out, nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ack drops partition p's items before offset next, making room. A
// durable queue then cuts the partition's log to nothing when every
// message in it is acknowledged, or rewrites it with the unacknowledged
// ones once it has grown past 64 MiB. An error there leaves the log
// longer than it need be, never shorter: Ack returns it for logging.
func (m *Memory) Ack(p int, next int64) error {
	m.mu.Lock()
	part := &m.parts[p]
	n := min(max(next-part.base, 0), int64(len(part.items)))
	if n > 0 {
		part.items = append(part.items[:0:0], part.items[n:]...)
		part.base += n
		m.pending -= int(n)
		m.signal()
	}
	m.mu.Unlock()
	if n == 0 || !m.durable {
		return nil
	}
	m.smu.Lock()
	defer m.smu.Unlock()
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if m.logs == nil {
		return nil
	}
	l := m.logs[p]
	m.mu.Lock()
	var keep []Item
	if len(part.items) > 0 && l.size > compactAt {
		keep = append(keep, part.items...)
	}
	empty := len(part.items) == 0
	m.mu.Unlock()
	switch {
	case empty:
		return l.empty()
	case keep != nil:
		return l.rewrite(keep)
	}
	return nil
}

// Backlog returns the unacknowledged messages of each partition.
func (m *Memory) Backlog() map[int]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]int64, len(m.parts))
	for p := range m.parts {
		out[p] = int64(len(m.parts[p].items))
	}
	return out
}

// Next returns the first unacknowledged offset of partition p.
func (m *Memory) Next(p int) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[p].base
}

// Pending is the number of unacknowledged messages.
func (m *Memory) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending
}

// Drain waits until every message is acknowledged or ctx ends.
func (m *Memory) Drain(ctx context.Context) error {
	for {
		m.mu.Lock()
		if m.pending == 0 {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close wakes every waiter with ErrClosed and closes the logs.
func (m *Memory) Close() {
	m.smu.Lock()
	defer m.smu.Unlock()
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.mu.Lock()
	m.closed = true
	m.signal()
	m.mu.Unlock()
	m.closeLogs()
	m.logs = nil
}
