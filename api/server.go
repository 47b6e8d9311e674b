package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults for ServerOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultMaxConns          = 2048
	DefaultBodyGrace         = 5 * time.Second
	DefaultMinBodyRate       = 16 << 10
)

// ServerOptions bound what one client can hold of a server: connections,
// header size and time, and how slowly it may send a body. A zero field
// takes its default.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 64 KiB); past it
	// net/http answers 431 itself.
	MaxHeaderBytes int
	// IdleTimeout closes a keep-alive connection with no request for this
	// long (default 2m).
	IdleTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the end of the
	// answer (default 2m).
	WriteTimeout time.Duration
	// MaxConns caps the connections open at once (default 2048; negative:
	// no cap). Past it new connections wait in the listen backlog.
	MaxConns int
	// MaxConnsPerClient caps the connections of one client address
	// (default half of MaxConns; negative: no cap); past it a new
	// connection is closed. Behind a proxy every client is the proxy's
	// address: turn it off there.
	MaxConnsPerClient int
	// BodyGrace is how long a body may take before MinBodyRate applies
	// (default 5s).
	BodyGrace time.Duration
	// MinBodyRate is the least average rate, in bytes a second after the
	// grace, at which a request body must arrive (default 16 KiB;
	// negative: no minimum). A slower body fails with ErrSlowBody, which
	// the API answers with 408, and its connection is closed. However
	// fast, the body must be in within WriteTimeout less an eighth of it
	// (at most 5s, kept for writing the 408).
	MinBodyRate int
	// Logger receives connection-level errors of net/http (default: discarded).
	Logger *slog.Logger
}

func (o *ServerOptions) setDefaults() {
	orDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	orDefault(&o.IdleTimeout, DefaultIdleTimeout)
	orDefault(&o.WriteTimeout, DefaultWriteTimeout)
	orDefault(&o.MaxConns, DefaultMaxConns)
	orDefault(&o.MaxConnsPerClient, max(1, o.MaxConns/2))
	orDefault(&o.BodyGrace, DefaultBodyGrace)
	orDefault(&o.MinBodyRate, DefaultMinBodyRate)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// orDefault sets a zero *p to v.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports options NewServer cannot use.
func (o ServerOptions) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReadHeaderTimeout", o.ReadHeaderTimeout}, {"IdleTimeout", o.IdleTimeout},
		{"WriteTimeout", o.WriteTimeout}, {"BodyGrace", o.BodyGrace}} {
		if d.v < 0 {
			return fmt.Errorf("%s %v: want a positive duration", d.name, d.v)
		}
	}
	if o.MaxHeaderBytes < 0 {
		return fmt.Errorf("MaxHeaderBytes %d: want a positive size", o.MaxHeaderBytes)
	}
	if o.MaxConns > 0 && o.MaxConnsPerClient > o.MaxConns {
		return fmt.Errorf("MaxConnsPerClient %d: more than MaxConns %d", o.MaxConnsPerClient, o.MaxConns)
	}
	return nil
}

// NewServer returns an http.Server for h bounded by o; serve it on a
// listener from LimitListener. It panics when o fails Validate.
//
// With a minimum body rate there is no fixed ReadTimeout: the body's
// deadline moves as its bytes arrive (see ServerOptions.MinBodyRate), up to
// bodyCap(WriteTimeout): early enough that its 408 still goes out before
// the write deadline, rather than a bare close.
func NewServer(h http.Handler, o ServerOptions) *http.Server {
	if err := o.Validate(); err != nil {
		panic("api.NewServer: " + err.Error())
	}
	o.setDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		IdleTimeout:       o.IdleTimeout,
		WriteTimeout:      o.WriteTimeout,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	if o.MinBodyRate > 0 {
		srv.Handler = minBodyRate(h, bodyLimits{grace: o.BodyGrace, rate: float64(o.MinBodyRate), max: bodyCap(o.WriteTimeout)})
	} else {
		srv.ReadTimeout = o.WriteTimeout
	}
	return srv
}

// LimitListener bounds the connections ln hands out to srv: at most
// o.MaxConns at once (more wait in the listen backlog) and at most
// o.MaxConnsPerClient from one client address (more are closed at once).
// Past seven eighths of the cap, answers carry "Connection: close", so
// that clients do not keep connections they are not using; at the cap, a
// new connection is made room for by closing those idle between requests
// for more than idleReap, and those that have sent nothing for more than
// silentReap. It installs srv.ConnState and wraps srv.Handler.
func LimitListener(ln net.Listener, srv *http.Server, o ServerOptions) net.Listener {
	o.setDefaults()
	if o.MaxConns < 0 {
		return ln
	}
	l := &connLimiter{
		Listener: ln, sem: make(chan struct{}, o.MaxConns),
		perClient: o.MaxConnsPerClient, pressure: o.MaxConns - o.MaxConns/8,
		clients: map[string]int{}, conns: map[net.Conn]connInfo{},
	}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		l.connState(c, st)
		if next != nil {
			next(c, st)
		}
	}
	h := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.pressed() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
	return l
}

// How long a connection must have been idle between requests, or silent
// since it opened, before it is closed to make room at the cap: long
// enough that one whose next request is on its way is not cut off.
const (
	idleReap   = 100 * time.Millisecond
	silentReap = time.Second
)

type connLimiter struct {
	net.Listener
	sem       chan struct{} // a token per open connection
	perClient int
	pressure  int // open connections past which answers close theirs

	mu      sync.Mutex
	open    int
	clients map[string]int // open connections per client address
	conns   map[net.Conn]connInfo
}

// connInfo is a connection's state in net/http and since when.
type connInfo struct {
	state http.ConnState
	since time.Time
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		if err := l.acquire(); err != nil {
			return nil, err
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		client := connClient(c)
		l.mu.Lock()
		if l.perClient > 0 && l.clients[client] >= l.perClient {
			l.mu.Unlock()
			c.Close()
			<-l.sem
			continue
		}
		l.clients[client]++
		l.open++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, client: client}, nil
	}
}

// acquire takes a connection token, making room at the cap.
func (l *connLimiter) acquire() error {
	select {
	case l.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTicker(idleReap)
	defer t.Stop()
	for {
		l.reap()
		select {
		case l.sem <- struct{}{}:
			return nil
		case <-t.C:
		}
	}
}

// reap closes the connections that hold a place without using it.
func (l *connLimiter) reap() {
	now := time.Now()
	var reap []net.Conn
	l.mu.Lock()
	for c, ci := range l.conns {
		if (ci.state == http.StateIdle && now.Sub(ci.since) >= idleReap) ||
			(ci.state == http.StateNew && now.Sub(ci.since) >= silentReap) {
			reap = append(reap, c)
		}
	}
	l.mu.Unlock()
	for _, c := range reap {
		c.Close()
	}
}

func (l *connLimiter) pressed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open >= l.pressure
}

func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		l.conns[c] = connInfo{state: st, since: time.Now()}
	}
}

// connClient is the address a connection counts against, as for rate
// limits: its IP, or the /64 of an IPv6 peer.
func connClient(c net.Conn) string { return clientOf(c.RemoteAddr().String()) }

type limitedConn struct {
	net.Conn
	l      *connLimiter
	client string
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		l.open--
		if l.clients[c.client]--; l.clients[c.client] <= 0 {
			delete(l.clients, c.client)
		}
		delete(l.conns, c)
		l.mu.Unlock()
		<-l.sem
	})
	return err
}

// ErrSlowBody is the error reading a request body that arrives slower
// than ServerOptions.MinBodyRate allows.
var ErrSlowBody = errors.New("request body arrives too slowly")

// bodyLimits are how fast a body must arrive: within grace, then at rate
// bytes a second on average, and all of it within max.
type bodyLimits struct {
	grace time.Duration
	rate  float64
	max   time.Duration
}

// bodyCap is how long a whole body may take when answers must be written
// within writeTimeout: an eighth of it (at most 5s) is kept for the answer.
func bodyCap(writeTimeout time.Duration) time.Duration {
	return writeTimeout - min(writeTimeout/8, 5*time.Second)
}

// deadline is when a body of which n bytes have arrived since start falls
// behind.
func (l bodyLimits) deadline(start time.Time, n int64) time.Time {
	return start.Add(min(l.grace+time.Duration(float64(n)/l.rate*float64(time.Second)), l.max))
}

// minBodyRate gives each request body a read deadline of grace plus the
// time its bytes so far would take at rate, moved on as bytes arrive: a
// client that sends at least rate bytes a second never meets it, one that
// trickles meets it within grace of falling behind.
func minBodyRate(next http.Handler, l bodyLimits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if err := rc.SetReadDeadline(l.deadline(start, 0)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines: nothing to enforce with
			return
		}
		orig := r.Body
		body := &rateBody{ReadCloser: orig, rc: rc, start: start, limits: l}
		r.Body = body
		// Hand net/http its own body back: it decides from the body's type
		// whether an unread rest is too big to drain, and would otherwise
		// drain up to 256 KiB through the wrapper, waiting on a client that
		// sends nothing before the answer (a 413) goes out.
		defer func() { r.Body = orig }()
		next.ServeHTTP(&closingWriter{ResponseWriter: w, body: body}, r)
	})
}

type rateBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	start  time.Time
	limits bodyLimits
	n      int64
	err    error
	eof    bool // read to its end
}

// closingWriter closes the connection after an answer sent before the
// request's body was read to its end (a refusal: 401, 413, 415, 429):
// otherwise net/http would first read and discard the rest, waiting on a
// client that sends nothing until the body's deadline.
type closingWriter struct {
	http.ResponseWriter
	body  *rateBody
	wrote bool
}

func (w *closingWriter) WriteHeader(code int) {
	if !w.wrote && !w.body.eof {
		w.Header().Set("Connection", "close")
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *closingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *closingWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (b *rateBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.eof = b.eof || err == io.EOF
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.err = fmt.Errorf("%w: %d bytes in %v", ErrSlowBody, b.n, time.Since(b.start).Round(time.Millisecond))
		return n, b.err
	case err == nil && n > 0:
		// Never at the end of the body: net/http then clears the deadline
		// and watches the connection with a read of its own, which a
		// deadline set afterwards would cut short, cancelling the request.
		b.rc.SetReadDeadline(b.limits.deadline(b.start, b.n))
	}
	return n, err
}
