package crawler

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"3": 3 * time.Second,
		now.Add(10 * time.Second).Format(http1123): 10 * time.Second,
		"":            0,
		"-5":          0,
		"soon":        0,
		"99999999999": 86400 * time.Second,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"
