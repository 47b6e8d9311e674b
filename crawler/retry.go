package crawler

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/picdex/picdex/indexer/backoff"
)

// Sleep waits for d or until ctx ends, whichever is first (the one
// sleep every retry in picdex uses, from package indexer/backoff).
func Sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }

// RetryAfter reads an HTTP Retry-After header, seconds or a date, as a
// wait from now; zero when absent, past or unreadable, at most a day.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}
