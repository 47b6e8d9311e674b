package crawler

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/picdex/picdex/index/record"
)

// Emit receives each record a Source produces. An error stops the source,
// which returns it.
type Emit func(ctx context.Context, r record.Record) error

// Source produces records: a web crawl, a directory walk, a feed. Crawl
// calls emit from one goroutine at a time, so emit needs no locking of its
// own; a record emitted is the Source's promise that it is done with it.
type Source interface {
	Crawl(ctx context.Context, emit Emit) error
}

// Sink delivers records to where they go. Write may keep records buffered
// until Flush or Close; a Sink is used by one goroutine at a time.
type Sink interface {
	Write(ctx context.Context, r record.Record) error
	// Flush delivers everything written so far.
	Flush(ctx context.Context) error
	// Close flushes and releases the sink.
	Close(ctx context.Context) error
}

// Tally counts a crawl's progress and the inputs it skipped, by reason.
// It is safe for concurrent use; the zero value is ready.
type Tally struct {
	// Logger, when set, gets one line per skipped input.
	Logger *slog.Logger

	Pages   atomic.Int64 // HTML pages fetched and parsed
	Files   atomic.Int64 // files looked at (web images or files on disk)
	Records atomic.Int64 // records emitted
	Bytes   atomic.Int64 // bytes read from the network or disk

	mu      sync.Mutex
	skipped map[string]int64
}

// Skip counts one input passed over for reason (a short, stable phrase such
// as "not an image" or "robots.txt disallows") and logs where with detail.
func (t *Tally) Skip(where, reason string, detail error) {
	t.mu.Lock()
	if t.skipped == nil {
		t.skipped = map[string]int64{}
	}
	t.skipped[reason]++
	t.mu.Unlock()
	if t.Logger != nil {
		args := []any{"where", where, "reason", reason}
		if detail != nil {
			args = append(args, "detail", detail.Error())
		}
		t.Logger.Info("skipped", args...)
	}
}

// Skipped returns the skip counts by reason.
func (t *Tally) Skipped() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.skipped)
}

// SkippedTotal is the number of inputs skipped for any reason.
func (t *Tally) SkippedTotal() int64 {
	var n int64
	for _, c := range t.Skipped() {
		n += c
	}
	return n
}

// SkipReasons returns the reasons in a stable order, most frequent first.
func (t *Tally) SkipReasons() []string {
	m := t.Skipped()
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		if a < b {
			return -1
		}
		return 1
	})
	return keys
}
