package web

import (
	"fmt"
	"net/url"
	"testing"
)

// TestSeenSetMemory: a million URLs of one host in a few bytes each, and
// none lost (a fingerprint collision would make add report false).
func TestSeenSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := newSeenSet()
	u := &url.URL{Scheme: "https", Host: "www.example.com"}
	const n = 1_000_000
	collisions := 0
	for i := range n {
		u.Path = fmt.Sprintf("/articles/%d/photo-%d.html", i/100, i)
		if !s.add(u) {
			collisions++
		}
	}
	size := s.bm.GetSizeInBytes()
	t.Logf("%d URLs: %d bytes (%.2f bytes/URL), %d collisions", n, size, float64(size)/n, collisions)
	if size > 4*n {
		t.Errorf("%d bytes for %d URLs", size, n)
	}
	if collisions > 2*n/4300+10 {
		t.Errorf("%d collisions, expected about %d", collisions, n/4300)
	}
	data, err := s.marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := newSeenSet()
	if err := back.unmarshal(data); err != nil || back.len() != s.len() {
		t.Fatalf("round trip: %v, %d vs %d", err, back.len(), s.len())
	}
	u.Path = "/articles/0/photo-0.html"
	if !back.has(u) {
		t.Error("restored set lost a URL")
	}
}
