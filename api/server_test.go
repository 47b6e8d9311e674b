package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index/record"
)

// serveBounded serves h with NewServer and LimitListener, as cmd/picdex
// does, and returns the listening address.
func serveBounded(t testing.TB, h http.Handler, o api.ServerOptions) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = api.NewServer(h, o)
	ts.Listener = api.LimitListener(ts.Listener, ts.Config, o)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// fastBodyLimits are small enough for a test to meet them in milliseconds.
var fastBodyLimits = api.ServerOptions{BodyGrace: 200 * time.Millisecond, MinBodyRate: 1 << 10}

// dribble sends a POST whose body arrives a byte every 50ms (20 B/s) and
// returns the answer, how long it took and the connection to read on.
// header is added to the request's headers ("Name: value\r\n"...).
func dribble(addr, header string) (*http.Response, []byte, time.Duration, net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	start := time.Now()
	fmt.Fprint(conn, "POST /v1/images HTTP/1.1\r\nHost: picdex\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"+header+"\r\n[")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, 0, nil, fmt.Errorf("reading the answer to a slow body: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body, time.Since(start), &bufConn{conn, br}, nil
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestSlowBody(t *testing.T) {
	s := newServer(t)
	addr := serveBounded(t, s.h, fastBodyLimits)

	// Many at once: each gets its 408 soon after the grace, none waits
	// for the body to end.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			resp, body, took, conn, err := dribble(addr, "")
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var eb api.ErrorBody
			json.Unmarshal(body, &eb)
			if resp.StatusCode != http.StatusRequestTimeout || eb.Error.Code != "request_timeout" {
				t.Errorf("slow body: %d %s", resp.StatusCode, body)
			}
			if took > 3*time.Second {
				t.Errorf("slow body answered after %v", took)
			}
			if !resp.Close {
				t.Error("the answer does not close the connection")
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
				t.Errorf("connection still open after a 408: %d %v", n, err)
			}
		})
	}
	wg.Wait()
}

// TestBodyBoundedByWriteTimeout: a body that keeps above the minimum rate
// still cannot take longer than WriteTimeout allows: it is answered with
// a 408 in time for the answer to go out, and the connection is closed.
func TestBodyBoundedByWriteTimeout(t *testing.T) {
	s := newServer(t)
	addr := serveBounded(t, s.h, api.ServerOptions{BodyGrace: 200 * time.Millisecond, MinBodyRate: 1, WriteTimeout: 2 * time.Second})
	resp, body, took, conn, err := dribble(addr, "") // 20 B/s, far above 1 B/s even when ticks come late
	if err != nil {
		t.Fatalf("a body outlasting WriteTimeout: %v, want a 408", err)
	}
	defer conn.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("a body outlasting WriteTimeout: %d (close %v) %s, want a 408 closing the connection", resp.StatusCode, resp.Close, body)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("answered after %v, want about 1.75s (WriteTimeout less an eighth)", took)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// slowIngester takes its time after the body has arrived, as a queue
// under back-pressure does.
type slowIngester struct{ d time.Duration }

func (s slowIngester) Ingest(ctx context.Context, recs []record.Record) (int, error) {
	select {
	case <-time.After(s.d):
		return len(recs), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// TestBodyRateSpares: a body sent at speed, or one that pauses within the
// grace, goes through, and the rate no longer applies once the body is in,
// however long the handler then takes.
func TestBodyRateSpares(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.Ingester = slowIngester{600 * time.Millisecond} })
	addr := serveBounded(t, s.h, fastBodyLimits)
	var big strings.Builder
	big.WriteString("[")
	for i := range 2000 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"url":"https://ex.test/%d.jpg","title":"a record of some length to make the body large"}`, i)
	}
	big.WriteString("]")
	r := call(t, "POST", "http://"+addr+"/v1/images", "", "application/json", big.String())
	if r.status != http.StatusAccepted {
		t.Errorf("a %d-byte body at speed: %d %s", big.Len(), r.status, r.body)
	}

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`[{"url":"https://ex.test/pause.jpg",`))
		time.Sleep(100 * time.Millisecond)
		pw.Write([]byte(`"title":"paused"}]`))
		pw.Close()
	}()
	// Within the grace: this one must not be cut however loaded the
	// machine, so it gets a server of its own with a grace of seconds.
	addr = serveBounded(t, s.h, api.ServerOptions{BodyGrace: 3 * time.Second, MinBodyRate: 1 << 10})
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/images", pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("a chunked body pausing within the grace: %d %s", resp.StatusCode, body)
	}
}

func TestHeaderTooLarge(t *testing.T) {
	addr := serveBounded(t, newServer(t).h, api.ServerOptions{})
	for _, c := range []struct {
		size   int
		status int
	}{{32 << 10, 200}, {100 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", c.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("a %d KiB header: %d, want %d", c.size>>10, resp.StatusCode, c.status)
		}
	}
}

// TestConnectionCap: past MaxConns a new connection waits until one
// closes.
func TestConnectionCap(t *testing.T) {
	addr := serveBounded(t, newServer(t).h, api.ServerOptions{MaxConns: 2, MaxConnsPerClient: 2})
	// Two connections busy with requests whose bodies have not come yet.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /v1/search HTTP/1.1\r\nHost: picdex\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n")
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	done := make(chan int, 1)
	go func() { done <- getStatus("http://" + addr + "/healthz") }()
	select {
	case code := <-done:
		t.Fatalf("a third connection was served (%d) while two were busy", code)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("third connection after one closed: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not served after one closed")
	}
}

func getStatus(url string) int {
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// healthzOn opens a connection from the local address from (nil: any) and
// sends one GET /healthz on it; the connection is closed at cleanup.
func healthzOn(t *testing.T, addr string, from net.Addr) (net.Conn, *http.Response, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: from}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: picdex\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
	}
	return c, resp, err
}

// keepAlive answers one request on a new connection and leaves it idle.
func keepAlive(t *testing.T, addr string, from net.Addr) net.Conn {
	t.Helper()
	c, resp, err := healthzOn(t, addr, from)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive connection: %v %v", resp, err)
	}
	return c
}

// TestIdleConnectionsMakeRoom: at the cap, keep-alive connections idle
// between requests are closed for a new one; one client cannot hold more
// than its share, while another still gets in.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	addr := serveBounded(t, newServer(t).h, api.ServerOptions{MaxConns: 4, MaxConnsPerClient: 4})
	var idle []net.Conn
	for range 4 {
		idle = append(idle, keepAlive(t, addr, nil))
	}
	if code := getStatus("http://" + addr + "/healthz"); code != 200 {
		t.Fatalf("a new connection at the cap of idle ones: %d", code)
	}
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	if closed == 0 {
		t.Error("no idle connection was closed to make room")
	}

	addr = serveBounded(t, newServer(t).h, api.ServerOptions{MaxConns: 8, MaxConnsPerClient: 2})
	keepAlive(t, addr, nil)
	keepAlive(t, addr, nil)
	if _, _, err := healthzOn(t, addr, nil); err == nil {
		t.Error("a third connection of one client was served past its share of 2")
	}
	other := keepAlive(t, addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	other.Close()
}

func TestServerOptions(t *testing.T) {
	srv := api.NewServer(http.NotFoundHandler(), api.ServerOptions{})
	if srv.ReadHeaderTimeout != api.DefaultReadHeaderTimeout || srv.MaxHeaderBytes != api.DefaultMaxHeaderBytes ||
		srv.IdleTimeout != api.DefaultIdleTimeout || srv.WriteTimeout != api.DefaultWriteTimeout || srv.ReadTimeout != 0 {
		t.Errorf("defaults: %+v", srv)
	}
	for _, o := range []api.ServerOptions{
		{ReadHeaderTimeout: -1}, {IdleTimeout: -time.Second}, {WriteTimeout: -1}, {BodyGrace: -1}, {MaxHeaderBytes: -1},
	} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (api.ServerOptions{MaxConns: -1, MinBodyRate: -1}).Validate(); err != nil {
		t.Errorf("no cap and no minimum rate: %v", err)
	}
}

// TestTooLargeAnsweredAtOnce: a request refused before its body is read
// (too large, no key, wrong type) is answered at once, not after the
// server has waited to drain a body the client has not sent.
func TestTooLargeAnsweredAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      http.Handler
		length int
		ct     string
		status int
	}{
		{"too large", newServer(t).h, 40 << 20, "application/json", http.StatusRequestEntityTooLarge},
		{"no key", newServer(t, func(o *api.Options) { o.Keys = testKeys(t) }).h, 1000, "application/json", http.StatusUnauthorized},
		{"wrong type", newServer(t).h, 1000, "text/plain", http.StatusUnsupportedMediaType},
	} {
		addr := serveBounded(t, tc.h, api.ServerOptions{BodyGrace: 3 * time.Second})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/images HTTP/1.1\r\nHost: picdex\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", tc.ct, tc.length)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer before the body's grace ran out: %v", tc.name, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

// TestSilentConnectionsMakeRoom: at the cap, connections that opened and
// never sent a request are closed for one that does.
func TestSilentConnectionsMakeRoom(t *testing.T) {
	addr := serveBounded(t, newServer(t).h, api.ServerOptions{MaxConns: 2, MaxConnsPerClient: 2})
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if code := getStatus("http://" + addr + "/healthz"); code != 200 {
		t.Fatalf("a request behind two silent connections at the cap: %d", code)
	}
}

// TestCloseUnderPressure: past seven eighths of the cap, answers ask the
// client to close its connection.
func TestCloseUnderPressure(t *testing.T) {
	addr := serveBounded(t, newServer(t).h, api.ServerOptions{MaxConns: 8, MaxConnsPerClient: 8})
	for range 6 {
		keepAlive(t, addr, nil)
	}
	_, resp, err := healthzOn(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close {
		t.Error("the seventh of eight connections was kept alive")
	}
}
