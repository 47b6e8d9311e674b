package indexer

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/indexbench"
	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/mapreduce"
)

// writeLines writes the values of msgs as JSONL to path (gzipped for a
// .gz name).
func writeLines(t *testing.T, path string, values [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w := any(f).(interface{ Write([]byte) (int, error) })
	var gz *gzip.Writer
	if filepath.Ext(path) == ".gz" {
		gz = gzip.NewWriter(f)
		w = gz
	}
	for _, v := range values {
		_, err := w.Write(append(v, '\n'))
		require.NoError(t, err)
	}
	if gz != nil {
		require.NoError(t, gz.Close())
	}
}

func streamLines(t *testing.T, n int) [][]byte {
	var out [][]byte
	for _, m := range stream(t, n) {
		out = append(out, m.Value)
	}
	return out
}

// TestBuildLastVersionWins: whatever the splits (a file cut at any
// byte), every line is read once, the last version of each record in
// source order is what the index holds, deletes remove, and the poison
// line is counted and skipped.
func TestBuildLastVersionWins(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	path := filepath.Join(dir, "records.jsonl")
	writeLines(t, path, streamLines(t, n))
	for _, chunk := range []int64{13, 100, 1000, 0} {
		for _, shards := range []int{1, 4, 16} {
			splits, total, err := FileSplits([]string{path}, chunk)
			require.NoError(t, err)
			ix, err := index.Open(t.TempDir(), index.Options{Shards: shards})
			require.NoError(t, err)
			var bad []error
			st, err := Build(context.Background(), ix, splits, total, BuildOptions{Batch: 7, Bad: func(err error) { bad = append(bad, err) }})
			require.NoError(t, err, "chunk %d, %d shards", chunk, shards)
			expect(t, ix, n)
			assert.EqualValues(t, 1, st.Bad)
			require.Len(t, bad, 1)
			assert.Contains(t, bad[0].Error(), "records.jsonl at byte ")
			assert.EqualValues(t, 3*n+(n+4)/5, st.Records, "every line read once")
			assert.EqualValues(t, total, st.BytesRead)
			var docs uint64
			for _, d := range st.Docs {
				docs += d
			}
			assert.EqualValues(t, n-(n+4)/5, docs)
			for _, id := range st.Sample {
				_, err := ix.Get(context.Background(), id)
				assert.NoError(t, err, "a sampled id is in the index")
			}
			require.NoError(t, ix.Close())
		}
	}
}

// TestBuildScoresAsLoaded: a build into 16 shards from a directory of
// files (one gzipped) answers like the same records applied to 4 shards
// one batch at a time: the same hits in the same order with the same
// scores.
func TestBuildScoresAsLoaded(t *testing.T) {
	ctx := context.Background()
	recs, err := indexbench.SynthCorpus(ctx, 3000, 3)
	require.NoError(t, err)
	var values [][]byte
	for _, r := range recs {
		v, err := json.Marshal(r)
		require.NoError(t, err)
		values = append(values, v)
	}
	src := t.TempDir()
	writeLines(t, filepath.Join(src, "a.jsonl"), values[:2000])
	writeLines(t, filepath.Join(src, "b.jsonl.gz"), values[2000:])
	require.NoError(t, os.WriteFile(filepath.Join(src, "notes.txt"), []byte("not records"), 0o644))

	splits, total, err := FileSplits([]string{src}, 64<<10)
	require.NoError(t, err)
	require.Greater(t, len(splits), 2, "the plain file is cut into splits")
	built, err := index.Open(t.TempDir(), index.Options{Shards: 16})
	require.NoError(t, err)
	defer built.Close()
	st, err := Build(ctx, built, splits, total, BuildOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 3000, st.Records)

	loaded, err := index.Open(t.TempDir(), index.Options{Shards: 4})
	require.NoError(t, err)
	defer loaded.Close()
	for i := 0; i < len(recs); i += 500 {
		require.NoError(t, loaded.Apply(ctx, recs[i:min(i+500, len(recs))]))
	}
	for _, q := range []string{"beach", "red car", `"old town"`, "tags:sunset", "dog OR cat"} {
		want, err := loaded.Search(ctx, &index.Request{Query: q, Size: new(20)})
		require.NoError(t, err)
		got, err := built.Search(ctx, &index.Request{Query: q, Size: new(20)})
		require.NoError(t, err)
		require.Equal(t, want.Total, got.Total, q)
		require.Equal(t, len(want.Hits), len(got.Hits), q)
		for i := range want.Hits {
			assert.Equal(t, want.Hits[i].ID, got.Hits[i].ID, "%s: hit %d", q, i)
			assert.InDelta(t, want.Hits[i].Score, got.Hits[i].Score, 1e-9, "%s: hit %d", q, i)
		}
	}
}

// TestBuildFailsPastTheBadLimit: one bad line more than MaxBadInputs
// fails the build with the reasons; a cancelled build stops.
func TestBuildFailsPastTheBadLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	writeLines(t, path, [][]byte{[]byte(`{"url":"https://example.com/1.jpg"}`), []byte(`not json`), []byte(`{"url":""}`), []byte(`[1]`)})
	splits, total, err := FileSplits([]string{path}, 0)
	require.NoError(t, err)
	ix, err := index.Open(t.TempDir(), index.Options{Shards: 2})
	require.NoError(t, err)
	defer ix.Close()
	_, err = Build(context.Background(), ix, splits, total, BuildOptions{MaxBadInputs: 2})
	require.ErrorIs(t, err, mapreduce.ErrTooManyBadInputs)
	assert.Contains(t, err.Error(), "bad.jsonl at byte 36")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Build(ctx, ix, splits, total, BuildOptions{})
	require.ErrorIs(t, err, context.Canceled)

	_, _, err = FileSplits([]string{t.TempDir()}, 0)
	require.ErrorContains(t, err, "no .jsonl or .jsonl.gz files")
	_, _, err = FileSplits([]string{filepath.Join(t.TempDir(), "absent.jsonl")}, 0)
	require.Error(t, err)
	_ = record.MaxRecordBytes
}

// A file named twice, or once more through a link, is read once.
func TestFileSplitsReadAFileOnce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.jsonl")
	require.NoError(t, os.WriteFile(f, []byte(`{"url":"https://example.com/a.jpg"}`+"\n"), 0o644))
	link := filepath.Join(dir, "b.jsonl")
	require.NoError(t, os.Symlink(f, link))
	splits, total, err := FileSplits([]string{f, f, link, dir}, 0)
	require.NoError(t, err)
	require.Len(t, splits, 1)
	require.Equal(t, splits[0].Path, f)
	require.EqualValues(t, 36, total)
}

// Outside the roots, a path that does not exist is refused as one that
// does: the answer tells nothing of what is on the server.
func TestAllowedSourceSaysNothingOutside(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"/etc/passwd", "/etc/does-not-exist-picdex", filepath.Join(root+"x", "a.jsonl")} {
		err := AllowedSource([]string{root}, p)
		require.ErrorContains(t, err, "is outside the directories", p)
	}
	err := AllowedSource([]string{root}, filepath.Join(root, "missing.jsonl"))
	require.ErrorContains(t, err, "no such file", "inside the roots the reason is given")
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.jsonl"), nil, 0o644))
	require.NoError(t, AllowedSource([]string{root}, filepath.Join(root, "a.jsonl")))
}
