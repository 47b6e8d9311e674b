package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

func rec(i int) record.Record {
	return record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i), Title: fmt.Sprintf("image %d", i)}
}

func TestJSONL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := NewJSONL(path, false)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, j.Write(ctx, rec(i)))
	}
	require.NoError(t, j.Flush(ctx))
	b, _ := os.ReadFile(path)
	assert.Equal(t, 3, strings.Count(string(b), "\n"), "flushed to the file")
	require.NoError(t, j.Close(ctx))

	j, err = NewJSONL(path, true)
	require.NoError(t, err)
	r := rec(9)
	r.Extra = map[string]json.RawMessage{"decorative": json.RawMessage(`"icon"`)}
	require.NoError(t, j.Write(ctx, r))
	require.NoError(t, j.Close(ctx))
	f, _ := os.Open(path)
	defer f.Close()
	var lines []record.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := record.Parse(sc.Bytes())
		require.NoError(t, err)
		lines = append(lines, r)
	}
	require.Len(t, lines, 4, "append mode keeps what was there")
	assert.JSONEq(t, `"icon"`, string(lines[3].Extra["decorative"]))

	j, err = NewJSONL(path, false)
	require.NoError(t, err)
	require.NoError(t, j.Close(ctx))
	b, _ = os.ReadFile(path)
	assert.Empty(t, b, "truncated without append")
}

// server is a fake picdex ingest endpoint.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	batches [][]record.Record
	answer  func(n int, recs []record.Record) (int, string)
}

func newServer(t *testing.T, answer func(n int, recs []record.Record) (int, string)) *server {
	s := &server{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/images" || r.Header.Get("Content-Type") != "application/x-ndjson" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var recs []record.Record
		for _, line := range strings.Split(string(body), "\n") {
			rr, err := record.Parse([]byte(line))
			require.NoError(t, err)
			recs = append(recs, rr)
		}
		s.mu.Lock()
		n := len(s.batches)
		s.batches = append(s.batches, recs)
		s.mu.Unlock()
		status, reply := http.StatusAccepted, `{"accepted":1}`
		if s.answer != nil {
			status, reply = s.answer(n, recs)
		}
		if strings.HasPrefix(reply, "retry-after:") {
			w.Header().Set("Retry-After", strings.TrimPrefix(reply, "retry-after:"))
			reply = `{"error":{"code":"unavailable","message":"busy"}}`
		}
		w.WriteHeader(status)
		fmt.Fprint(w, reply)
	}))
	t.Cleanup(s.Close)
	return s
}

func newSink(t *testing.T, s *server, opts HTTPOptions) (*HTTP, *[]time.Duration) {
	opts.URL = s.URL + "/"
	h, err := NewHTTP(opts)
	require.NoError(t, err)
	var waits []time.Duration
	h.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return h, &waits
}

func TestHTTPBatches(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, nil)
	h, _ := newSink(t, s, HTTPOptions{BatchRecords: 4, BatchBytes: 200})
	for i := range 10 {
		require.NoError(t, h.Write(ctx, rec(i)))
	}
	require.NoError(t, h.Close(ctx))
	total := 0
	for _, b := range s.batches {
		assert.LessOrEqual(t, len(b), 4)
		total += len(b)
	}
	assert.Equal(t, 10, total)
	assert.Greater(t, len(s.batches), 3, "byte cap splits batches too")
}

func TestHTTPRetries(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, func(n int, _ []record.Record) (int, string) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":"later"}}`
		case 1:
			return http.StatusTooManyRequests, "retry-after:3"
		}
		return http.StatusAccepted, `{"accepted":1}`
	})
	h, waits := newSink(t, s, HTTPOptions{})
	require.NoError(t, h.Write(ctx, rec(1)))
	require.NoError(t, h.Flush(ctx))
	assert.Len(t, s.batches, 3)
	assert.Equal(t, 3*time.Second, (*waits)[1], "Retry-After honoured")

	gone := newServer(t, func(int, []record.Record) (int, string) {
		return http.StatusNotFound, `{"error":{"code":"not_found","message":"no such endpoint"}}`
	})
	h, _ = newSink(t, gone, HTTPOptions{})
	require.NoError(t, h.Write(ctx, rec(1)))
	err := h.Flush(ctx)
	require.ErrorIs(t, err, ErrPermanent)
	assert.Contains(t, err.Error(), "no such endpoint")
	assert.Len(t, gone.batches, 1, "a 404 is not retried")

	down := newServer(t, func(int, []record.Record) (int, string) { return http.StatusBadGateway, "" })
	h, waits = newSink(t, down, HTTPOptions{MaxRetries: 2})
	require.NoError(t, h.Write(ctx, rec(1)))
	require.Error(t, h.Flush(ctx))
	assert.Len(t, down.batches, 3)
	assert.Less(t, (*waits)[0], (*waits)[1], "back-off grows")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	h, _ = newSink(t, down, HTTPOptions{})
	require.NoError(t, h.Write(cancelled, rec(1)))
	require.ErrorIs(t, h.Flush(cancelled), context.Canceled)
}

func TestHTTPDropsRejectedRecords(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, func(_ int, recs []record.Record) (int, string) {
		for i, r := range recs {
			if strings.HasSuffix(r.URL, "/2.jpg") {
				return http.StatusBadRequest, fmt.Sprintf(`{"error":{"code":"invalid_record","message":"1 of %d","records":[{"index":%d,"reason":"bad date"}]}}`, len(recs), i)
			}
		}
		return http.StatusAccepted, `{"accepted":1}`
	})
	tally := &crawler.Tally{}
	h, _ := newSink(t, s, HTTPOptions{Tally: tally})
	for i := range 5 {
		require.NoError(t, h.Write(ctx, rec(i)))
	}
	require.NoError(t, h.Close(ctx))
	require.Len(t, s.batches, 2)
	assert.Len(t, s.batches[1], 4, "the rest sent again")
	assert.EqualValues(t, 1, tally.Skipped()["rejected by server"])
}

func TestHTTPSplitsTooLarge(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, func(_ int, recs []record.Record) (int, string) {
		if len(recs) > 2 {
			return http.StatusRequestEntityTooLarge, `{"error":{"code":"too_large","message":"body too large"}}`
		}
		return http.StatusAccepted, `{"accepted":1}`
	})
	h, _ := newSink(t, s, HTTPOptions{})
	for i := range 7 {
		require.NoError(t, h.Write(ctx, rec(i)))
	}
	require.NoError(t, h.Close(ctx))
	accepted := 0
	for _, b := range s.batches {
		if len(b) <= 2 {
			accepted += len(b)
		}
	}
	assert.Equal(t, 7, accepted)
	_, err := NewHTTP(HTTPOptions{URL: "localhost:8080"})
	assert.Error(t, err)
}

func TestHTTPSendsAPIKey(t *testing.T) {
	ctx := context.Background()
	for _, key := range []string{"", "write-key-0123456789ab"} {
		var got []string
		var mu sync.Mutex
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Get("Authorization"))
			mu.Unlock()
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="picdex"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"needs a key"}}`)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}))
		h, err := NewHTTP(HTTPOptions{URL: ts.URL, APIKey: key, RetryBase: time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, h.Write(ctx, rec(1)))
		err = h.Close(ctx)
		ts.Close()
		if key == "" {
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "unauthorized", se.Code)
			assert.ErrorIs(t, err, ErrPermanent)
			assert.Equal(t, []string{""}, got, "a 401 is not retried")
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, []string{"Bearer " + key}, got)
	}
}
