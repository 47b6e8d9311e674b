package indexer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestBatcherWaitCountsFromRead: a batch's wait counts from when its first
// message was read, so one whose first message has waited its time while
// the previous batch was applied goes at once, with every message that
// arrived meanwhile. (The wait is an hour: were it counted from when the
// batcher takes the message, the test would time out.)
func TestBatcherWaitCountsFromRead(t *testing.T) {
	applied := make(chan []Mapped, 4)
	b := &batcher{
		sink: func(_ context.Context, batch []Mapped) (Result, error) {
			applied <- batch
			return Result{Applied: len(batch)}, nil
		},
		stats: &Stats{}, records: 100, wait: time.Hour,
		deadLetter: func(context.Context, []Mapped) error { return nil },
	}
	batchDefaults(&b.records, &b.wait, &b.logger, time.Hour)
	in := make(chan Message, 8)
	read := time.Now().Add(-time.Hour) // read while an earlier batch was applied
	for i := range 3 {
		in <- Message{Topic: "t", Partition: 0, Offset: int64(i), Read: read.Add(time.Duration(i) * time.Minute),
			Value: fmt.Appendf(nil, `{"id":"img-%d","url":"https://example.com/%d.jpg"}`, i, i)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	committed := make(chan map[int]int64, 4)
	done := make(chan error, 1)
	go func() {
		done <- b.run(ctx, in, func(next map[int]int64) error { committed <- next; return nil })
	}()
	select {
	case batch := <-applied:
		if len(batch) != 3 {
			t.Errorf("the batch holds %d messages, want the 3 that had arrived", len(batch))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a batch whose first message had waited its time was not applied")
	}
	if next := <-committed; next[0] != 3 {
		t.Errorf("committed %v, want partition 0 at 3", next)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("run: %v", err)
	}
}

// TestToMessageRead: messages read from a partition say when.
func TestToMessageRead(t *testing.T) {
	before := time.Now()
	m := toMessage("t", 0, kafka.Message{Offset: 7})
	if m.Read.Before(before) || m.Read.After(time.Now()) {
		t.Errorf("Read %v, want the time of reading", m.Read)
	}
}
