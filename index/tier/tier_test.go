package tier

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/index/replica"
	"github.com/picdex/picdex/index/shardtest"
)

// shardServer serves every shard of ix as generation 1, as a shard server
// hosting a replica of each would; applied is what its info reports.
func shardServer(t *testing.T, ix *index.Index, applied *atomic.Int64) *httptest.Server {
	t.Helper()
	return lagging(t, ix, applied, 0)
}

// lagging is shardServer with replicas lag messages behind their logs.
func lagging(t *testing.T, ix *index.Index, applied *atomic.Int64, lag int64) *httptest.Server {
	t.Helper()
	return fakeServer(t, ix, applied, func(r *remote.ReplicaInfo) { r.HighWater, r.Lag = r.Applied+lag, lag })
}

// fakeServer serves every shard of ix as generation 1; edit, when set,
// changes what the info says of each replica.
func fakeServer(t *testing.T, ix *index.Index, applied *atomic.Int64, edit func(*remote.ReplicaInfo)) *httptest.Server {
	t.Helper()
	shards := ix.Shards()
	h, err := remote.NewHandler(remote.HandlerOptions{
		Lookup: func(g, s int) (index.Shard, bool) {
			if g != 1 || s < 0 || s >= len(shards) {
				return nil, false
			}
			return shards[s], true
		},
		Info: func(context.Context) remote.Info {
			in := remote.Info{Node: "test"}
			for s := range shards {
				r := remote.ReplicaInfo{Generation: 1, Shard: s, Shards: len(shards),
					MappingVersion: 1, Applied: applied.Load(), HighWater: applied.Load(), Ready: true}
				if edit != nil {
					edit(&r)
				}
				in.Replicas = append(in.Replicas, r)
			}
			return in
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func openIndex(t *testing.T, recs []record.Record, n int) *index.Index {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{Shards: n})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Apply(context.Background(), recs))
	return ix
}

// TestSuiteOverReplicaSets runs the shared Shard suite over replica sets
// of remote shards: two shard servers holding the same shards.
func TestSuiteOverReplicaSets(t *testing.T) {
	shardtest.Run(t, func(t *testing.T, recs []record.Record, n int) []index.Shard {
		ix := openIndex(t, recs, n)
		var applied atomic.Int64
		a, b := shardServer(t, ix, &applied), shardServer(t, ix, &applied)
		out := make([]index.Shard, n)
		for s := range n {
			set := replica.NewSet(fmt.Sprintf("shard-%d", s), replica.Options{})
			var ms []replica.Member
			for _, srv := range []*httptest.Server{a, b} {
				c, err := remote.NewShard(srv.URL, 1, s, remote.ClientOptions{})
				require.NoError(t, err)
				ms = append(ms, replica.Member{ID: srv.URL, Shard: c, Healthy: true, CaughtUp: true})
			}
			require.NoError(t, set.Update(ms))
			out[s] = set
		}
		return out
	})
}

// TestTier: the query tier over two shard servers answers as the index in
// one process does, keeps answering with one server gone, and names its
// contents by generation and applied offsets.
func TestTier(t *testing.T) {
	recs := shardtest.Corpus(600, 3)
	ix := openIndex(t, recs, 4)
	var applied atomic.Int64
	applied.Store(600)
	a, b := shardServer(t, ix, &applied), shardServer(t, ix, &applied)
	tr, err := New(Options{ShardServers: []string{a.URL, b.URL},
		Live: func(context.Context) (Generation, error) { return Generation{ID: 1, Shards: 4}, nil }})
	require.NoError(t, err)

	_, err = tr.Search(context.Background(), &index.Request{Query: "bus"})
	require.ErrorIs(t, err, ErrNoGeneration, "before the first refresh")
	require.ErrorIs(t, err, index.ErrAllShardsFailed, "answered 503 by the API")
	require.Error(t, tr.Ready(context.Background()))

	ctx := context.Background()
	tr.Refresh(ctx)
	require.NoError(t, tr.Ready(ctx))
	for _, req := range shardtest.Requests() {
		want, err := ix.Search(ctx, &req)
		require.NoError(t, err)
		got, err := tr.Search(ctx, &req)
		require.NoError(t, err)
		shardtest.Same(t, want, got, req.Query)
	}
	// Every replica at one offset: the fan-out keeps the shards' term
	// statistics, and searches of known words skip phase 1 with the same
	// answers.
	before := tr.FanoutStats()
	for _, req := range shardtest.Requests() {
		want, err := ix.Search(ctx, &req)
		require.NoError(t, err)
		got, err := tr.Search(ctx, &req)
		require.NoError(t, err)
		shardtest.Same(t, want, got, req.Query)
	}
	require.Greater(t, tr.FanoutStats().StatsCached, before.StatsCached, "no search used kept statistics")

	raw, err := tr.Get(ctx, recs[17].ID)
	require.NoError(t, err)
	require.Contains(t, string(raw), recs[17].ID)
	_, err = tr.Get(ctx, "no-such-image")
	require.ErrorIs(t, err, index.ErrNotFound)

	// A write applied: another version.
	v := tr.Version()
	urls := []string{a.URL + "=600", b.URL + "=600"}
	slices.Sort(urls)
	require.Equal(t, "g1"+strings.Repeat(";"+strings.Join(urls, ","), 4), v, "every replica's offset, servers in order")
	applied.Store(601)
	tr.Refresh(ctx)
	require.NotEqual(t, v, tr.Version())

	// One server gone: every search still answers in full, from the other.
	a.Close()
	for range 10 {
		res, err := tr.Search(ctx, &index.Request{Query: "bus"})
		require.NoError(t, err)
		require.Zero(t, res.Shards.Failed)
	}
	tr.Refresh(ctx)
	servers := tr.Servers()
	require.Len(t, servers, 2)
	healthy := 0
	for _, s := range servers {
		if s.Healthy {
			healthy++
		}
	}
	require.Equal(t, 1, healthy)
	require.NoError(t, tr.Ready(ctx))

	// Both gone: not ready, and searches fail as every shard failing does.
	b.Close()
	tr.Refresh(ctx)
	require.Error(t, tr.Ready(ctx))
	_, err = tr.Search(ctx, &index.Request{Query: "bus"})
	require.True(t, errors.Is(err, index.ErrAllShardsFailed), "%v", err)
	_, err = tr.Get(ctx, recs[17].ID)
	require.ErrorIs(t, err, index.ErrAllShardsFailed, "a get with no replica is unavailable, not a fault")
}

// TestGenerationSwitch: a new live generation is a new view; searches on
// the old one are not mixed with it.
func TestGenerationSwitch(t *testing.T) {
	ix := openIndex(t, shardtest.Corpus(100, 5), 2)
	var applied atomic.Int64
	srv := shardServer(t, ix, &applied)
	var live atomic.Int64
	live.Store(1)
	tr, err := New(Options{ShardServers: []string{srv.URL},
		Live: func(context.Context) (Generation, error) { return Generation{ID: int(live.Load()), Shards: 2}, nil }})
	require.NoError(t, err)
	ctx := context.Background()
	tr.Refresh(ctx)
	g, ok := tr.Generation()
	require.True(t, ok)
	require.Equal(t, 1, g.ID)
	// Generation 2 is live but no server hosts it: generation 1 answers
	// for SwitchGrace (its servers may just not be polled yet); then its
	// shards have no replica, and the tier says so rather than
	// answering from 1.
	live.Store(2)
	tr.Refresh(ctx)
	g, _ = tr.Generation()
	require.Equal(t, 1, g.ID, "within the grace")
	_, err = tr.Search(ctx, &index.Request{Query: "bus"})
	require.NoError(t, err)
	tr.opts.SwitchGrace = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	tr.Refresh(ctx)
	g, _ = tr.Generation()
	require.Equal(t, 2, g.ID)
	require.Error(t, tr.Ready(ctx))
	_, err = tr.Search(ctx, &index.Request{Query: "bus"})
	require.ErrorIs(t, err, index.ErrAllShardsFailed)
}

// TestLaggingReplicaIsALastResort: while a shard has a caught-up replica,
// one far behind is not called at all (no retry or hedge may answer from
// it); alone, it serves.
func TestLaggingReplicaIsALastResort(t *testing.T) {
	ix := openIndex(t, shardtest.Corpus(100, 9), 2)
	var applied atomic.Int64
	good, behind := shardServer(t, ix, &applied), lagging(t, ix, &applied, 1_000_000)
	tr, err := New(Options{ShardServers: []string{good.URL, behind.URL},
		Live: func(context.Context) (Generation, error) { return Generation{ID: 1, Shards: 2}, nil }})
	require.NoError(t, err)
	ctx := context.Background()
	tr.Refresh(ctx)
	onlyMember(t, tr, good.URL)
	good.Close()
	tr.Refresh(ctx)
	require.Error(t, tr.Ready(ctx), "no caught-up replica: not ready")
	res, err := tr.Search(ctx, &index.Request{Query: "bus"})
	require.NoError(t, err, "the lagging replica still answers when it is all there is")
	require.Zero(t, res.Shards.Failed)
}

// TestCutOffReplicaIsALastResort: a replica whose broker has not answered
// for a while reports a lag that may be long out of date; with a replica in
// contact at hand it is not chosen, and without one it still answers (and
// the tier stays ready: Kafka down must not take searches down).
func TestCutOffReplicaIsALastResort(t *testing.T) {
	ix := openIndex(t, shardtest.Corpus(100, 9), 2)
	var applied atomic.Int64
	var age atomic.Int64
	inContact := shardServer(t, ix, &applied)
	cutOff := fakeServer(t, ix, &applied, func(r *remote.ReplicaInfo) { r.ContactAgeMs = age.Load() })
	age.Store(60_000)
	tr, err := New(Options{ShardServers: []string{inContact.URL, cutOff.URL},
		Live: func(context.Context) (Generation, error) { return Generation{ID: 1, Shards: 2}, nil }})
	require.NoError(t, err)
	ctx := context.Background()
	tr.Refresh(ctx)
	onlyMember(t, tr, inContact.URL)
	age.Store(200)
	tr.Refresh(ctx)
	for _, s := range tr.Sets() {
		require.Len(t, s.Stats().Members, 2, "in contact again: a member again")
	}
	age.Store(-1) // never heard from the broker (restarted while Kafka is down)
	inContact.Close()
	tr.Refresh(ctx)
	require.NoError(t, tr.Ready(ctx), "the only replica left is caught up as far as anyone knows")
	res, err := tr.Search(ctx, &index.Request{Query: "bus"})
	require.NoError(t, err)
	require.Zero(t, res.Shards.Failed)
}

// TestReplicasApartTakePhaseOne: replicas of a shard at different offsets
// hold different contents, so their statistics are never kept.
func TestReplicasApartTakePhaseOne(t *testing.T) {
	ix := openIndex(t, shardtest.Corpus(100, 4), 2)
	var at1, at2 atomic.Int64
	at1.Store(10)
	at2.Store(11)
	a, b := shardServer(t, ix, &at1), shardServer(t, ix, &at2)
	tr, err := New(Options{ShardServers: []string{a.URL, b.URL},
		Live: func(context.Context) (Generation, error) { return Generation{ID: 1, Shards: 2}, nil }})
	require.NoError(t, err)
	ctx := context.Background()
	tr.Refresh(ctx)
	for range 3 {
		_, err := tr.Search(ctx, &index.Request{Query: "bus"})
		require.NoError(t, err)
	}
	require.Zero(t, tr.FanoutStats().StatsCached)
	at1.Store(11)
	tr.Refresh(ctx)
	for range 3 {
		_, err := tr.Search(ctx, &index.Request{Query: "bus"})
		require.NoError(t, err)
	}
	require.NotZero(t, tr.FanoutStats().StatsCached, "replicas together again: statistics kept")
}

// TestDiscoveredServers: with no configured servers, the tier polls the
// ones Discover returns, from the round after it found them, and drops a
// server Discover stops returning.
func TestDiscoveredServers(t *testing.T) {
	ix := openIndex(t, shardtest.Corpus(100, 9), 2)
	var applied atomic.Int64
	a, b := shardServer(t, ix, &applied), shardServer(t, ix, &applied)
	var found atomic.Pointer[[]string]
	found.Store(&[]string{strings.TrimPrefix(a.URL, "http://")}) // as an operator may write it
	tr, err := New(Options{Discover: func(context.Context) ([]string, error) { return *found.Load(), nil },
		Live: func(context.Context) (Generation, error) { return Generation{ID: 1, Shards: 2}, nil }})
	require.NoError(t, err)
	ctx := context.Background()
	tr.Refresh(ctx)
	require.Error(t, tr.Ready(ctx), "found, not polled yet")
	tr.Refresh(ctx)
	require.NoError(t, tr.Ready(ctx))
	members := func() []string {
		var ids []string
		for _, m := range tr.Sets()[0].Stats().Members {
			ids = append(ids, m.ID)
		}
		slices.Sort(ids)
		return ids
	}
	require.Equal(t, []string{a.URL}, members())

	found.Store(&[]string{a.URL, b.URL})
	tr.Refresh(ctx)
	tr.Refresh(ctx)
	want := []string{a.URL, b.URL}
	slices.Sort(want)
	require.Equal(t, want, members())

	found.Store(&[]string{b.URL})
	tr.Refresh(ctx)
	tr.Refresh(ctx)
	require.Equal(t, []string{b.URL}, members())
	res, err := tr.Search(ctx, &index.Request{Query: "bus"})
	require.NoError(t, err)
	require.Zero(t, res.Shards.Failed)
	require.Len(t, tr.Servers(), 1)
}

// onlyMember requires every shard's replica set to hold the replica of
// server base alone.
func onlyMember(t *testing.T, tr *Tier, base string) {
	t.Helper()
	for _, s := range tr.Sets() {
		st := s.Stats()
		require.Len(t, st.Members, 1, "%s", st.Shard)
		require.Equal(t, base, st.Members[0].ID)
	}
}
