package web

import (
	"context"
	"net/url"
	"time"

	"github.com/picdex/picdex/index/record"
)

type itemKind uint8

const (
	kindRobots itemKind = iota // a host's robots.txt, always its first request
	kindPage                   // an HTML page
	kindImage                  // an image to download (FetchImages)
)

// item is one request the crawl will make.
type item struct {
	kind  itemKind
	url   *url.URL
	depth int            // links followed from a seed (pages)
	rec   *record.Record // what the page said about the image (images)
}

// host is the politeness state of one scheme://host[:port].
type host struct {
	key    string
	queue  []*item
	active int       // requests in flight
	next   time.Time // earliest start of the next request
	delay  time.Duration
	robots *robots // nil until its robots.txt has been read
}

func (h *host) head() *item { return h.queue[0] }

// frontier hands out requests so that every host gets at most PerHost at
// once, started at least its delay apart, and never before its robots.txt
// has been read. Hosts are scanned linearly on each hand-out: a crawl is
// confined to its seeds' hosts and an allow-list (plus image hosts with
// FetchImages), so there are tens of hosts, not millions.
//
// The caller holds Crawler.mu around every method except next, which
// takes it itself while it waits.
type frontier struct {
	perHost int
	delay   time.Duration // the crawl's delay, before robots.txt says more
	hosts   map[string]*host
	queued  int
	// inflight holds handed-out items until done, so that a snapshot of
	// the crawl lists them as still to do.
	inflight map[*item]struct{}
	// changed is closed and replaced whenever work is added or finished,
	// waking the workers waiting in next.
	changed chan struct{}
}

func newFrontier(perHost int, delay time.Duration) *frontier {
	return &frontier{perHost: perHost, delay: delay, hosts: map[string]*host{}, inflight: map[*item]struct{}{}, changed: make(chan struct{})}
}

func hostKey(u *url.URL) string { return u.Scheme + "://" + u.Host }

// push queues it behind its host's other requests; a host seen for the
// first time gets its robots.txt request first.
func (f *frontier) push(it *item) {
	k := hostKey(it.url)
	h := f.hosts[k]
	if h == nil {
		h = &host{key: k, delay: f.delay}
		f.hosts[k] = h
		robotsURL := &url.URL{Scheme: it.url.Scheme, Host: it.url.Host, Path: "/robots.txt"}
		h.queue = append(h.queue, &item{kind: kindRobots, url: robotsURL})
		f.queued++
	}
	h.queue = append(h.queue, it)
	f.queued++
	f.signal()
}

func (f *frontier) signal() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// take hands out the next request that may start now. When none may, it
// returns when one will be ready (zero if only a finishing request can
// make one ready), and whether the crawl is over.
func (f *frontier) take(now time.Time) (it *item, wakeAt time.Time, finished bool) {
	if f.queued == 0 && len(f.inflight) == 0 {
		return nil, time.Time{}, true
	}
	for _, h := range f.hosts {
		if len(h.queue) == 0 || h.active >= f.perHost {
			continue
		}
		if h.robots == nil && h.head().kind != kindRobots {
			continue // its robots.txt is being read
		}
		if h.next.After(now) {
			if wakeAt.IsZero() || h.next.Before(wakeAt) {
				wakeAt = h.next
			}
			continue
		}
		it = h.head()
		h.queue[0] = nil
		h.queue = h.queue[1:]
		if len(h.queue) == 0 {
			h.queue = nil // let the backing array go
		}
		f.queued--
		h.active++
		h.next = now.Add(h.delay)
		f.inflight[it] = struct{}{}
		return it, time.Time{}, false
	}
	return nil, wakeAt, false
}

// done marks a handed-out request finished.
func (f *frontier) done(it *item) {
	delete(f.inflight, it)
	if h := f.hosts[hostKey(it.url)]; h != nil {
		h.active--
	}
	f.signal()
}

// setRobots records a host's rules and the delay between its requests:
// the larger of the crawl's delay and the site's Crawl-delay, capped.
func (f *frontier) setRobots(u *url.URL, r *robots, maxCrawlDelay time.Duration) {
	h := f.hosts[hostKey(u)]
	if h == nil {
		return
	}
	h.robots = r
	old := h.delay
	h.delay = max(f.delay, min(r.delay, maxCrawlDelay))
	h.next = h.next.Add(h.delay - old) // the robots request itself was spaced by the old delay
	f.signal()
}

// robotsFor returns the rules of u's host, nil when not read yet.
func (f *frontier) robotsFor(u *url.URL) *robots {
	if h := f.hosts[hostKey(u)]; h != nil {
		return h.robots
	}
	return nil
}

// pending lists every request not yet finished, queued or in flight,
// robots.txt requests left out (a resumed crawl reads them afresh).
func (f *frontier) pending() []*item {
	var out []*item
	for it := range f.inflight {
		if it.kind != kindRobots {
			out = append(out, it)
		}
	}
	for _, h := range f.hosts {
		for _, it := range h.queue {
			if it.kind != kindRobots {
				out = append(out, it)
			}
		}
	}
	return out
}

// waitFor blocks until changed is closed, wakeAt passes (never when
// zero) or ctx ends.
func waitFor(ctx context.Context, changed <-chan struct{}, wakeAt time.Time) error {
	var timer <-chan time.Time
	if !wakeAt.IsZero() {
		t := time.NewTimer(time.Until(wakeAt))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer:
	}
	return nil
}
