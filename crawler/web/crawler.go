package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/crawler/imagefile"
	"github.com/picdex/picdex/crawler/page"
	"github.com/picdex/picdex/index/record"
)

// Crawler is a web crawl: it fetches pages from its seeds outwards within
// its allowed hosts and emits a record for every image a reader of those
// pages would see. It implements crawler.Source. A Crawler runs once; its
// State, saved while it runs, lets a new Crawler resume it.
type Crawler struct {
	opts  Options
	tally *crawler.Tally
	fetch *fetcher
	seeds []*url.URL

	mu       sync.Mutex
	front    *frontier
	pages    *seenSet // page URLs queued or fetched, canonical URLs, redirect targets
	images   *seenSet // image URLs emitted or queued for download
	admitted int      // pages queued in all, held to MaxPages
	restored bool
	seedErr  error // why the first seed failed, reported if no page was fetched

	emitMu sync.Mutex
}

// ErrNothingCrawled is returned when not a single page could be fetched.
var ErrNothingCrawled = errors.New("web crawl: no page could be fetched")

// Errors that stop a redirect; they are counted as skips.
var (
	errOutOfScope   = errors.New("redirect leaves the allowed hosts")
	errRedirectSeen = errors.New("redirect to a page already crawled")
)

// deferredRedirect stops a redirect to a host whose robots.txt has not
// been read; the target is queued as a page of its own instead.
type deferredRedirect struct{ to *url.URL }

func (d *deferredRedirect) Error() string { return "redirect to " + d.to.String() + " queued" }

// New checks opts and prepares a crawl.
func New(opts Options) (*Crawler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Crawler{
		opts:   opts,
		tally:  opts.Tally,
		front:  newFrontier(opts.PerHost, opts.Delay),
		pages:  newSeenSet(),
		images: newSeenSet(),
	}
	for _, s := range opts.Seeds {
		u, _ := url.Parse(s) // Validate parsed it
		if n := page.Normalize(u); n != nil {
			c.seeds = append(c.seeds, n)
		}
	}
	c.fetch = newFetcher(&c.opts)
	return c, nil
}

// Crawl fetches pages until the frontier is empty, MaxPages is reached, ctx
// ends or emit fails. Pages and images that cannot be fetched or read are
// counted in the Tally and passed over. When ctx ends, the requests under
// way stay in the State, so a resumed crawl makes them again.
func (c *Crawler) Crawl(ctx context.Context, emit crawler.Emit) error {
	defer c.fetch.close()
	c.mu.Lock()
	if !c.restored {
		for _, u := range c.seeds {
			c.admitPage(u, 0)
		}
	}
	c.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() {
			for {
				it, err := c.next(ctx)
				if it == nil || err != nil {
					return
				}
				if err := c.do(ctx, it, emit); err != nil || ctx.Err() != nil {
					// it stays in flight, so the State keeps it for a
					// resumed crawl to make again.
					cancel(err)
					return
				}
				c.mu.Lock()
				c.front.done(it)
				c.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.tally.Pages.Load() == 0 && !c.restored {
		if c.seedErr != nil {
			return fmt.Errorf("%w: %v", ErrNothingCrawled, c.seedErr)
		}
		return ErrNothingCrawled
	}
	return nil
}

// next waits for a request that may start, or returns nil when the crawl
// is over.
func (c *Crawler) next(ctx context.Context) (*item, error) {
	for {
		c.mu.Lock()
		it, wakeAt, finished := c.front.take(time.Now())
		changed := c.front.changed
		c.mu.Unlock()
		if it != nil || finished {
			return it, nil
		}
		if err := waitFor(ctx, changed, wakeAt); err != nil {
			return nil, err
		}
	}
}

// admitPage queues u as a page at depth unless it was seen or the crawl
// has its MaxPages. The caller holds c.mu.
func (c *Crawler) admitPage(u *url.URL, depth int) {
	if c.admitted >= c.opts.MaxPages || !c.pages.add(u) {
		return
	}
	c.admitted++
	c.front.push(&item{kind: kindPage, url: u, depth: depth})
}

// inScope reports whether pages of u's host may be crawled: a seed's host
// or one the allow-list names.
func (c *Crawler) inScope(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	for _, s := range c.seeds {
		if strings.EqualFold(s.Hostname(), h) {
			return true
		}
	}
	for _, a := range c.opts.AllowHosts {
		a = strings.ToLower(a)
		if sub, ok := strings.CutPrefix(a, "*."); ok {
			if h == sub || strings.HasSuffix(h, "."+sub) {
				return true
			}
		} else if h == strings.Trim(a, "[]") {
			return true
		}
	}
	return false
}

func (c *Crawler) do(ctx context.Context, it *item, emit crawler.Emit) error {
	switch it.kind {
	case kindRobots:
		c.readRobots(ctx, it.url)
		return nil
	case kindPage:
		return c.crawlPage(ctx, it, emit)
	default:
		return c.fetchImage(ctx, it, emit)
	}
}

// readRobots reads a host's robots.txt. A missing file (4xx) allows
// everything; a failing server or network disallows everything, as RFC
// 9309 asks, and pages of that host are skipped with the failure's reason.
func (c *Crawler) readRobots(ctx context.Context, u *url.URL) {
	res, err := c.fetch.get(ctx, u, maxRobotsBytes, true, nil)
	var r *robots
	var se *statusError
	switch {
	case err == nil:
		r = parseRobots(res.body, c.opts.agentToken())
	case errors.As(err, &se) && se.code >= 400 && se.code < 500:
		r = robotsAllowAll()
	default:
		r = robotsDisallowAll()
		r.err = err
	}
	c.mu.Lock()
	c.front.setRobots(u, r, c.opts.MaxCrawlDelay)
	c.mu.Unlock()
}

// skip counts one URL passed over.
func (c *Crawler) skip(it *item, err error) {
	reason := skipReason(it.kind, err)
	c.tally.Skip(it.url.String(), reason, err)
	if it.kind == kindPage && it.depth == 0 {
		c.mu.Lock()
		if c.seedErr == nil {
			c.seedErr = fmt.Errorf("%s: %s: %w", it.url, reason, err)
		}
		c.mu.Unlock()
	}
}

// allowedByRobots checks u against its host's robots.txt, read already.
func (c *Crawler) allowedByRobots(u *url.URL) error {
	c.mu.Lock()
	r := c.front.robotsFor(u)
	c.mu.Unlock()
	switch {
	case r == nil:
		return nil // not reached: the frontier reads robots.txt first
	case r.err != nil:
		return fmt.Errorf("robots.txt unavailable: %w", r.err)
	case !r.allowed(u):
		return ErrRobotsDisallow
	}
	return nil
}

func (c *Crawler) crawlPage(ctx context.Context, it *item, emit crawler.Emit) error {
	if err := c.allowedByRobots(it.url); err != nil {
		c.skip(it, err)
		return nil
	}
	res, err := c.fetch.get(withRedirectPolicy(ctx, c.pageRedirect), it.url, c.opts.MaxPageBytes, true, isHTML)
	if err != nil {
		var d *deferredRedirect
		if errors.As(err, &d) {
			c.mu.Lock()
			c.front.push(&item{kind: kindPage, url: d.to, depth: it.depth})
			c.mu.Unlock()
			return nil
		}
		if ctx.Err() == nil {
			c.skip(it, err)
		}
		return nil
	}
	c.tally.Pages.Add(1)
	c.tally.Bytes.Add(int64(len(res.body)))
	p, err := page.ParseWithType(res.url, res.contentType, bytes.NewReader(res.body), page.Limits{MaxBytes: c.opts.MaxPageBytes})
	if err != nil {
		c.skip(it, fmt.Errorf("%w: %v", errUnparsable, err))
		return nil
	}

	duplicate := false
	c.mu.Lock()
	if p.Canonical != nil && p.Canonical.String() != p.URL.String() && c.inScope(p.Canonical) {
		// The page names another URL as its own. If that one was crawled
		// or is queued, it speaks for this page; otherwise this page
		// speaks for it, and it is not fetched.
		duplicate = !c.pages.add(p.Canonical)
	}
	var recs []record.Record
	if !duplicate {
		for _, r := range p.Records(c.opts.KeepDecorative) {
			if c.opts.FetchImages {
				// Marked now, not when emitted: the download is queued
				// and the State keeps it.
				if u, err := url.Parse(r.URL); err == nil && c.images.add(u) {
					rec := r
					c.front.push(&item{kind: kindImage, url: u, rec: &rec})
				}
				continue
			}
			recs = append(recs, r)
		}
	}
	c.mu.Unlock()
	// This page's images go out before its links are queued: a page they
	// lead to, crawled by another worker, must not describe an image of
	// this one first. The page stays in flight meanwhile, so a State taken
	// now still has it.
	for _, r := range recs {
		if err := c.emitOnce(ctx, emit, r); err != nil {
			return err
		}
	}
	if !p.NoFollow && it.depth < c.opts.MaxDepth {
		c.mu.Lock()
		for _, l := range p.Links {
			if c.inScope(l) {
				c.admitPage(l, it.depth+1)
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// emitOnce emits r unless its image was emitted already, found on an
// earlier page. It is marked seen only once emitted, so that a State taken
// meanwhile, while r's page is still under way, has neither: a resumed
// crawl fetches the page again and emits r.
func (c *Crawler) emitOnce(ctx context.Context, emit crawler.Emit, r record.Record) error {
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil // Normalize accepted it; cannot happen
	}
	c.mu.Lock()
	seen := c.images.has(u)
	c.mu.Unlock()
	if seen {
		return nil
	}
	if err := c.emitLocked(ctx, emit, r); err != nil {
		return err
	}
	c.mu.Lock()
	c.images.add(u)
	c.mu.Unlock()
	return nil
}

var errUnparsable = errors.New("unparsable HTML")

// pageRedirect vets where a page redirects: within the allowed hosts, not
// a page crawled already, allowed by robots.txt. A target on a host whose
// robots.txt is unread is queued as a page of its own.
func (c *Crawler) pageRedirect(to *url.URL) error {
	u := page.Normalize(to)
	if u == nil {
		return fmt.Errorf("redirect to %s: not an http(s) URL", to.Redacted())
	}
	if !c.inScope(u) {
		return fmt.Errorf("%w: %s", errOutOfScope, u.Host)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pages.add(u) {
		return errRedirectSeen
	}
	r := c.front.robotsFor(u)
	switch {
	case r == nil:
		return &deferredRedirect{to: u}
	case r.err != nil:
		return fmt.Errorf("robots.txt unavailable: %w", r.err)
	case !r.allowed(u):
		return ErrRobotsDisallow
	}
	return nil
}

// fetchImage downloads an image and adds what its bytes say to the record
// its page gave. An image robots.txt forbids keeps the page's description
// alone; one that cannot be downloaded or read is skipped, since a reader
// of the page would not see it either.
func (c *Crawler) fetchImage(ctx context.Context, it *item, emit crawler.Emit) error {
	rec := *it.rec
	if err := c.allowedByRobots(it.url); errors.Is(err, ErrRobotsDisallow) {
		return c.emit(ctx, emit, rec)
	} else if err != nil {
		c.skip(it, err)
		return nil
	}
	res, err := c.fetch.get(ctx, it.url, c.opts.MaxImageBytes, false, isImageType)
	if err != nil {
		if ctx.Err() == nil {
			c.skip(it, err)
		}
		return nil
	}
	c.tally.Files.Add(1)
	c.tally.Bytes.Add(int64(len(res.body)))
	info, err := imagefile.Extract(ctx, res.body, imagefile.Options{
		MaxBytes: c.opts.MaxImageBytes, PHash: c.opts.ImagePHash, Colors: c.opts.ImageColors,
	})
	if err != nil {
		if ctx.Err() == nil {
			c.skip(it, err)
		}
		return nil
	}
	info.Fill(&rec)
	if err := rec.Normalize(); err != nil {
		c.skip(it, err)
		return nil
	}
	return c.emit(ctx, emit, rec)
}

func (c *Crawler) emit(ctx context.Context, emit crawler.Emit, r record.Record) error {
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	return c.emitLocked(ctx, emit, r)
}

func (c *Crawler) emitLocked(ctx context.Context, emit crawler.Emit, r record.Record) error {
	if err := emit(ctx, r); err != nil {
		return err
	}
	c.tally.Records.Add(1)
	return nil
}

// skipReason is the short, stable phrase a skip is counted under.
func skipReason(kind itemKind, err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.Is(err, ErrRobotsDisallow):
		return "robots.txt disallows"
	case errors.Is(err, ErrForbiddenAddress):
		return "address not allowed"
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP %d", se.code)
	case errors.Is(err, ErrTooManyRedirs):
		return "too many redirects"
	case errors.Is(err, errOutOfScope):
		return "redirect out of scope"
	case errors.Is(err, errRedirectSeen):
		return "redirect to a crawled page"
	case errors.Is(err, ErrTooLarge), errors.Is(err, imagefile.ErrTooLarge):
		return "too large"
	case errors.Is(err, ErrContentType) && kind == kindPage:
		return "not HTML"
	case errors.Is(err, ErrContentType), errors.Is(err, imagefile.ErrNotImage):
		return "not an image"
	case errors.Is(err, imagefile.ErrBomb):
		return "decompression bomb"
	case errors.Is(err, imagefile.ErrCorrupt):
		return "corrupt image"
	case errors.Is(err, errUnparsable):
		return "unparsable HTML"
	case errors.Is(err, record.ErrInvalid):
		return "invalid record"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "network error"
}
