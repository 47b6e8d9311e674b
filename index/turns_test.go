package index

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTurns: n searches run at once, the others wait first come first
// served, and one whose deadline passes while it waits is refused as
// overloaded.
func TestTurns(t *testing.T) {
	require.Nil(t, NewTurns(-1), "negative: no limit")
	rel, waited, err := NewTurns(-1).Take(context.Background())
	require.NoError(t, err)
	require.False(t, waited)
	rel()
	require.Greater(t, cap(NewTurns(0)), 0, "0: twice the cores")

	tt := NewTurns(2)
	ctx := context.Background()
	r1, w1, err := tt.Take(ctx)
	require.NoError(t, err)
	r2, w2, err := tt.Take(ctx)
	require.NoError(t, err)
	require.False(t, w1 || w2, "two at once without waiting")

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, waited, err = tt.Take(short)
	require.True(t, waited)
	require.ErrorIs(t, err, ErrOverloaded, "the deadline passed in the queue")

	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	_, _, err = tt.Take(gone)
	require.True(t, errors.Is(err, context.Canceled), "a caller that went away: %v", err)

	// Waiters get their turns in the order they came.
	const n = 5
	order := make(chan int, n)
	for i := range n {
		go func() {
			rel, waited, err := tt.Take(ctx)
			if err != nil || !waited {
				order <- -1
				return
			}
			order <- i
			rel()
		}()
		// Goroutine i waits in Take before i+1 starts.
		require.Eventually(t, func() bool { return waitingInTake() == i+1 }, 5*time.Second, time.Millisecond)
	}
	r1()
	for i := range n {
		select {
		case got := <-order:
			require.Equal(t, i, got, "first come first served")
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter never got its turn")
		}
	}
	r2()
	require.Equal(t, 0, len(tt), "every turn given back")
}

// TestFanoutSearchesInTurns: with Searches 1 a second cheap search waits
// for the first, and is refused as overloaded when its deadline comes
// first; the wait is counted.
func TestFanoutSearchesInTurns(t *testing.T) {
	f := NewFanout([]Shard{&fakeShard{name: "slow", mode: "hang", phase: 2}}, FanoutOptions{Searches: 1})
	first, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.Search(first, &Request{Query: "beach"})
	}()
	require.Eventually(t, func() bool { return len(f.turns) == 1 }, time.Second, time.Millisecond)

	second, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err := f.Search(second, &Request{Query: "beach"})
	require.ErrorIs(t, err, ErrOverloaded)
	require.EqualValues(t, 1, f.Stats().Waited)

	cancel()
	<-done
	require.Equal(t, 0, len(f.turns), "the first search gave its turn back")
}

// waitingInTake counts the goroutines blocked in Turns.Take.
func waitingInTake() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		blocked := strings.Contains(g, "[select") || strings.Contains(g, "[chan send")
		if blocked && strings.Contains(g, "index.Turns.Take(") {
			n++
		}
	}
	return n
}

// TestFanoutTurnsByDefault: a fan-out over shards in this process runs
// twice as many cheap searches at once as there are cores, one with a
// remote shard four times as many, and -1 lifts the bound.
func TestFanoutTurnsByDefault(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	ix, err := Open(t.TempDir(), Options{Shards: 2})
	require.NoError(t, err)
	defer ix.Close()
	require.Equal(t, 2*cores, cap(ix.fan.turns), "in-process shards")

	remote := []Shard{&fakeShard{name: "remote"}}
	require.Equal(t, 4*cores, cap(NewFanout(remote, FanoutOptions{}).turns), "a remote shard")
	require.Equal(t, 3, cap(NewFanout(remote, FanoutOptions{Searches: 3}).turns))
	require.Nil(t, NewFanout(remote, FanoutOptions{Searches: -1}).turns, "no limit")
}
