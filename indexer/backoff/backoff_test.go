package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoffGrowsToItsLimit(t *testing.T) {
	b := New(10*time.Millisecond, 80*time.Millisecond)
	prev := time.Duration(0)
	for i := range 8 {
		d := b.Next()
		base := min(10*time.Millisecond<<i, 80*time.Millisecond)
		if d < base || d > base+base/4 {
			t.Fatalf("delay %d: %v, want %v to %v", i, d, base, base+base/4)
		}
		if d < prev/2 {
			t.Fatalf("delay %d shrank: %v after %v", i, d, prev)
		}
		prev = d
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
