// Package crawlbench measures the crawlers against the targets,
// each next to a baseline run in the same process: the web crawler on a
// generated site served on loopback against a plain loop of GETs of the
// same pages, and the file crawler on the shared sample images against
// just reading the same files.
package crawlbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/crawler/files"
	"github.com/picdex/picdex/crawler/imagefile"
	"github.com/picdex/picdex/crawler/web"
	"github.com/picdex/picdex/index/record"
)

// Targets from the crawler issue.
const (
	TargetPagesPerSec  = 300
	TargetImagesPerSec = 300
)

// Options describe a run. Zero fields take their defaults.
type Options struct {
	Pages   int      // pages of the generated site (default 2,000)
	Workers int      // web crawl workers (default 16)
	Repeat  int      // runs per measurement; medians are reported (default 3)
	Samples []string // image directories for the file crawl (default: the shared samples)
}

// DefaultSamples are the shared data's image directories, relative to the
// project root.
var DefaultSamples = []string{
	"../shared/data/exif-samples",
	"../shared/data/goexif-samples",
	"../shared/data/exiftool-t-images",
}

func (o Options) withDefaults() Options {
	if o.Pages == 0 {
		o.Pages = 2000
	}
	if o.Workers == 0 {
		o.Workers = 16
	}
	if o.Repeat == 0 {
		o.Repeat = 3
	}
	if o.Samples == nil {
		o.Samples = DefaultSamples
	}
	return o
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Pages < 0 || o.Pages > 1_000_000 || o.Workers < 0 || o.Workers > 1024 || o.Repeat < 0 || o.Repeat > 100 {
		return errors.New("crawlbench: pages, workers or repeat out of range")
	}
	return nil
}

// Run runs both measurements and writes the report to w.
func Run(ctx context.Context, w io.Writer, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	fmt.Fprintf(w, "picdex crawl benchmark: pages=%d workers=%d repeat=%d, %s %d CPUs\n",
		o.Pages, o.Workers, o.Repeat, runtime.Version(), runtime.NumCPU())
	if err := webSuite(ctx, w, o); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return fileSuite(ctx, w, o)
}

func webSuite(ctx context.Context, w io.Writer, o Options) error {
	site := newSite(o.Pages, 1)
	srv := httptest.NewServer(site)
	defer srv.Close()
	var crawlRates, getRates []float64
	var images int64
	for range o.Repeat {
		start := time.Now()
		tally := &crawler.Tally{}
		c, err := web.New(web.Options{
			Seeds: []string{srv.URL + "/"}, AllowPrivate: true, Delay: -1,
			Workers: o.Workers, PerHost: o.Workers, MaxPages: o.Pages, MaxDepth: 1 << 20, Tally: tally,
		})
		if err != nil {
			return err
		}
		if err := c.Crawl(ctx, func(context.Context, record.Record) error { return nil }); err != nil {
			return err
		}
		el := time.Since(start)
		if got := tally.Pages.Load(); got != int64(o.Pages) {
			return fmt.Errorf("crawled %d pages of %d (skipped: %v)", got, o.Pages, tally.Skipped())
		}
		images = tally.Records.Load()
		crawlRates = append(crawlRates, float64(o.Pages)/el.Seconds())

		rate, err := plainGets(ctx, srv.URL, o.Pages, o.Workers)
		if err != nil {
			return err
		}
		getRates = append(getRates, rate)
	}
	cr, gr := median(crawlRates), median(getRates)
	fmt.Fprintf(w, "\nweb crawl of a %d-page site on loopback, politeness off (%d workers), %d images:\n", o.Pages, o.Workers, images)
	fmt.Fprintf(w, "  picdex crawl       %8.0f pages/s (median of %d)  target >= %d  %s\n", cr, o.Repeat, TargetPagesPerSec, passFail(cr >= TargetPagesPerSec))
	fmt.Fprintf(w, "  baseline: GET loop %8.0f pages/s (same pages, %d goroutines, no parsing)  crawl/baseline = %.2f\n", gr, o.Workers, cr/gr)
	return nil
}

// plainGets fetches every page of the site with workers goroutines and
// nothing else: the ceiling a crawler's own work is measured against.
func plainGets(ctx context.Context, base string, pages, workers int) (float64, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s", base, pagePath(i)), nil)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range pages {
		next <- i
	}
	close(next)
	wg.Wait()
	return float64(pages) / time.Since(start).Seconds(), firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func fileSuite(ctx context.Context, w io.Writer, o Options) error {
	var roots []string
	for _, d := range o.Samples {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			roots = append(roots, d)
		}
	}
	if len(roots) == 0 {
		fmt.Fprintf(w, "\nfile crawl: skipped, none of %s is present\n", strings.Join(o.Samples, ", "))
		return nil
	}
	type result struct {
		name  string
		rates []float64
		n     int64
	}
	var images int64
	results := []*result{{name: "metadata only"}, {name: "with phash"}, {name: "baseline: read files"}}
	for range o.Repeat {
		for i, opt := range []imagefile.Options{{}, {PHash: true}} {
			n, recs, el, err := walkAll(ctx, roots, opt)
			if err != nil {
				return err
			}
			images = recs
			results[i].rates = append(results[i].rates, float64(n)/el.Seconds())
			results[i].n = n
		}
		n, el, err := readAll(roots)
		if err != nil {
			return err
		}
		results[2].rates = append(results[2].rates, float64(n)/el.Seconds())
		results[2].n = n
	}
	base := median(results[2].rates)
	fmt.Fprintf(w, "\nfile crawl of %s (%d files, %d of them images with a record):\n", strings.Join(roots, ", "), results[2].n, images)
	for i, r := range results {
		m := median(r.rates)
		line := fmt.Sprintf("  %-22s %8.0f files/s (median of %d)", r.name, m, o.Repeat)
		switch i {
		case 0:
			line += fmt.Sprintf("  target >= %d  %s  ratio to baseline %.2f", TargetImagesPerSec, passFail(m >= TargetImagesPerSec), m/base)
		case 1:
			line += fmt.Sprintf("  ratio to baseline %.2f", m/base)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// walkAll crawls every root and returns the files looked at. Rates are
// per file looked at, corrupt and non-image samples included, since those
// cost the crawler a read and a sniff too.
func walkAll(ctx context.Context, roots []string, opt imagefile.Options) (files64, records int64, _ time.Duration, _ error) {
	start := time.Now()
	for _, root := range roots {
		tally := &crawler.Tally{}
		wk := &files.Walker{Root: root, Options: opt, Tally: tally}
		if err := wk.Crawl(ctx, func(context.Context, record.Record) error { return nil }); err != nil {
			return 0, 0, 0, err
		}
		files64 += tally.Files.Load()
		records += tally.Records.Load()
	}
	return files64, records, time.Since(start), nil
}

func readAll(roots []string) (int64, time.Duration, error) {
	start := time.Now()
	var n int64
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if _, err := os.ReadFile(p); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return n, time.Since(start), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// site is a generated web site: every page has a title, headings,
// paragraphs, a dozen images with alt text and captions, and links to
// twenty other pages, about 15 KB of HTML, like an article page.
type site struct {
	pages [][]byte
}

func newSite(n int, seed uint64) *site {
	r := rand.New(rand.NewPCG(seed, 7))
	words := strings.Fields("harbour lighthouse fox snow mountain river bridge market festival portrait garden " +
		"cathedral train station sunset storm forest desert island museum street night bicycle kitchen")
	text := func(k int) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.String()
	}
	s := &site{pages: make([][]byte, n)}
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "<!doctype html><html lang=en><head><meta charset=utf-8><title>%s</title>"+
			"<meta name=keywords content=%q><link rel=canonical href=%q></head><body><nav>", text(5), text(3), pagePath(i))
		for range 20 {
			fmt.Fprintf(&b, `<a href="%s">%s</a> `, pagePath(r.IntN(n)), text(2))
		}
		// Page i also links to page i+1, so the whole site is reachable.
		fmt.Fprintf(&b, `<a href="%s">next</a></nav><main><h1>%s</h1>`, pagePath((i+1)%n), text(6))
		for j := range 12 {
			fmt.Fprintf(&b, "<h2>%s</h2><p>%s</p><figure><img src=\"/img/%d-%d.jpg\" srcset=\"/img/%d-%d-640.jpg 640w, /img/%d-%d-1280.jpg 1280w\" alt=%q width=640 height=480>"+
				"<figcaption>%s</figcaption></figure><p>%s</p>",
				text(4), text(60), i, j, i, j, i, j, text(6), text(10), text(40))
		}
		b.WriteString("</main></body></html>")
		s.pages[i] = []byte(b.String())
	}
	return s
}

func pagePath(i int) string {
	if i == 0 {
		return "/"
	}
	return fmt.Sprintf("/p/%d.html", i)
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := 0
	if r.URL.Path == "/robots.txt" {
		fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
		return
	}
	if r.URL.Path != "/" {
		if _, err := fmt.Sscanf(r.URL.Path, "/p/%d.html", &i); err != nil || i <= 0 || i >= len(s.pages) {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(s.pages[i])
}
