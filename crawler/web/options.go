package web

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/picdex/picdex/crawler"
)

// DefaultUserAgent names picdex and where to read about it, as a polite
// crawler does. Its product token ("picdex") is what robots.txt groups
// are matched against.
const DefaultUserAgent = "picdex/1.0 (+https://github.com/picdex/picdex)"

// Options configure a web crawl. The zero value of every field means its
// default; Validate fills them in.
type Options struct {
	// Seeds are the URLs the crawl starts from.
	Seeds []string
	// AllowHosts are hosts whose pages may be crawled besides the seeds'
	// own. "*.example.com" allows every subdomain of example.com.
	AllowHosts []string

	MaxDepth int // links followed from a seed (default 3; negative: seeds only)
	MaxPages int // pages fetched in all (default 1,000)

	Workers int           // pages fetched at once over all hosts (default 8)
	PerHost int           // requests at once to one host (default 2)
	Delay   time.Duration // between the starts of two requests to one host (default 250ms; negative: none)
	// MaxCrawlDelay caps a robots.txt Crawl-delay (default 30s) so that a
	// hostile file cannot stall a host forever.
	MaxCrawlDelay time.Duration

	UserAgent     string
	Timeout       time.Duration // one request, body included (default 20s)
	MaxPageBytes  int64         // HTML read per page; the rest is ignored (default 4 MiB)
	MaxImageBytes int64         // image bytes with FetchImages (default 32 MiB)
	MaxRedirects  int           // per request (default 5)
	MaxRetries    int           // after the first attempt, on 5xx, 429 and network errors (default 3; negative: none)
	RetryBase     time.Duration // first back-off, doubled each retry (default 500ms)
	MaxRetryWait  time.Duration // cap on one wait, Retry-After included (default 30s)

	// AllowPrivate lets the crawl connect to loopback, private and
	// link-local addresses: for tests and intranets.
	AllowPrivate bool

	// FetchImages downloads each image and adds what its bytes say:
	// format, real dimensions, EXIF, perceptual hash, colours.
	FetchImages bool
	// ImagePHash and ImageColors compute the perceptual hash and dominant
	// colours of fetched images.
	ImagePHash, ImageColors bool

	// KeepDecorative emits decorative images (spacers, trackers, icons,
	// alt="") too, marked with an extra "decorative" field giving the
	// rule that matched, instead of skipping them.
	KeepDecorative bool

	// Tally counts pages, images and skips; nil counts into a private one.
	Tally *crawler.Tally
}

// Validate fills in defaults and reports options that cannot work.
func (o *Options) Validate() error {
	if len(o.Seeds) == 0 {
		return errors.New("web crawl: no start URL")
	}
	for _, s := range o.Seeds {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("web crawl: start URL %q: want an absolute http or https URL", s)
		}
	}
	for _, h := range o.AllowHosts {
		if strings.TrimPrefix(h, "*.") == "" || strings.ContainsAny(h, "/:") && !strings.Contains(h, "]") {
			return fmt.Errorf("web crawl: allowed host %q: want a host name such as example.com or *.example.com", h)
		}
	}
	if o.Workers < 0 || o.PerHost < 0 || o.MaxPages < 0 || o.MaxRedirects < 0 {
		return errors.New("web crawl: counts must not be negative")
	}
	setDefault(&o.MaxDepth, 3)
	setDefault(&o.MaxPages, 1000)
	setDefault(&o.Workers, 8)
	setDefault(&o.PerHost, 2)
	setDefault(&o.Delay, 250*time.Millisecond)
	if o.Delay < 0 {
		o.Delay = 0
	}
	setDefault(&o.MaxCrawlDelay, 30*time.Second)
	setDefault(&o.UserAgent, DefaultUserAgent)
	setDefault(&o.Timeout, 20*time.Second)
	setDefault(&o.MaxPageBytes, 4<<20)
	setDefault(&o.MaxImageBytes, 32<<20)
	setDefault(&o.MaxRedirects, 5)
	setDefault(&o.MaxRetries, 3)
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	setDefault(&o.RetryBase, 500*time.Millisecond)
	setDefault(&o.MaxRetryWait, 30*time.Second)
	if o.Tally == nil {
		o.Tally = &crawler.Tally{}
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// agentToken is the product token of the User-Agent, what robots.txt
// user-agent lines name.
func (o *Options) agentToken() string {
	tok, _, _ := strings.Cut(o.UserAgent, "/")
	tok, _, _ = strings.Cut(tok, " ")
	return strings.ToLower(tok)
}
