package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picdex/picdex/index"
)

func kafkaCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// stores runs a test against each Store implementation.
func stores(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("kafka", func(t *testing.T) { test(t, NewKafka(kafkaCluster(t))) })
	t.Run("file", func(t *testing.T) { test(t, NewFile(t.TempDir())) })
}

func gen(id, shards int, state string) Generation {
	return Generation{ID: id, Shards: shards, MappingVersion: index.MappingVersion, State: state,
		Source: "test", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestStore(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		st, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Live)
		assert.Empty(t, st.Generations)
		_, ok := st.LiveGeneration()
		assert.False(t, ok)

		require.NoError(t, s.Put(ctx, gen(1, 4, StateReady)))
		require.NoError(t, s.Put(ctx, gen(2, 8, StateBuilding)))
		require.NoError(t, s.SetLive(ctx, 1))
		require.NoError(t, s.Put(ctx, gen(2, 8, StateReady))) // last write wins
		require.NoError(t, s.SetLive(ctx, 2))
		st, err = s.Load(ctx)
		require.NoError(t, err)
		want := State{Live: 2, Generations: map[int]Generation{1: gen(1, 4, StateReady), 2: gen(2, 8, StateLive)}}
		assert.True(t, want.Equal(st), "%+v", st)
		live, ok := st.LiveGeneration()
		assert.True(t, ok)
		assert.Equal(t, 8, live.Shards)

		assert.ErrorIs(t, s.SetLive(ctx, 9), ErrUnknownGeneration)
		for _, bad := range []Generation{gen(0, 4, StateReady), gen(3, 0, StateReady), gen(3, 4, "gone"), {ID: 3, Shards: 1, State: StateLive}} {
			assert.Error(t, s.Put(ctx, bad), "%+v", bad)
		}
		st2, err := s.Load(ctx)
		require.NoError(t, err)
		assert.True(t, st.Equal(st2), "bad puts changed nothing")
	})
}

// TestBootstrapRace: many processes bootstrap an empty cluster at once,
// each with its own shard count; they all end with the same generation 1,
// and (on Kafka) its shard topic has exactly that many partitions.
func TestBootstrapRace(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var prepared sync.Map
		prepare := func(_ context.Context, g Generation) error { prepared.Store(g.Shards, true); return nil }
		if k, ok := s.(*Kafka); ok {
			prepare = func(ctx context.Context, g Generation) error { return EnsureShardTopic(ctx, k.brokers, g) }
		}
		const n = 6
		got := make([]Generation, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = BootstrapStore(ctx, s, i+1, prepare) })
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, got[0], got[i])
		}
		assert.Equal(t, 1, got[0].ID)
		assert.Equal(t, StateLive, got[0].State)
		assert.Equal(t, SourceBootstrap, got[0].Source)
		st, err := s.Load(ctx)
		require.NoError(t, err)
		live, ok := st.LiveGeneration()
		require.True(t, ok)
		assert.Equal(t, got[0].Shards, live.Shards)
		assert.Len(t, st.Generations, 1)
		if k, ok := s.(*Kafka); ok {
			conn, err := kafka.Dial("tcp", k.brokers[0])
			require.NoError(t, err)
			parts, err := conn.ReadPartitions(ShardTopic(1))
			conn.Close()
			require.NoError(t, err)
			assert.Len(t, parts, live.Shards)
		} else {
			prepared.Range(func(k, _ any) bool { assert.Equal(t, live.Shards, k); return true })
		}
		// Once live, Bootstrap returns it whatever it is asked.
		again, err := BootstrapStore(ctx, s, 16, prepare)
		require.NoError(t, err)
		assert.Equal(t, live.Shards, again.Shards)
	})
}

func TestBootstrapRefusesOtherGenerations(t *testing.T) {
	s := NewFile(t.TempDir())
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, gen(2, 4, StateBuilding)))
	_, err := BootstrapStore(ctx, s, 4, nil)
	assert.ErrorIs(t, err, ErrNotBootstrappable)
}

func TestEnsureShardTopicMismatch(t *testing.T) {
	brokers := kafkaCluster(t)
	ctx := context.Background()
	require.NoError(t, EnsureShardTopic(ctx, brokers, gen(3, 4, StateBuilding)))
	require.NoError(t, EnsureShardTopic(ctx, brokers, gen(3, 4, StateBuilding)))
	assert.ErrorContains(t, EnsureShardTopic(ctx, brokers, gen(3, 5, StateBuilding)), "has 4 partitions")
}

func TestWatch(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		seen := make(chan State, 16)
		done := make(chan error, 1)
		go func() {
			done <- Watch(ctx, s, 20*time.Millisecond, func(st State, err error) {
				if err == nil {
					seen <- st
				}
			})
		}()
		first := <-seen
		assert.Zero(t, first.Live)
		require.NoError(t, s.Put(ctx, gen(1, 2, StateReady)))
		require.NoError(t, s.SetLive(ctx, 1))
		deadline := time.After(30 * time.Second)
		for {
			select {
			case st := <-seen:
				if st.Live == 1 {
					cancel()
					assert.ErrorIs(t, <-done, context.Canceled)
					return
				}
			case <-deadline:
				t.Fatal("Watch never reported generation 1 live")
			}
		}
	})
}

func TestStoreServers(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		a := Server{Name: "ss-a", URL: "http://10.0.0.1:9200", Started: at}
		b := Server{Name: "ss-b", URL: "https://ss-b.example:9200", Started: at}
		require.NoError(t, s.Announce(ctx, a))
		require.NoError(t, s.Announce(ctx, b))
		require.NoError(t, s.Put(ctx, gen(1, 4, StateReady)))
		require.NoError(t, s.SetLive(ctx, 1)) // keeps the servers
		moved := a
		moved.URL = "http://10.0.0.9:9200" // a successor under the same name
		require.NoError(t, s.Announce(ctx, moved))
		require.NoError(t, s.Withdraw(ctx, "ss-b"))
		require.NoError(t, s.Withdraw(ctx, "never-there"))
		st, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, map[string]Server{"ss-a": moved}, st.Servers)
		assert.Equal(t, 1, st.Live)

		for _, bad := range []Server{{URL: "http://h:1"}, {Name: "x", URL: "h:1"}, {Name: "x", URL: "http://h"},
			{Name: "x", URL: "ftp://h:1"}, {Name: "x", URL: "http://0.0.0.0:9200"}, {Name: "x", URL: "http://h:1/path"},
			{Name: "x\ny", URL: "http://h:1"}} {
			assert.Error(t, s.Announce(ctx, bad), "%+v", bad)
		}
	})
}
