package remote

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/shardtest"
)

// batchOf4 makes one call to each of a Server's 4 shards at once, until
// they travel as one batch, and returns its errors.
func batchOf4(t *testing.T, ctx context.Context, s *Server, remote []index.Shard) []error {
	t.Helper()
	sr := &index.ShardRequest{Request: &index.Request{Query: "bus"}}
	for attempt := 0; attempt < 50; attempt++ {
		before := s.BatchStats().Batches
		errs := make([]error, len(remote))
		var wg sync.WaitGroup
		for i, sh := range remote {
			wg.Go(func() { _, errs[i] = sh.TermStats(ctx, sr) })
		}
		wg.Wait()
		if s.BatchStats().Batches == before+1 {
			return errs
		}
	}
	t.Fatal("the calls never travelled together")
	return nil
}

// TestBatchesReuseConnections: a Server's batches go over its own
// connections, kept alive from one batch to the next; one the server
// closed meanwhile is replaced without the calls seeing it; the key goes
// with every batch.
func TestBatchesReuseConnections(t *testing.T) {
	ix, err := index.Open(t.TempDir(), index.Options{Shards: 4})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Apply(context.Background(), shardtest.Corpus(200, 3)))
	shards := ix.Shards()
	h, err := NewHandler(HandlerOptions{Lookup: func(gen, s int) (index.Shard, bool) {
		if gen != 1 || s >= len(shards) {
			return nil, false
		}
		return shards[s], true
	}})
	require.NoError(t, err)
	keyed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What api.Guard does for the internal API, in brief.
		if r.Header.Get("Authorization") != "Bearer sekrit" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	var dialed atomic.Int64
	srv := httptest.NewUnstartedServer(keyed)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s, err := NewServer(srv.URL, ClientOptions{APIKey: "sekrit"})
	require.NoError(t, err)
	require.NotNil(t, s.conns, "an http server's batches go over the Server's own connections")
	remote := make([]index.Shard, 4)
	for i := range remote {
		if remote[i], err = s.Shard(1, i); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		for _, err := range batchOf4(t, context.Background(), s, remote) {
			require.NoError(t, err)
		}
	}
	// Batches one after the other take one connection; the calls that
	// went alone (a batch that did not fill) take the HTTP client's.
	require.LessOrEqual(t, dialed.Load(), int64(6), "connections were not reused")

	srv.CloseClientConnections() // the server drops the idle connections
	time.Sleep(20 * time.Millisecond)
	for _, err := range batchOf4(t, context.Background(), s, remote) {
		require.NoError(t, err, "a connection closed by the server while idle")
	}

	wrong, err := NewServer(srv.URL, ClientOptions{APIKey: "wrong"})
	require.NoError(t, err)
	other := make([]index.Shard, 4)
	for i := range other {
		other[i], _ = wrong.Shard(1, i)
	}
	for _, err := range batchOf4(t, context.Background(), wrong, other) {
		require.Error(t, err, "a batch with the wrong key was answered")
	}
}

// TestBatchBodyInOneGo: when every shard of a batch is done at once, the
// answer goes with its length, in one piece; when one is slow, the
// others' parts are sent without it (the body chunked), as
// TestBatchAnswersEachCallOnItsOwn checks from the client's side.
func TestBatchBodyInOneGo(t *testing.T) {
	slow := &gate{open: make(chan struct{})}
	h, err := NewHandler(HandlerOptions{Lookup: func(gen, s int) (index.Shard, bool) {
		switch s {
		case 0, 1:
			return &gate{open: closed()}, true
		case 2:
			return slow, true
		}
		return nil, false
	}})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	body, err := index.EncodeShardRequest(&index.ShardRequest{Request: &index.Request{Query: "bus"}})
	require.NoError(t, err)
	post := func(shards ...int) *http.Response {
		resp, err := http.Post(srv.URL+"/internal/v1/generations/1/batch/termstats", index.WireContentType,
			strings.NewReader(string(encodeBatch(shards, body))))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return resp
	}
	resp := post(0, 1)
	require.Positive(t, resp.ContentLength, "the parts done together went with the body's length")
	require.Empty(t, resp.TransferEncoding)

	done := make(chan struct{})
	go func() {
		defer close(done)
		resp := post(0, 1, 2)
		require.Equal(t, int64(-1), resp.ContentLength)
		require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		// The fast shards' parts come while the slow one is still held.
		var h [4]byte
		_, err := io.ReadFull(resp.Body, h[:])
		require.NoError(t, err)
		close(slow.open)
		_, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(slow.open)
		t.Fatal("the fast parts waited for the slow one")
	}
}

// TestConnsBounds: an answer whose header or body is past its bound, a
// server that never answers and a context that ends all fail the call
// rather than hang it, and leave no connection behind to be reused.
func TestConnsBounds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var mode atomic.Value
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil {
					return
				}
				switch mode.Load().(string) {
				case "header":
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 2<<20))
				case "body":
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n%s", strings.Repeat("b", 4096))
				case "silent":
					time.Sleep(5 * time.Second)
				}
			}()
		}
	}()
	p := &conns{addr: ln.Addr().String(), host: ln.Addr().String()}
	readAll := func(resp *http.Response) error {
		_, err := io.ReadAll(resp.Body)
		return err
	}
	for _, m := range []string{"header", "body", "silent"} {
		mode.Store(m)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := p.post(ctx, "/x", nil, []byte("hello"), 1024, readAll)
		cancel()
		require.Error(t, err, m)
		require.Less(t, time.Since(start), 3*time.Second, m)
		require.Empty(t, p.idle, m)
	}
}
