package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/shardtest"
)

// serve opens a local index of recs in n shards, serves its shards as
// generation 1 of a shard server, and returns the index and the server.
func serve(t testing.TB, recs []record.Record, n int, opts index.Options) (*index.Index, *httptest.Server) {
	t.Helper()
	opts.Shards = n
	ix, err := index.Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Apply(context.Background(), recs))
	shards := ix.Shards()
	h, err := NewHandler(HandlerOptions{Lookup: func(gen, s int) (index.Shard, bool) {
		if gen != 1 || s < 0 || s >= len(shards) {
			return nil, false
		}
		return shards[s], true
	}})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return ix, srv
}

// clients returns the remote shards of generation 1 at srv, sharing one
// Server, so that the fan-out's calls to them travel in batches.
func clients(t testing.TB, srv *httptest.Server, n int) []index.Shard {
	t.Helper()
	s, err := NewServer(srv.URL, ClientOptions{})
	require.NoError(t, err)
	out := make([]index.Shard, n)
	for i := range out {
		c, err := s.Shard(1, i)
		require.NoError(t, err)
		out[i] = c
	}
	return out
}

func TestSuiteOverRemoteShards(t *testing.T) {
	shardtest.Run(t, func(t *testing.T, recs []record.Record, n int) []index.Shard {
		_, srv := serve(t, recs, n, index.Options{})
		return clients(t, srv, n)
	})
}

// TestRemoteFanoutIsByteIdentical: the fan-out over remote shards answers
// exactly what the same shards answer in one process, to the byte, on a
// generated corpus.
func TestRemoteFanoutIsByteIdentical(t *testing.T) {
	recs, err := indexbench.SynthCorpus(context.Background(), 3000, 11)
	require.NoError(t, err)
	ix, srv := serve(t, recs, 4, index.Options{})
	remote := index.NewFanout(clients(t, srv, 4), index.FanoutOptions{})
	inline := index.NewFanout(clients(t, srv, 4), index.FanoutOptions{InlineRecords: index.MaxWindow}) // records with phase 2
	reqs := shardtest.Requests()
	for _, w := range []string{"photo", "street night", `"old town"`, "tok* 東京", "사진", "camera.make:canon"} {
		size := 30
		reqs = append(reqs, index.Request{Query: w, Size: &size, Facets: []string{"tags", "format", "taken_at"}},
			index.Request{Query: w, Sort: []string{"-taken_at"}})
	}
	nonEmpty := 0
	for _, req := range reqs {
		want, err := ix.Search(context.Background(), &req)
		require.NoError(t, err, "%+v", req)
		for _, fan := range []index.Searcher{remote, inline} {
			got, err := fan.Search(context.Background(), &req)
			require.NoError(t, err, "%+v", req)
			require.Equal(t, string(shardtest.Bytes(t, want)), string(shardtest.Bytes(t, got)), "%+v", req)
		}
		if want.Total > 0 {
			nonEmpty++
		}
	}
	require.Greater(t, nonEmpty, len(reqs)/2)
}

// fakeShard answers with what it was told, and notes the context it got.
type fakeShard struct {
	index.Shard // nil: unused methods panic
	applied     int64
	mu          sync.Mutex
	deadline    time.Time
	hasDeadline bool
	do          func(ctx context.Context) error
}

func (f *fakeShard) String() string { return "fake" }
func (f *fakeShard) Applied() int64 { return f.applied }

func (f *fakeShard) TermStats(ctx context.Context, _ *index.ShardRequest) (*index.TermStats, error) {
	f.mu.Lock()
	f.deadline, f.hasDeadline = ctx.Deadline()
	f.mu.Unlock()
	if f.do != nil {
		if err := f.do(ctx); err != nil {
			return nil, err
		}
	}
	return &index.TermStats{DocCount: 1}, nil
}

func fakeServer(t *testing.T, f index.Shard, opts HandlerOptions) (*httptest.Server, *Client) {
	t.Helper()
	opts.Lookup = func(gen, s int) (index.Shard, bool) { return f, gen == 2 && s == 0 }
	h, err := NewHandler(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewShard(srv.URL, 2, 0, ClientOptions{})
	require.NoError(t, err)
	return srv, c
}

var bus = &index.ShardRequest{Request: &index.Request{Query: "bus"}}

func TestDeadlineTravels(t *testing.T) {
	f := &fakeShard{}
	_, c := fakeServer(t, f, HandlerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	_, err := c.TermStats(ctx, bus)
	require.NoError(t, err)
	require.True(t, f.hasDeadline)
	require.False(t, f.deadline.After(want.Add(time.Second)), "the shard's deadline is the caller's (%v, %v)", f.deadline, want)
	require.True(t, f.deadline.After(time.Now()))

	// Without a deadline, the server's default bounds the call.
	_, err = c.TermStats(context.Background(), bus)
	require.NoError(t, err)
	require.True(t, f.hasDeadline)

	// A shard that runs to its deadline: the caller gets a deadline
	// error, and the shard's context ended too.
	ended := make(chan struct{})
	f.do = func(ctx context.Context) error {
		<-ctx.Done()
		close(ended)
		return ctx.Err()
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.TermStats(ctx, bus)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the shard's context never ended")
	}

	// Out of time before sending: no call at all.
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	_, err = c.TermStats(ctx, bus)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestServerAnswersEachErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
		check  func(t *testing.T, err error)
	}{
		{&index.BudgetError{Limit: "max_terms", Param: "q", Max: 7, Got: 9, What: "terms"}, 400, "query_too_expensive", func(t *testing.T, err error) {
			var be *index.BudgetError
			require.ErrorAs(t, err, &be)
			require.Equal(t, index.BudgetError{Limit: "max_terms", Param: "q", Max: 7, Got: 9, What: "terms"}, *be)
			require.ErrorIs(t, err, index.ErrBadRequest)
			require.ErrorIs(t, err, index.ErrTooExpensive)
		}},
		{&index.RequestError{Param: "size", Reason: "must be between 0 and 1000"}, 400, "bad_request", func(t *testing.T, err error) {
			var re *index.RequestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, "size: must be between 0 and 1000", re.Error())
		}},
		{fmt.Errorf("%w: odd", index.ErrBadRequest), 400, "bad_request", func(t *testing.T, err error) {
			require.ErrorIs(t, err, index.ErrBadRequest)
			require.Equal(t, "bad request: odd", err.Error())
		}},
		{index.ErrOverloaded, 429, "overloaded", func(t *testing.T, err error) { require.ErrorIs(t, err, index.ErrOverloaded) }},
		{context.DeadlineExceeded, 504, "timeout", func(t *testing.T, err error) { require.ErrorIs(t, err, context.DeadlineExceeded) }},
		{context.Canceled, 503, "unavailable", func(t *testing.T, err error) {
			require.NotErrorIs(t, err, index.ErrBadRequest)
		}},
		{errors.New("disk on fire"), 500, "internal", func(t *testing.T, err error) {
			require.NotErrorIs(t, err, index.ErrBadRequest)
			require.NotContains(t, err.Error(), "disk on fire", "faults are not described to callers")
		}},
	} {
		var logs bytes.Buffer
		f := &fakeShard{do: func(context.Context) error { return tc.err }}
		srv, c := fakeServer(t, f, HandlerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		body, _ := index.EncodeShardRequest(bus)
		resp, err := http.Post(srv.URL+"/internal/v1/generations/2/shards/0/termstats", index.WireContentType, bytes.NewReader(body))
		require.NoError(t, err)
		var eb errorBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
		resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, "%v", tc.err)
		require.Equal(t, tc.code, eb.Error.Code)
		require.NotEmpty(t, eb.Error.Message)
		require.Equal(t, tc.status == 500, logs.Len() > 0, "only faults are logged: %s", logs.String())
		_, err = c.TermStats(context.Background(), bus)
		tc.check(t, err)
	}

	// A caller that went away is 499.
	f := &fakeShard{do: func(ctx context.Context) error { return context.Canceled }}
	h, err := NewHandler(HandlerOptions{Lookup: func(int, int) (index.Shard, bool) { return f, true }})
	require.NoError(t, err)
	body, _ := index.EncodeShardRequest(bus)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/internal/v1/generations/0/shards/0/termstats", bytes.NewReader(body))
	r.Header.Set("Content-Type", index.WireContentType)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, statusClientClosed, w.Code)
}

func TestPanicIsALogged500(t *testing.T) {
	var logs bytes.Buffer
	f := &fakeShard{do: func(context.Context) error { panic("shard bug") }}
	_, c := fakeServer(t, f, HandlerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := c.TermStats(context.Background(), bus)
	require.Error(t, err)
	require.NotErrorIs(t, err, index.ErrBadRequest)
	require.Contains(t, logs.String(), "shard bug")
}

func TestErrorsFromRealShards(t *testing.T) {
	recs := shardtest.Corpus(300, 2)
	// The shard server's own index allows 5 terms: no caller may ask
	// for more.
	_, srv := serve(t, recs, 2, index.Options{Fanout: index.FanoutOptions{Budget: index.Budget{MaxTerms: 5}}})
	cs := clients(t, srv, 2)
	_, err := cs[0].TermStats(context.Background(), &index.ShardRequest{Request: &index.Request{Query: "b*"}, Budget: index.Budget{MaxTerms: 100000}})
	var be *index.BudgetError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 5, be.Max, "clamped to the server's ceiling")

	fan := index.NewFanout(cs, index.FanoutOptions{})
	_, err = fan.Search(context.Background(), &index.Request{Query: "b* r*"})
	require.ErrorAs(t, err, &be)
	require.Equal(t, 5, be.Max)

	c, err := NewShard(srv.URL, 1, 7, ClientOptions{})
	require.NoError(t, err)
	_, err = c.SearchShard(context.Background(), bus)
	require.ErrorIs(t, err, ErrUnknownShard)
	_, err = c.Get(context.Background(), "x")
	require.ErrorIs(t, err, ErrUnknownShard)
	res, err := index.NewFanout([]index.Shard{cs[0], cs[1], c}, index.FanoutOptions{}).Search(context.Background(), &index.Request{Query: "bus"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Shards.Failed)
	require.Equal(t, c.String(), res.Shards.Failures[0].Shard)
}

func TestGet(t *testing.T) {
	recs := []record.Record{
		{ID: "plain", URL: "https://example.com/a.jpg", Title: "<b>bold</b> & co"},
		{ID: "a/b c%d?e#f", URL: "https://example.com/b.jpg", Title: "odd id"},
	}
	ix, srv := serve(t, recs, 1, index.Options{})
	c := clients(t, srv, 1)[0].(*Client)
	for _, r := range recs {
		want, err := ix.Get(context.Background(), r.ID)
		require.NoError(t, err)
		got, err := c.Get(context.Background(), r.ID)
		require.NoError(t, err, r.ID)
		require.Equal(t, string(want), string(got), "records cross byte for byte")
	}
	_, err := c.Get(context.Background(), "absent")
	require.ErrorIs(t, err, index.ErrNotFound)
	resp, err := http.Get(srv.URL + "/internal/v1/generations/1/shards/0/images/absent")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestOffsetHeader(t *testing.T) {
	f := &fakeShard{applied: 42}
	_, c := fakeServer(t, f, HandlerOptions{})
	require.EqualValues(t, -1, c.LastOffset())
	_, err := c.TermStats(context.Background(), bus)
	require.NoError(t, err)
	require.EqualValues(t, 42, c.LastOffset())
	f.do = func(context.Context) error { return index.ErrOverloaded }
	f.applied = 43
	_, err = c.TermStats(context.Background(), bus)
	require.Error(t, err)
	require.EqualValues(t, 43, c.LastOffset(), "error answers carry the offset too")

	// A shard without Applied: the offset comes from Info.
	ix, srv := serve(t, nil, 1, index.Options{})
	shard := ix.Shards()[0]
	h, err := NewHandler(HandlerOptions{
		Lookup: func(int, int) (index.Shard, bool) { return shard, true },
		Info: func(context.Context) Info {
			return Info{Replicas: []ReplicaInfo{{Generation: 3, Shard: 1, Applied: 99}}}
		},
	})
	require.NoError(t, err)
	srv.Config.Handler = h
	c, err = NewShard(srv.URL, 3, 1, ClientOptions{})
	require.NoError(t, err)
	_, err = c.TermStats(context.Background(), bus)
	require.NoError(t, err)
	require.EqualValues(t, 99, c.LastOffset())
}

func TestInfoAndProbes(t *testing.T) {
	var ready atomic.Bool
	info := func(context.Context) Info {
		return Info{Node: "n1", Replicas: []ReplicaInfo{
			{Generation: 1, Shard: 0, Shards: 4, MappingVersion: index.MappingVersion, Applied: 10, HighWater: 12, Lag: 2, Docs: 5, Ready: true},
			{Generation: 1, Shard: 3, Shards: 4, MappingVersion: index.MappingVersion, Applied: 7, HighWater: 7, Docs: 3, Ready: ready.Load()},
		}}
	}
	h, err := NewHandler(HandlerOptions{Lookup: func(int, int) (index.Shard, bool) { return nil, false }, Info: info})
	require.NoError(t, err)
	keyed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What api.Guard does for the internal API, in brief.
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.Header.Get("Authorization") != "Bearer sekrit" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(keyed)
	defer srv.Close()

	_, err = FetchInfo(context.Background(), nil, srv.URL, "wrong")
	require.Error(t, err)
	in, err := FetchInfo(context.Background(), nil, srv.URL+"/", "sekrit")
	require.NoError(t, err)
	require.Equal(t, info(context.Background()), in)

	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, status("/healthz"))
	require.Equal(t, 503, status("/readyz"), "a replica still catching up")
	ready.Store(true)
	require.Equal(t, 200, status("/readyz"))

	c, err := NewShard(srv.URL, 1, 0, ClientOptions{APIKey: "sekrit"})
	require.NoError(t, err)
	_, err = c.TermStats(context.Background(), bus)
	require.ErrorIs(t, err, ErrUnknownShard, "the key went with the call")
}

func TestBadInput(t *testing.T) {
	f := &fakeShard{}
	srv, _ := fakeServer(t, f, HandlerOptions{MaxBodyBytes: 1 << 10})
	good, _ := index.EncodeShardRequest(bus)
	base := srv.URL + "/internal/v1/generations/2/shards/0/"
	for _, tc := range []struct {
		method, path, ctype string
		body                []byte
		header              map[string]string
		status              int
	}{
		{"POST", "termstats", index.WireContentType, []byte("garbage"), nil, 400},
		{"POST", "search", index.WireContentType, good[:len(good)-2], nil, 400},
		{"POST", "fetch", index.WireContentType, good, nil, 400},
		{"POST", "termstats", "application/json", []byte(`{"q":"bus"}`), nil, 415},
		{"POST", "termstats", index.WireContentType, bytes.Repeat([]byte("x"), 2<<10), nil, 413},
		{"POST", "termstats", index.WireContentType, good, map[string]string{HeaderTimeout: "soon"}, 400},
		{"POST", "termstats", index.WireContentType, good, map[string]string{HeaderTimeout: "-5"}, 400},
		{"GET", "termstats", "", nil, nil, 404},
		{"POST", "/internal/v1/generations/x/shards/0/termstats", index.WireContentType, good, nil, 400},
		{"POST", "/internal/v1/generations/2/shards/0/nothing", index.WireContentType, good, nil, 404},
		{"POST", "/internal/v1/generations/2/shards/zero/termstats", index.WireContentType, good, nil, 400},
		{"POST", "/internal/v1/generations/3/shards/0/termstats", index.WireContentType, good, nil, 404},
		{"POST", "termstats", index.WireContentType, good, map[string]string{HeaderTimeout: "999999999999"}, 200},
	} {
		u := base + tc.path
		if strings.HasPrefix(tc.path, "/") {
			u = srv.URL + tc.path
		}
		req, err := http.NewRequest(tc.method, u, bytes.NewReader(tc.body))
		require.NoError(t, err)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		data := new(bytes.Buffer)
		data.ReadFrom(resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.method, tc.path, data)
		if tc.status != 200 {
			var eb errorBody
			require.NoError(t, json.Unmarshal(data.Bytes(), &eb), data.String())
			require.NotEmpty(t, eb.Error.Code)
		}
	}
	// A server's timeout cap holds whatever the caller asks.
	require.True(t, f.deadline.Before(time.Now().Add(61*time.Second)))

	// A request too large for the server is the request's fault.
	big := &index.ShardRequest{Request: &index.Request{Query: strings.Repeat("bus ", 400)}}
	c, err := NewShard(srv.URL, 2, 0, ClientOptions{})
	require.NoError(t, err)
	_, err = c.TermStats(context.Background(), big)
	require.ErrorIs(t, err, index.ErrBadRequest)

	// An answer larger than the client takes is refused, not read.
	c, err = NewShard(srv.URL, 2, 0, ClientOptions{MaxResponseBytes: 3})
	require.NoError(t, err)
	_, err = c.TermStats(context.Background(), bus)
	require.ErrorContains(t, err, "at most 3")

	for _, u := range []string{"", "localhost:80", "ftp://x", "http://"} {
		_, err := NewShard(u, 0, 0, ClientOptions{})
		require.Error(t, err, u)
	}
	_, err = NewShard("http://x", -1, 0, ClientOptions{})
	require.Error(t, err)
	_, err = NewShard("http://x", 0, 0, ClientOptions{APIKey: "a\nb"})
	require.Error(t, err)
	_, err = NewHandler(HandlerOptions{})
	require.Error(t, err, "Lookup is required")
}
