package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/picdex/picdex/crawler"
)

// Reasons a fetch fails, as counted in the crawl's tally.
var (
	ErrTooLarge       = errors.New("body too large")
	ErrContentType    = errors.New("unexpected content type")
	ErrTooManyRedirs  = errors.New("too many redirects")
	ErrHTTPStatus     = errors.New("HTTP error status")
	ErrRobotsDisallow = errors.New("robots.txt disallows")
)

// statusError is a response that is not 2xx after any retries.
type statusError struct {
	code int
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }
func (e *statusError) Unwrap() error { return ErrHTTPStatus }

// fetched is one successful response, its body read up to a cap.
type fetched struct {
	url         *url.URL // after redirects
	contentType string   // media type, lower case, no parameters
	body        []byte
	truncated   bool // the body went on past the cap
}

// fetcher does GETs the way a polite, defensive crawler must: bounded in
// time and bytes, retrying what may succeed later, connecting only where
// it is allowed to.
type fetcher struct {
	opts   *Options
	client *http.Client
	sleep  func(ctx context.Context, d time.Duration) error
}

// redirectPolicy vets a redirect target (scope, robots, seen) before it is
// followed; an error stops the request with that error.
type redirectPolicy func(u *url.URL) error

type redirectKey struct{}

// withRedirectPolicy makes the requests made with ctx ask p before each
// redirect. Without one, every http(s) redirect within the limit is
// followed.
func withRedirectPolicy(ctx context.Context, p redirectPolicy) context.Context {
	return context.WithValue(ctx, redirectKey{}, p)
}

func newFetcher(o *Options) *fetcher {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// No proxy from the environment: it would connect on our behalf
		// to addresses the guard never sees.
		Proxy:                  nil,
		DialContext:            guardedDialer(dialer, o.AllowPrivate),
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConnsPerHost:    max(o.PerHost, 2),
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        30 * time.Second,
		// Compression stays on: the transport asks for gzip and
		// decompresses, and the cap below applies to the decompressed
		// bytes, so a gzip bomb stops at the cap.
	}
	f := &fetcher{opts: o, sleep: crawler.Sleep}
	f.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("%w (%d)", ErrTooManyRedirs, o.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			if p, ok := req.Context().Value(redirectKey{}).(redirectPolicy); ok {
				return p(req.URL)
			}
			return nil
		},
	}
	return f
}

func (f *fetcher) close() { f.client.CloseIdleConnections() }

// get fetches u, accepting only the media types accept allows (nil: any),
// reading at most limit bytes of body. With truncateOK a longer body is
// cut at the limit; otherwise it is ErrTooLarge. 5xx, 429 and transient
// network errors are retried with a growing back-off that honours
// Retry-After.
func (f *fetcher) get(ctx context.Context, u *url.URL, limit int64, truncateOK bool, accept func(string) bool) (*fetched, error) {
	for attempt := 0; ; attempt++ {
		res, retryAfter, err := f.once(ctx, u, limit, truncateOK, accept)
		if err == nil || attempt >= f.opts.MaxRetries || !retryable(err) || ctx.Err() != nil {
			return res, err
		}
		wait := f.opts.RetryBase << attempt
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1)) // jitter: hosts recovering are not hit in lockstep
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, f.opts.MaxRetryWait)
		if err := f.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (f *fetcher) once(ctx context.Context, u *url.URL, limit int64, truncateOK bool, accept func(string) bool) (*fetched, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, unwrapURLError(err)
	}
	defer func() {
		// Drain a little so the connection can be reused, no more.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, crawler.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), &statusError{code: resp.StatusCode}
	}
	if resp.ContentLength > limit && !truncateOK {
		return nil, 0, fmt.Errorf("%w: %d bytes (cap %d)", ErrTooLarge, resp.ContentLength, limit)
	}
	ct := mediaType(resp.Header.Get("Content-Type"))
	if ct != "" && accept != nil && !accept(ct) {
		return nil, 0, fmt.Errorf("%w: %s", ErrContentType, ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, unwrapURLError(err)
	}
	res := &fetched{url: resp.Request.URL, contentType: ct, body: body}
	if int64(len(body)) > limit {
		if !truncateOK {
			return nil, 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
		}
		res.body, res.truncated = body[:limit], true
	}
	if ct == "" {
		res.contentType = mediaType(http.DetectContentType(res.body))
		if accept != nil && !accept(res.contentType) {
			return nil, 0, fmt.Errorf("%w: %s (sniffed)", ErrContentType, res.contentType)
		}
	}
	return res, 0, nil
}

// retryable reports whether err may go away: server errors, rate limits,
// refused or reset connections and failed name lookups. Timeouts are not
// retried (a slow server is not asked again to be slow), nor refusals of
// our own (scope, robots, address guard) or bad content.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests
	}
	if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return !ne.Timeout()
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// unwrapURLError drops the *url.Error wrapper, which repeats the URL the
// caller already logs.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	return mt
}

func isHTML(mt string) bool { return mt == "text/html" || mt == "application/xhtml+xml" }

// isImageType accepts image types and the generic binary type many servers
// send for images; the bytes decide in the end.
func isImageType(mt string) bool {
	return strings.HasPrefix(mt, "image/") || mt == "application/octet-stream" || mt == "binary/octet-stream"
}
