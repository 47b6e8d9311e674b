// Package web crawls web pages for the images on them.
//
// A Crawler starts from its seed URLs and follows links to pages on the
// seeds' hosts and on the hosts Options.AllowHosts names, to MaxDepth
// links from a seed and MaxPages pages in all. Each page is parsed by
// crawler/page, and every image a reader of the page would see becomes a
// record; with FetchImages each image is also downloaded and read by
// crawler/imagefile.
//
// # Politeness
//
// The first request to a host is for its robots.txt (RFC 9309: the group
// naming our User-Agent's product token, else '*'; longest match wins,
// allow on a tie; a 4xx means no rules, a 5xx or network failure means
// nothing may be fetched). Requests to one host are at most PerHost at
// once and start at least max(Delay, Crawl-delay) apart, Crawl-delay
// capped at MaxCrawlDelay.
//
// # Never twice
//
// Page URLs are normalised (crawler/page.Normalize) and remembered in a
// roaring bitmap of 64-bit fingerprints, with canonical URLs and redirect
// targets, so no page is fetched twice. An image found on several pages is
// emitted once, described by the first page it was found on.
//
// # Bounded
//
// Every request has a time limit covering its body; pages are read up to
// MaxPageBytes and images up to MaxImageBytes; redirects are limited and
// vetted (scope, robots.txt, seen) before they are followed; 5xx, 429 and
// failed connections are retried with a growing, jittered back-off that
// honours Retry-After; timeouts are not retried. By default the crawl
// connects only to public addresses, checked on the address actually
// dialled (after DNS, on every redirect), so a page cannot point the
// crawler at internal services.
//
// # Resuming
//
// State returns a snapshot that a new Crawler Restores: the requests not
// finished and both seen-sets. A snapshot never claims more than was
// emitted before it was taken; see State for the protocol.
package web
