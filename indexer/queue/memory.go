package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
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

	// batch numbers the Publish that wrote the item, from 1 (0: read
	// from a log written before batches were recorded). ends is set on
	// the last item of its batch in its partition only: where the batch
	// ends in every partition it touched, which is how a restart tells a
	// batch written whole from one cut short (see OpenDurable).
	batch uint64
	ends  []partEnd
}

// partEnd says that a batch's messages in partition part end just
// before offset end.
type partEnd struct {
	part int
	end  int64
}

// ErrClosed is returned by a Memory queue that was closed.
var ErrClosed = errors.New("queue closed")

// Memory is the embedded queue picdex serve uses without Kafka: the same
// shape — keyed partitions, offsets, acknowledgements — in process.
//
// Publish is all or nothing: it waits until the whole batch fits within
// Capacity unacknowledged messages (the back-pressure), then queues all of
// it; a batch larger than Capacity goes in whole once the queue is empty.
// Publishers are admitted in the order they came, so a large batch is
// never starved by small ones. A message stays until the consumer
// acknowledges it.
//
// A queue from NewMemory keeps its messages in memory only: what is not
// yet acknowledged is lost if the process dies, so a graceful stop drains
// it first (Drain). A queue from OpenDurable also appends every message to
// a per-partition log on disk before Publish returns, as a Kafka broker
// does, and finds the unacknowledged ones there again after a crash —
// except a batch the crash interrupted while its frames were being
// written (its Publish never returned), which is dropped from every log.
type Memory struct {
	capacity int

	// turn is held by the one publisher waiting for room; the others
	// queue for it, in order.
	turn chan struct{}

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
	batch   uint64     // the last batch number given out (under pmu)
	synced  uint64     // writes covered by an fsync (under smu)

	mu      sync.Mutex
	parts   []memPart
	pending int // admitted messages not yet acknowledged
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
	m := &Memory{capacity: max(capacity, 1), turn: make(chan struct{}, 1), parts: make([]memPart, len(start)), changed: make(chan struct{})}
	for p, off := range start {
		m.parts[p].base = off
	}
	return m
}

// OpenDurable is NewMemory with the messages also kept in logs in dir
// (created when missing). Messages the logs hold from start[p] on — those
// published but not applied before the process stopped — are queued again,
// with their offsets, ahead of anything new. A batch whose frames are not
// all in the logs — the process died while writing it — is cut from every
// log first: its Publish never returned, so none of it was applied.
func OpenDurable(dir string, start []int64, capacity int) (*Memory, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if extra, _ := filepath.Glob(logPath(dir, len(start))); len(extra) > 0 {
		return nil, fmt.Errorf("%s: logs of more partitions than the %d of this queue", dir, len(start))
	}
	m := NewMemory(start, capacity)
	m.durable = true
	logged := make([][]Item, len(start))
	at := make([][]int64, len(start))
	for p := range start {
		l, items, pos, err := openLog(dir, p)
		if err != nil {
			m.closeLogs()
			return nil, err
		}
		m.logs = append(m.logs, l)
		logged[p], at[p] = items, pos
	}
	if err := m.dropIncomplete(logged, at, start); err != nil {
		m.closeLogs()
		return nil, err
	}
	for p, items := range logged {
		l := m.logs[p]
		i := 0
		for i < len(items) && items[i].Offset < start[p] {
			i++ // applied already
		}
		var err error
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

// dropIncomplete cuts the last batch written from every log unless all
// of it is there. Writes are serialized, so only the last batch can have
// been cut short; its frames, if any, are the last of each log they are
// in. The cut is synced before the queue takes new writes, which must
// never be mistaken for the rest of the dropped batch.
func (m *Memory) dropIncomplete(logged [][]Item, at [][]int64, start []int64) error {
	for _, items := range logged {
		if len(items) > 0 {
			m.batch = max(m.batch, items[len(items)-1].batch)
		}
	}
	last := m.batch
	if last == 0 || batchComplete(logged, start, last) {
		return nil
	}
	for p, items := range logged {
		i := len(items)
		for i > 0 && items[i-1].batch == last {
			i--
		}
		if i == len(items) {
			continue
		}
		l := m.logs[p]
		if err := l.cut(at[p][i]); err != nil {
			return fmt.Errorf("%s: dropping an incomplete batch: %w", l.path, err)
		}
		l.size = at[p][i]
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", l.path, err)
		}
		logged[p] = items[:i]
	}
	return nil
}

// batchComplete reports whether every partition's share of batch b is
// either in its log (down to the share's last frame, which carries the
// batch's ends) or applied already (start at or past its end: a share is
// consumed only once the whole batch is written).
func batchComplete(logged [][]Item, start []int64, b uint64) bool {
	has := func(p int, last int64) bool {
		for _, it := range slices.Backward(logged[p]) {
			if it.batch == b && it.Offset == last {
				return it.ends != nil
			}
		}
		return false
	}
	var ends []partEnd
	for _, items := range logged {
		for _, it := range items {
			if it.batch == b && it.ends != nil {
				ends = it.ends
			}
		}
	}
	if ends == nil {
		return false // no partition's share was written to its end
	}
	for _, e := range ends {
		if e.part < 0 || e.part >= len(logged) {
			return false
		}
		if start[e.part] < e.end && !has(e.part, e.end-1) {
			return false
		}
	}
	return true
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

// Publish appends recs, keyed by id: all of them or none. It waits while
// the batch does not fit (see Memory); ctx ends only that wait — once the
// batch is admitted it is written whatever happens to ctx, so a caller
// that gives up never leaves part of a batch behind. An error before the
// batch is in the queue leaves none of it; one from the fsync after (the
// disk failing) comes when the whole batch is queued already and will be
// applied, as a broker that acknowledged nothing may still have written:
// the caller cannot tell, and publishing again is safe because upserts
// and deletes by id are idempotent.
func (m *Memory) Publish(ctx context.Context, recs []record.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	items := make([]Item, len(recs))
	for i, r := range recs {
		msg, err := Message(r, now)
		if err != nil {
			return err
		}
		items[i] = Item{Key: msg.Key, Value: msg.Value, ProducedAt: now}
	}
	if err := m.admit(ctx, len(items)); err != nil {
		return err
	}
	mine, err := m.append(items)
	if err != nil {
		return err
	}
	return m.sync(mine)
}

// admit waits for its turn and then for room for n more messages, and
// counts them as pending; they are the publisher's to append then.
func (m *Memory) admit(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.turn }()
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		if m.pending == 0 || m.pending+n <= m.capacity {
			m.pending += n
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
		m.mu.Lock()
	}
}

// append gives the admitted items their partitions and offsets, writes
// them to the logs and queues them, as one batch; it returns the number
// of its write, for sync.
func (m *Memory) append(items []Item) (uint64, error) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.pending -= len(items)
		m.mu.Unlock()
		return 0, ErrClosed
	}
	// Offsets: base+len(items) does not move under Ack, and no other
	// append runs while pmu is held.
	m.batch++
	byPart := make([][]Item, len(m.parts))
	for _, it := range items {
		p := m.PartitionOf(it.Key)
		it.Partition, it.Offset, it.batch = p, m.parts[p].base+int64(len(m.parts[p].items)+len(byPart[p])), m.batch
		byPart[p] = append(byPart[p], it)
	}
	m.mu.Unlock()
	var ends []partEnd
	for p, its := range byPart {
		if len(its) > 0 {
			ends = append(ends, partEnd{part: p, end: its[len(its)-1].Offset + 1})
		}
	}
	for _, its := range byPart {
		if len(its) > 0 {
			its[len(its)-1].ends = ends
		}
	}
	if err := m.write(byPart); err != nil {
		m.mu.Lock()
		m.pending -= len(items)
		m.signal()
		m.mu.Unlock()
		return 0, err
	}
	m.written++
	// The messages may be consumed before they are synced: once
	// applied, the shards hold them durably anyway.
	m.mu.Lock()
	for p, its := range byPart {
		m.parts[p].items = append(m.parts[p].items, its...)
	}
	m.signal()
	m.mu.Unlock()
	return m.written, nil
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

// Pending is the number of unacknowledged messages, counting those of a
// batch admitted and being written.
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
