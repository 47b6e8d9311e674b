package queue

import (
	"context"
	"errors"
	"hash/fnv"
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
// shape — keyed partitions, offsets, acknowledgements — in process memory.
// Publish blocks while Capacity messages are unacknowledged, which is the
// back-pressure; a message stays until the consumer acknowledges it. What
// is not yet acknowledged is lost if the process dies, so a graceful stop
// drains the queue first (Drain).
type Memory struct {
	capacity int

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
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		room := m.capacity - m.pending
		if room <= 0 {
			ch := m.changed
			m.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n := min(room, len(items))
		for _, it := range items[:n] {
			p := m.PartitionOf(it.Key)
			part := &m.parts[p]
			it.Partition, it.Offset = p, part.base+int64(len(part.items))
			part.items = append(part.items, it)
		}
		m.pending += n
		items = items[n:]
		m.signal()
		m.mu.Unlock()
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

// Ack drops partition p's items before offset next, making room.
func (m *Memory) Ack(p int, next int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := &m.parts[p]
	n := min(max(next-part.base, 0), int64(len(part.items)))
	if n == 0 {
		return
	}
	part.items = append(part.items[:0:0], part.items[n:]...)
	part.base += n
	m.pending -= int(n)
	m.signal()
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

// Close wakes every waiter with ErrClosed.
func (m *Memory) Close() {
	m.mu.Lock()
	m.closed = true
	m.signal()
	m.mu.Unlock()
}
