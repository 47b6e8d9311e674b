package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

// site is a test web server: HTML by path, a robots.txt, and a count of
// the requests each path got.
type site struct {
	*httptest.Server
	mu       sync.Mutex
	pages    map[string]http.HandlerFunc
	hits     map[string]int
	times    []time.Time // request start times, pages and robots alike
	active   atomic.Int32
	maxInUse atomic.Int32
}

func newSite(t *testing.T, pages map[string]string) *site {
	t.Helper()
	s := &site{pages: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	for p, body := range pages {
		s.html(p, body)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.active.Add(1)
		defer s.active.Add(-1)
		for {
			m := s.maxInUse.Load()
			if n <= m || s.maxInUse.CompareAndSwap(m, n) {
				break
			}
		}
		s.mu.Lock()
		s.hits[r.URL.RequestURI()]++
		s.times = append(s.times, time.Now())
		h := s.pages[r.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) html(path, body string) {
	s.handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	})
}

func (s *site) handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	s.pages[path] = h
	s.mu.Unlock()
}

func (s *site) hitsOf(uri string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[uri]
}

func testOptions(seeds ...string) Options {
	return Options{
		Seeds: seeds, AllowPrivate: true, Delay: -1, Workers: 4, PerHost: 4,
		RetryBase: time.Millisecond, MaxRetryWait: 50 * time.Millisecond, Timeout: 5 * time.Second,
	}
}

// crawl runs a crawl to its end and returns its records by URL path.
func crawl(t *testing.T, opts Options) (map[string]record.Record, *crawler.Tally, error) {
	t.Helper()
	tally := &crawler.Tally{}
	opts.Tally = tally
	c, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := map[string]record.Record{}
	err = c.Crawl(ctx, func(_ context.Context, r record.Record) error {
		_, path, _ := strings.Cut(strings.TrimPrefix(r.URL, "http://"), "/")
		if _, dup := recs["/"+path]; dup {
			t.Errorf("image %s emitted twice", r.URL)
		}
		recs["/"+path] = r
		return nil
	})
	return recs, tally, err
}

func img(src, alt string) string {
	return fmt.Sprintf(`<img src=%q alt=%q width="640" height="480">`, src, alt)
}

func TestCrawlFollowsLinksWithinHostOnce(t *testing.T) {
	s := newSite(t, nil)
	s.html("/", `<html><head><title>Home</title></head><body>
		<a href="/a">a</a> <a href="a#top">a again</a> <a href="/b/../a">a by dots</a>
		<a href="/b">b</a> <a href="http://elsewhere.invalid/x">out of scope</a>
		<a href="/private/p">private</a>`+img("/img/home.jpg", "a lighthouse at dusk")+`</body></html>`)
	s.html("/a", `<title>A</title><a href="/">home</a><a href="/c">c</a>`+img("/img/a.jpg", "red fox in snow")+img("/img/home.jpg", "the lighthouse again"))
	s.html("/b", `<title>B</title>`+img("/img/b.png", "harbour boats"))
	s.html("/c", `<title>C</title><a href="/d">d</a>`+img("/img/c.gif", "a cat"))
	s.html("/d", `<title>D</title>`+img("/img/d.jpg", "too deep"))
	s.html("/private/p", img("/img/secret.jpg", "secret"))
	s.html("/robots.txt", "")
	s.handle("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
	})

	opts := testOptions(s.URL + "/")
	opts.MaxDepth = 2
	recs, tally, err := crawl(t, opts)
	require.NoError(t, err)

	assert.ElementsMatch(t, []string{"/img/home.jpg", "/img/a.jpg", "/img/b.png", "/img/c.gif"}, slices.Collect(mapsKeys(recs)))
	assert.Equal(t, "a lighthouse at dusk", recs["/img/home.jpg"].Alt, "first page an image is seen on describes it")
	assert.Equal(t, s.URL+"/a", recs["/img/a.jpg"].PageURL)
	assert.Equal(t, "web", recs["/img/a.jpg"].Source)
	for _, p := range []string{"/", "/a", "/b", "/c", "/robots.txt"} {
		assert.Equal(t, 1, s.hitsOf(p), "%s fetched once", p)
	}
	assert.Zero(t, s.hitsOf("/d"), "beyond max depth")
	assert.Zero(t, s.hitsOf("/private/p"), "robots.txt disallows it")
	assert.EqualValues(t, 4, tally.Pages.Load())
	assert.EqualValues(t, 4, tally.Records.Load())
	assert.EqualValues(t, 1, tally.Skipped()["robots.txt disallows"])
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestCrawlMaxPages(t *testing.T) {
	s := newSite(t, nil)
	for i := range 50 {
		s.html(fmt.Sprintf("/p%d", i), fmt.Sprintf(`<a href="/p%d">next</a><a href="/p%d">skip</a>`, i+1, i+2)+img(fmt.Sprintf("/i%d.jpg", i), "photo"))
	}
	opts := testOptions(s.URL + "/p0")
	opts.MaxDepth = 100
	opts.MaxPages = 10
	_, tally, err := crawl(t, opts)
	require.NoError(t, err)
	assert.EqualValues(t, 10, tally.Pages.Load())
}

func TestCrawlRefusesPrivateAddressesByDefault(t *testing.T) {
	s := newSite(t, map[string]string{"/": img("/x.jpg", "x")})
	opts := testOptions(s.URL + "/")
	opts.AllowPrivate = false
	_, tally, err := crawl(t, opts)
	require.ErrorIs(t, err, ErrNothingCrawled)
	assert.Contains(t, err.Error(), "address not allowed")
	assert.Zero(t, s.hitsOf("/"))
	assert.Zero(t, s.hitsOf("/robots.txt"))
	assert.EqualValues(t, 1, tally.Skipped()["address not allowed"])
}

func TestCrawlRedirects(t *testing.T) {
	s := newSite(t, nil)
	s.html("/", `<a href="/old">old</a><a href="/loop1">loop</a><a href="/away">away</a><a href="/new">new</a>`)
	s.handle("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusMovedPermanently) })
	s.html("/new", img("/new.jpg", "moved page"))
	s.handle("/loop1", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop2", http.StatusFound) })
	s.handle("/loop2", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop1", http.StatusFound) })
	s.handle("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	recs, tally, err := crawl(t, testOptions(s.URL+"/"))
	require.NoError(t, err)
	assert.Contains(t, recs, "/new.jpg")
	assert.Equal(t, 1, s.hitsOf("/new"), "a redirect target is not fetched again as a link")
	assert.LessOrEqual(t, s.hitsOf("/loop1"), 1)
	assert.LessOrEqual(t, s.hitsOf("/loop2"), 1)
	skipped := tally.Skipped()
	assert.EqualValues(t, 1, skipped["redirect out of scope"])
	assert.Positive(t, skipped["redirect to a crawled page"], "loop and /old→/new (one of them) stop at a page already crawled")
}

func TestCrawlSlowAndHostileServers(t *testing.T) {
	s := newSite(t, nil)
	s.html("/", `<a href="/trickle">slow</a><a href="/huge">huge</a><a href="/binary">binary</a><a href="/gz">gz</a>`+img("/ok.jpg", "fine"))
	s.handle("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		for {
			if _, err := w.Write([]byte("<p>")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	s.handle("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, img("/huge.jpg", "before the cap"))
		chunk := strings.Repeat("<p>endless</p>", 1000)
		for i := 0; i < 10000; i++ {
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
	})
	s.handle("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		fmt.Fprint(w, "PK\x03\x04")
	})
	s.handle("/gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, img("/gz.jpg", "compressed page"))
		zw.Close()
	})
	opts := testOptions(s.URL + "/")
	opts.Timeout = 500 * time.Millisecond
	opts.MaxPageBytes = 64 << 10
	recs, tally, err := crawl(t, opts)
	require.NoError(t, err)
	assert.Contains(t, recs, "/ok.jpg")
	assert.Contains(t, recs, "/gz.jpg")
	assert.Contains(t, recs, "/huge.jpg", "a page over the cap is read up to it")
	skipped := tally.Skipped()
	assert.EqualValues(t, 1, skipped["timeout"])
	assert.EqualValues(t, 1, skipped["not HTML"])
}

func TestCrawlRetriesServerErrors(t *testing.T) {
	s := newSite(t, nil)
	var calls atomic.Int32
	s.handle("/", func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, img("/x.jpg", "third time lucky"))
		}
	})
	s.handle("/gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	opts := testOptions(s.URL+"/", s.URL+"/gone")
	opts.MaxRetries = 2
	opts.MaxRetryWait = 5 * time.Second
	tally := &crawler.Tally{}
	opts.Tally = tally
	c, err := New(opts)
	require.NoError(t, err)
	var mu sync.Mutex
	var waits []time.Duration
	c.fetch.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}
	var got []string
	require.NoError(t, c.Crawl(context.Background(), func(_ context.Context, r record.Record) error {
		got = append(got, r.Alt)
		return nil
	}))
	assert.Equal(t, []string{"third time lucky"}, got)
	assert.EqualValues(t, 3, calls.Load())
	assert.Equal(t, 3, s.hitsOf("/gone"), "one attempt and two retries")
	assert.Contains(t, waits, 2*time.Second, "Retry-After is honoured")
	assert.EqualValues(t, 1, tally.Skipped()["HTTP 500"])
}

func TestCrawlPoliteness(t *testing.T) {
	s := newSite(t, nil)
	links := ""
	for i := range 6 {
		links += fmt.Sprintf(`<a href="/p%d">p</a>`, i)
		s.handle(fmt.Sprintf("/p%d", i), func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<p>page</p>")
		})
	}
	s.html("/", links)
	s.handle("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "User-agent: picdex\nCrawl-delay: 0.1\nDisallow:\n")
	})
	opts := testOptions(s.URL + "/")
	opts.Workers = 8
	opts.PerHost = 1
	_, _, err := crawl(t, opts)
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.maxInUse.Load(), "one request at a time to the host")
	s.mu.Lock()
	times := slices.Clone(s.times)
	s.mu.Unlock()
	require.Len(t, times, 8)
	for i := 2; i < len(times); i++ { // after robots.txt: Crawl-delay applies
		assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), 95*time.Millisecond, "request %d", i)
	}
}

func TestCrawlStopsOnSinkErrorAndResumes(t *testing.T) {
	s := newSite(t, nil)
	const n = 30
	for i := range n {
		s.html(fmt.Sprintf("/p%d", i), fmt.Sprintf(`<a href="/p%d">next</a>`, i+1)+
			img(fmt.Sprintf("/i%d-a.jpg", i), "first")+img(fmt.Sprintf("/i%d-b.jpg", i), "second"))
	}
	opts := testOptions(s.URL + "/p0")
	opts.MaxDepth = 100
	c, err := New(opts)
	require.NoError(t, err)
	got := map[string]int{}
	full := errors.New("disk full")
	var state []byte
	err = c.Crawl(context.Background(), func(_ context.Context, r record.Record) error {
		if len(got) == 25 {
			var err error
			state, err = c.State()
			require.NoError(t, err)
			return full
		}
		got[r.URL]++
		return nil
	})
	require.ErrorIs(t, err, full)

	c2, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, c2.Restore(state))
	require.NoError(t, c2.Crawl(context.Background(), func(_ context.Context, r record.Record) error {
		got[r.URL]++
		return nil
	}))
	assert.Len(t, got, 2*n, "every image emitted")
	for u, k := range got {
		assert.Equal(t, 1, k, "%s emitted once", u)
	}
	for i := range n {
		assert.LessOrEqual(t, s.hitsOf(fmt.Sprintf("/p%d", i)), 2, "a page is fetched again at most once, when it was under way")
	}

	other := testOptions(s.URL + "/p1")
	c3, err := New(other)
	require.NoError(t, err)
	require.ErrorIs(t, c3.Restore(state), ErrStateMismatch)
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{},
		{Seeds: []string{"ftp://example.com/"}},
		{Seeds: []string{"/relative"}},
		{Seeds: []string{"http://example.com/"}, AllowHosts: []string{"http://x/"}},
		{Seeds: []string{"http://example.com/"}, Workers: -1},
	} {
		assert.Error(t, o.Validate(), "%+v", o)
	}
	o := Options{Seeds: []string{"https://example.com/"}}
	require.NoError(t, o.Validate())
	assert.Equal(t, 3, o.MaxDepth)
	assert.Equal(t, "picdex", o.agentToken())
}

func TestScope(t *testing.T) {
	c, err := New(Options{Seeds: []string{"https://Example.com/start"}, AllowHosts: []string{"*.cdn.net", "static.example.org"}})
	require.NoError(t, err)
	for u, want := range map[string]bool{
		"https://example.com/x":        true,
		"http://example.com:8080/x":    true,
		"https://a.cdn.net/x":          true,
		"https://cdn.net/x":            true,
		"https://evilcdn.net/x":        false,
		"https://static.example.org/":  true,
		"https://www.example.com/":     false,
		"https://example.com.evil.io/": false,
	} {
		assert.Equal(t, want, c.inScope(mustURL(t, u)), u)
	}
}

func TestCrawlFetchImages(t *testing.T) {
	s := newSite(t, nil)
	s.html("/", `<h1>Gallery</h1><p>`+img("/photo.jpg", "a red square")+img("/fake.jpg", "not really")+
		img("/big.png", "too big")+`</p><a href="/two">two</a>`)
	s.html("/two", img("/photo.jpg", "the same photo again"))
	var photo bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for i := range pic.Pix {
		pic.Pix[i] = 200
	}
	require.NoError(t, jpeg.Encode(&photo, pic, nil))
	s.handle("/photo.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(photo.Bytes())
	})
	s.handle("/fake.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		fmt.Fprint(w, "<html>an error page served as an image</html>")
	})
	s.handle("/big.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(bytes.Repeat([]byte{0}, 64<<10))
	})
	opts := testOptions(s.URL + "/")
	opts.FetchImages, opts.ImagePHash = true, true
	opts.MaxImageBytes = 32 << 10
	recs, tally, err := crawl(t, opts)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	r := recs["/photo.jpg"]
	assert.Equal(t, "a red square", r.Alt)
	assert.Equal(t, "jpeg", r.Format)
	assert.Equal(t, 48, r.Width)
	assert.Equal(t, 32, r.Height)
	assert.EqualValues(t, photo.Len(), r.Bytes)
	assert.Len(t, r.PHash, 16)
	assert.Equal(t, 1, s.hitsOf("/photo.jpg"), "an image on two pages is downloaded once")
	skipped := tally.Skipped()
	assert.EqualValues(t, 1, skipped["not an image"])
	assert.EqualValues(t, 1, skipped["too large"])
}
