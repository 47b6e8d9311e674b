package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// conns are a Server's own keep-alive HTTP/1.1 connections, over which
// its batches travel when no HTTPClient was given: the goroutine that
// sends a batch writes the request and reads the answer itself. Through
// net/http's Transport each request also passes through a connection's
// reading and writing goroutines and their channels; on a fan-out of
// two or three batches per search, on a machine short of cores, that
// hand-off cost a query server about as much CPU as the rest of the
// batch's sending (BenchmarkRemoteFanout). The answer is still parsed by
// net/http (http.ReadResponse), so chunked bodies, "Connection: close"
// and the like are handled as they are there.
type conns struct {
	addr string // host:port, to dial
	host string // the Host header

	mu    sync.Mutex
	idle  []*conn // the most recently used last
	prune *time.Timer
}

// conn is one connection of conns.
type conn struct {
	net.Conn
	br      *bufio.Reader
	wbuf    []byte
	idle    time.Time // when it was put back
	got     bool      // a byte of the current answer has been read
	left    int64     // bytes the current answer's header may still read
	reading error     // why Read stopped reading (the header's bound)
}

func (c *conn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.reading
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	c.got = c.got || n > 0
	return n, err
}

const (
	connsMaxIdle     = 256
	connsIdleTimeout = 30 * time.Second // well under a server's idle timeout (api.DefaultIdleTimeout)
	connsDialTimeout = 5 * time.Second
	maxHeaderBytes   = 1 << 20 // as net/http's Transport
)

var (
	errHeaderTooLarge = errors.New("an answer's header of more than 1 MiB")
	errBodyTooLarge   = errors.New("an answer past the bound of its body")
)

// longAgo is a deadline that has passed: it stops a connection's
// pending reads and writes at once.
var longAgo = time.Unix(1, 0)

// post sends a POST of body to path with the headers given (name, value
// pairs), and hands the answer to read, which must read its body to the
// end for the connection to be used again. When a connection kept alive
// turns out to have been closed by the server meanwhile (nothing of an
// answer read from it), the request is sent again, once, on a new one
// (the others kept may be as dead): the calls sent this way only read.
// maxBody bounds the answer's body.
func (p *conns) post(ctx context.Context, path string, headers []string, body []byte, maxBody int64, read func(*http.Response) error) error {
	for retried := false; ; retried = true {
		c, reused, err := p.get(ctx, retried)
		if err != nil {
			return err
		}
		err = p.exchange(ctx, c, path, headers, body, maxBody, read)
		if err == nil || !reused || c.got || retried || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// exchange makes one request on c and puts c back or closes it.
func (p *conns) exchange(ctx context.Context, c *conn, path string, headers []string, body []byte, maxBody int64, read func(*http.Response) error) error {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(longAgo) })
	reuse := false
	defer func() {
		// A connection whose deadline the context may have set, or that
		// is in the middle of an answer, is not used again.
		if stop() && reuse {
			p.put(c)
		} else {
			c.Close()
		}
	}()
	w := append(c.wbuf[:0], "POST "...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, p.host...)
	w = append(w, "\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	for i := 0; i+1 < len(headers); i += 2 {
		w = append(w, "\r\n"...)
		w = append(w, headers[i]...)
		w = append(w, ": "...)
		w = append(w, headers[i+1]...)
	}
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	c.wbuf = w[:0]
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil // a large request's buffer is not kept
	}
	c.got, c.left, c.reading = false, maxHeaderBytes, errHeaderTooLarge
	if _, err := c.Write(w); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	c.left = math.MaxInt64 // the body is bounded by maxBody below
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxBody}
	if err := read(resp); err != nil {
		return err
	}
	// read has read to the end of the body; net/http's body reader says
	// so only once asked again.
	var one [1]byte
	if n, err := resp.Body.Read(one[:]); n != 0 || err != io.EOF {
		return fmt.Errorf("%w: bytes after the answer", errBatchFormat)
	}
	reuse = !resp.Close
	return nil
}

// get returns an idle connection (reused true) or, if there is none or
// fresh is set, a new one.
func (p *conns) get(ctx context.Context, fresh bool) (c *conn, reused bool, err error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 && !fresh {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	d := net.Dialer{Timeout: connsDialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	c = &conn{Conn: nc}
	c.br = bufio.NewReaderSize(c, 16<<10)
	return c, false, nil
}

// put keeps c for the next request.
func (p *conns) put(c *conn) {
	c.idle = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= connsMaxIdle {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	if p.prune == nil {
		p.prune = time.AfterFunc(connsIdleTimeout, p.pruneIdle)
	}
}

// pruneIdle closes the connections idle for connsIdleTimeout, and comes
// again while any are left.
func (p *conns) pruneIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune = nil
	cut := time.Now().Add(-connsIdleTimeout)
	n := 0
	for n < len(p.idle) && p.idle[n].idle.Before(cut) {
		p.idle[n].Close()
		n++
	}
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	if len(p.idle) > 0 {
		p.prune = time.AfterFunc(connsIdleTimeout, p.pruneIdle)
	}
}

// closeIdle closes the idle connections; those in use are closed when
// their request ends.
func (p *conns) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

// boundedBody fails a read past its bound.
type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// hostPort is u's host with its port, 80 when it names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
