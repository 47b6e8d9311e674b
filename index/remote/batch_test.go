package remote

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/shardtest"
)

// countingServer serves h and counts the shard calls and batches sent
// to it.
func countingServer(t *testing.T, h http.Handler) (srv *httptest.Server, single, batches *atomic.Int64) {
	single, batches = new(atomic.Int64), new(atomic.Int64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/batch/"):
			batches.Add(1)
		case strings.Contains(r.URL.Path, "/shards/"):
			single.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, single, batches
}

// servedShards serves a 4-shard index of docs records behind the
// internal API, counting its single and batch requests, and returns the
// index, the client side of its server and a Client for each shard.
func servedShards(t *testing.T, docs int) (ix *index.Index, s *Server, remote []index.Shard, single, batches *atomic.Int64) {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{Shards: 4})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Apply(context.Background(), shardtest.Corpus(docs, 3)))
	shards := ix.Shards()
	h, err := NewHandler(HandlerOptions{Lookup: func(gen, s int) (index.Shard, bool) {
		if gen != 1 || s >= len(shards) {
			return nil, false
		}
		return shards[s], true
	}})
	require.NoError(t, err)
	srv, single, batches := countingServer(t, h)
	s, err = NewServer(srv.URL, ClientOptions{})
	require.NoError(t, err)
	remote = make([]index.Shard, len(shards))
	for i := range remote {
		c, err := s.Shard(1, i)
		require.NoError(t, err)
		remote[i] = c
	}
	return ix, s, remote, single, batches
}

func TestFanoutCallsTravelInBatches(t *testing.T) {
	ix, s, remote, single, batches := servedShards(t, 600)
	fan := index.NewFanout(remote, index.FanoutOptions{InlineRecords: 100})
	searches := 0
	for _, req := range shardtest.Requests() {
		want, err := ix.Search(context.Background(), &req)
		require.NoError(t, err)
		got, err := fan.Search(context.Background(), &req)
		require.NoError(t, err)
		require.Equal(t, string(shardtest.Bytes(t, want)), string(shardtest.Bytes(t, got)), "%+v", req)
		searches++
	}
	st := s.BatchStats()
	require.Equal(t, int64(st.Batches), batches.Load())
	require.Greater(t, st.Batches, uint64(0))
	// At least one phase (two for a phase 1) per search, each of 4
	// shard calls: batches make fewer requests than calls.
	calls := int64(st.Calls) + single.Load()
	require.GreaterOrEqual(t, calls, int64(4*searches))
	require.Less(t, batches.Load()+single.Load(), calls, "batched: %+v, %d alone", st, single.Load())
}

// gate is a shard whose TermStats waits until its gate opens or its
// context ends, or fails at once.
type gate struct {
	index.Shard
	open chan struct{}
	err  error
}

func (g *gate) String() string { return "gate" }

func (g *gate) TermStats(ctx context.Context, _ *index.ShardRequest) (*index.TermStats, error) {
	if g.err != nil {
		return nil, g.err
	}
	select {
	case <-g.open:
		return &index.TermStats{DocCount: 7}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestBatchAnswersEachCallOnItsOwn: in one batch, each shard's answer
// comes as soon as it is done, an error is its shard's alone (a shard
// not hosted, a bad request, a panic), and a call whose context ends
// gives up alone.
func TestBatchAnswersEachCallOnItsOwn(t *testing.T) {
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 50, "the calls never travelled together")
		if batchedOnce(t) {
			return
		}
	}
}

// batchedOnce makes one call to each of six shards at once and checks
// their answers, unless they did not travel in one batch.
func batchedOnce(t *testing.T) bool {
	slow, stuck := &gate{open: make(chan struct{})}, &gate{open: make(chan struct{})}
	defer close(stuck.open)
	shards := map[int]index.Shard{
		0: &gate{open: closed()},
		1: slow,
		2: &gate{err: index.ErrBadRequest},
		3: &gate{err: errors.New("disk on fire")},
		5: stuck, // its caller gives up on it
	}
	h, err := NewHandler(HandlerOptions{Lookup: func(gen, s int) (index.Shard, bool) {
		sh, ok := shards[s]
		return sh, ok && gen == 1
	}})
	require.NoError(t, err)
	srv, _, batches := countingServer(t, h)
	s, err := NewServer(srv.URL, ClientOptions{})
	require.NoError(t, err)
	clients := make([]*Client, 6) // shard 4 is not hosted
	for i := range clients {
		clients[i], err = s.Shard(1, i)
		require.NoError(t, err)
	}
	sr := &index.ShardRequest{Request: &index.Request{Query: "bus"}}
	errs := make([]error, len(clients))
	answers := make([]*index.TermStats, len(clients))
	ended := make([]time.Time, len(clients))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range clients {
		cctx := context.Background()
		if i == 5 {
			cctx = ctx
		}
		wg.Go(func() {
			answers[i], errs[i] = c.TermStats(cctx, sr)
			ended[i] = time.Now()
		})
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(50 * time.Millisecond)
	opened := time.Now()
	close(slow.open)
	wg.Wait()
	if batches.Load() != 1 || s.BatchStats().Calls != uint64(len(clients)) {
		return false // they went apart
	}
	require.NoError(t, errs[0])
	require.Equal(t, uint64(7), answers[0].DocCount)
	require.True(t, ended[0].Before(opened), "the fast shard's answer did not wait for the slow one's")
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], index.ErrBadRequest)
	require.Error(t, errs[3])
	require.NotErrorIs(t, errs[3], index.ErrBadRequest)
	require.ErrorIs(t, errs[4], ErrUnknownShard)
	require.ErrorIs(t, errs[5], context.Canceled)
	require.True(t, ended[5].Before(opened), "the call given up on waited for the batch")
	return true
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestBadBatches: a batch that does not decode, names a shard twice or
// carries a bad shard request is refused whole with a 400, and asks no
// shard anything.
func TestBadBatches(t *testing.T) {
	var calls atomic.Int64
	f := &fakeShard{do: func(context.Context) error { calls.Add(1); return nil }}
	srv, _ := fakeServer(t, f, HandlerOptions{MaxBodyBytes: 1 << 12})
	good, _ := index.EncodeShardRequest(bus)
	for name, body := range map[string][]byte{
		"garbage":        []byte("garbage"),
		"shard twice":    encodeBatch([]int{0, 0}, good),
		"huge count":     {0xff, 0xff, 0xff, 0xff, 0x0f},
		"cut request":    encodeBatch([]int{0}, good[:len(good)-3]),
		"no request":     encodeBatch([]int{0}, nil),
		"shard too high": encodeBatch([]int{1 << 31}, good),
	} {
		resp, err := http.Post(srv.URL+"/internal/v1/generations/2/batch/search", index.WireContentType, bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
	}
	require.Zero(t, calls.Load(), "no shard was asked")
}

// FuzzDecodeBatch: any bytes decode to a batch or to an error, never a
// panic, and a decoded batch encodes to one that decodes alike.
func FuzzDecodeBatch(f *testing.F) {
	good, _ := index.EncodeShardRequest(bus)
	f.Add(encodeBatch([]int{0, 3, 7}, good))
	f.Add(encodeBatch(nil, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		shards, req, err := decodeBatch(data)
		if err != nil {
			return
		}
		shards2, req2, err := decodeBatch(encodeBatch(shards, req))
		if err != nil || !slices.Equal(shards, shards2) || !bytes.Equal(req, req2) {
			t.Fatalf("%x: %v %x, again %v %x (%v)", data, shards, req, shards2, req2, err)
		}
	})
}

// TestSearchCallsInTurns: with Searches 1, a search call (alone or in a
// batch) waits while another runs, and one whose deadline comes first is
// answered 429 overloaded, having asked no shard.
func TestSearchCallsInTurns(t *testing.T) {
	var calls atomic.Int64
	hold, held := make(chan struct{}), make(chan struct{})
	f := &fakeShard{do: func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			close(held)
			<-hold
		}
		return nil
	}}
	var waited atomic.Uint64
	srv, c := fakeServer(t, f, HandlerOptions{Searches: 1, Waited: &waited})
	var release sync.Once
	defer release.Do(func() { close(hold) })
	first := make(chan error, 1)
	go func() {
		_, err := c.TermStats(context.Background(), bus)
		first <- err
	}()
	<-held

	// A call gives up waiting a little before its deadline, so its
	// caller hears why.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.TermStats(ctx, bus)
	require.ErrorIs(t, err, index.ErrOverloaded)

	// Through the timeout header alone, single and batched.
	good, _ := index.EncodeShardRequest(bus)
	for _, path := range []string{"/internal/v1/generations/2/shards/0/termstats", "/internal/v1/generations/2/batch/termstats"} {
		body := good
		if strings.Contains(path, "batch") {
			body = encodeBatch([]int{0}, good)
		}
		req, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", index.WireContentType)
		req.Header.Set(HeaderTimeout, "100")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s waits for its turn", path)
	}
	require.EqualValues(t, 1, calls.Load(), "the waiting calls asked no shard")
	require.EqualValues(t, 3, waited.Load(), "every call that waited is counted")

	release.Do(func() { close(hold) })
	require.NoError(t, <-first)
	_, err = c.TermStats(context.Background(), bus)
	require.NoError(t, err, "the turn was given back")
}

// TestLingerStopsWhereItDoesNotPay: calls that come alone (as hedges and
// retries do, or where a search's calls spread over replicas) linger for
// company that never comes, until the server's score says lingering does
// not pay; then they go at once, but for a probe now and then.
func TestLingerStopsWhereItDoesNotPay(t *testing.T) {
	_, s, remote, single, _ := servedShards(t, 200)
	first := remote[0].(*Client)
	alone := func() {
		_, err := first.SearchShard(context.Background(), &index.ShardRequest{Request: &index.Request{Query: "bus"}})
		require.NoError(t, err)
	}
	alone()
	require.Equal(t, int32(-1), s.lingerScore.Load(), "the linger ran out")
	skips := s.lingerSkips.Load()
	for range lingerProbeEvery {
		alone()
	}
	require.Equal(t, skips+lingerProbeEvery, s.lingerSkips.Load(), "each came past the point of lingering")
	require.Equal(t, int32(-2), s.lingerScore.Load(), "one of them lingered, as a probe, and ran out too")
	require.Equal(t, int64(1+lingerProbeEvery), single.Load(), "each went alone")
}
