package generation

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
)

// TestManifestLifecycle: a directory with an index is generation 1;
// Begin, Finish and Switch make a new one live and keep the old for
// Rollback; an unfinished build is removed by the next Begin; Retire
// deletes what is past the kept ones.
func TestManifestLifecycle(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(dir)
	require.NoError(t, err)
	_, ok := m.LiveGeneration()
	require.False(t, ok, "an empty directory has no generation")

	ix, err := index.Open(dir, index.Options{Shards: 2})
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	m, err = Load(dir)
	require.NoError(t, err)
	live, ok := m.LiveGeneration()
	require.True(t, ok)
	assert.Equal(t, Generation{ID: 1, Dir: ".", Shards: 2, MappingVersion: index.MappingVersion, State: Live}, live)

	now := time.Now()
	g2, err := m.Begin(4, "a.jsonl", now)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("generations", "2"), g2.Dir)
	require.ErrorIs(t, m.Switch(2, now), ErrNotReady, "a build switches only once ready")
	require.NoError(t, os.MkdirAll(m.Path(g2), 0o755))

	// The build dies: the next Begin starts over in its place.
	m, err = Load(dir)
	require.NoError(t, err)
	g, err := m.Begin(4, "a.jsonl", now)
	require.NoError(t, err)
	assert.Equal(t, 2, g.ID)
	assert.Len(t, m.Generations, 2)
	require.NoError(t, m.Finish(2, []uint64{1, 2, 3, 4}, 10, 0, nil, now))
	require.NoError(t, m.Switch(2, now))
	require.NoError(t, m.Retire(1))
	m, err = Load(dir)
	require.NoError(t, err)
	assert.Equal(t, 2, m.Live)
	assert.Equal(t, 1, m.Previous)

	back, err := m.Rollback(now)
	require.NoError(t, err)
	assert.Equal(t, 1, back.ID)
	assert.Equal(t, 2, m.Previous)
	_, err = m.Rollback(now)
	require.NoError(t, err)
	assert.Equal(t, 2, m.Live)

	// A third generation: with one kept, generation 1 is retired and its
	// shards deleted.
	g3, err := m.Begin(8, "b.jsonl", now)
	require.NoError(t, err)
	require.NoError(t, m.Finish(g3.ID, make([]uint64, 8), 0, 0, nil, now))
	require.NoError(t, m.Switch(g3.ID, now))
	require.NoError(t, m.Retire(1))
	g1, err := m.Get(1)
	require.NoError(t, err)
	assert.Equal(t, Retired, g1.State)
	assert.False(t, index.Exists(dir), "generation 1's index is deleted")
	assert.Equal(t, 2, m.Previous)

	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"live":9,"generations":[]}`), 0o644))
	_, err = Load(dir)
	require.Error(t, err, "a live generation the manifest does not describe")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"live":1,"generations":[{"id":1,"dir":"../x","shards":1}]}`), 0o644))
	_, err = Load(dir)
	require.ErrorContains(t, err, "not inside the data directory")
}

// TestCurrentSwitch: each search holds the generation it took; Switch
// returns only once the searches on the old one are done, and searches
// after it get the new one.
func TestCurrentSwitch(t *testing.T) {
	a, err := index.Open(t.TempDir(), index.Options{Shards: 1})
	require.NoError(t, err)
	defer a.Close()
	b, err := index.Open(t.TempDir(), index.Options{Shards: 1})
	require.NoError(t, err)
	defer b.Close()
	cur := NewCurrent(a, 1)
	ix, gen, release := cur.Acquire()
	require.Same(t, a, ix)
	require.Equal(t, 1, gen)

	var switched atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		old, err := cur.Switch(context.Background(), b, 2)
		assert.NoError(t, err)
		assert.Same(t, a, old)
		switched.Store(true)
	})
	require.Eventually(t, func() bool { return cur.Generation() == 2 }, time.Second, time.Millisecond)
	ix2, _, release2 := cur.Acquire()
	assert.Same(t, b, ix2, "a search after the switch runs on the new generation")
	release2()
	time.Sleep(20 * time.Millisecond)
	assert.False(t, switched.Load(), "Switch waits for the search on the old one")
	release()
	wg.Wait()
	assert.True(t, switched.Load())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, held := cur.Acquire()
	_, err = cur.Switch(ctx, a, 3)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	held()
}

// TestLoadAdoptsAnIndexMadeAfterAFailedFirstBuild: a first reindex that
// failed leaves a manifest naming no generation; an index made in the
// directory after it (serve, picdex index) is the live generation.
func TestLoadAdoptsAnIndexMadeAfterAFailedFirstBuild(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(dir)
	require.NoError(t, err)
	g, err := m.Begin(4, "a.jsonl", time.Now())
	require.NoError(t, err)
	require.NoError(t, m.Abandon(g.ID))
	ix, err := index.Open(dir, index.Options{Shards: 3})
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	m, err = Load(dir)
	require.NoError(t, err)
	live, ok := m.LiveGeneration()
	require.True(t, ok)
	assert.Equal(t, ".", live.Dir)
	assert.Equal(t, 3, live.Shards)
	g2, err := m.Begin(4, "b.jsonl", time.Now())
	require.NoError(t, err)
	assert.NotEqual(t, live.ID, g2.ID, "a new build gets an id of its own")
}

// TestFailedSaveChangesNothing: a switch whose manifest cannot be saved
// leaves the manifest in memory as it was.
func TestFailedSaveChangesNothing(t *testing.T) {
	dir := t.TempDir()
	ix, err := index.Open(dir, index.Options{Shards: 1})
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	m, err := Load(dir)
	require.NoError(t, err)
	g, err := m.Begin(2, "a.jsonl", time.Now())
	require.NoError(t, err)
	require.NoError(t, m.Finish(g.ID, []uint64{0, 0}, 0, 0, nil, time.Now()))
	// The manifest's temporary file cannot be made: a directory is in
	// its place.
	require.NoError(t, os.Mkdir(filepath.Join(dir, ManifestName+".tmp"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestName+".tmp", "x"), nil, 0o644))
	require.Error(t, m.Switch(g.ID, time.Now()))
	assert.Equal(t, 1, m.Live, "still the old generation")
	assert.Equal(t, 0, m.Previous)
	got, err := m.Get(g.ID)
	require.NoError(t, err)
	assert.Equal(t, Ready, got.State)
}
