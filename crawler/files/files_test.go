package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/crawler/imagefile"
	"github.com/picdex/picdex/index/record"
)

func writeImage(t *testing.T, path string, w, h int, asPNG bool) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if asPNG {
		require.NoError(t, png.Encode(&buf, img))
	} else {
		require.NoError(t, jpeg.Encode(&buf, img, nil))
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// tree builds a directory with images, non-images and traps.
func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "harbour_at-dawn.jpg"), 40, 30, false)
	writeImage(t, filepath.Join(root, "a", "b", "IMG_1234.png"), 10, 20, true)
	writeImage(t, filepath.Join(root, "a-b.jpg"), 8, 8, false)
	writeImage(t, filepath.Join(root, "z", "last.png"), 5, 5, true)
	writeImage(t, filepath.Join(root, ".git", "hidden.png"), 5, 5, true)
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("hello"), 0o644)
	good, _ := os.ReadFile(filepath.Join(root, "a-b.jpg"))
	os.WriteFile(filepath.Join(root, "a", "truncated.jpg"), good[:40], 0o644)
	require.NoError(t, os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "a", "loop")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "passwd.jpg")))
	require.NoError(t, os.Symlink(filepath.Join(root, "a-b.jpg"), filepath.Join(root, "link-inside.jpg")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(root, "fifo.jpg"), 0o644))
	return root
}

func walk(t *testing.T, w *Walker) ([]record.Record, *crawler.Tally) {
	t.Helper()
	tally := &crawler.Tally{}
	w.Tally = tally
	var recs []record.Record
	require.NoError(t, w.Crawl(context.Background(), func(_ context.Context, r record.Record) error {
		recs = append(recs, r)
		return nil
	}))
	return recs, tally
}

func names(root string, recs []record.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, strings.TrimPrefix(r.URL, "file://"+filepath.ToSlash(root)+"/"))
	}
	return out
}

func TestWalk(t *testing.T) {
	root := tree(t)
	real, _ := filepath.EvalSymlinks(root)
	want := []string{"a/b/IMG_1234.png", "a/harbour_at-dawn.jpg", "a-b.jpg", "link-inside.jpg", "z/last.png"}
	for _, workers := range []int{1, 8} {
		recs, tally := walk(t, &Walker{Root: root, Workers: workers, Options: imagefile.Options{PHash: true}})
		assert.Equal(t, want, names(real, recs), "workers=%d: walk order", workers)
		skipped := tally.Skipped()
		assert.EqualValues(t, 1, skipped["not an image"])
		assert.EqualValues(t, 1, skipped["corrupt image"])
		assert.EqualValues(t, 1, skipped["symlink outside root"])
		assert.EqualValues(t, 1, skipped["symlink to a directory"])
		assert.EqualValues(t, 1, skipped["special file"])
		assert.EqualValues(t, 5, tally.Records.Load())
	}
	recs, _ := walk(t, &Walker{Root: root})
	r := recs[1]
	assert.Equal(t, "file", r.Source)
	assert.Equal(t, "harbour at dawn", r.Title)
	assert.Equal(t, "jpeg", r.Format)
	assert.Equal(t, 40, r.Width)
	assert.Empty(t, recs[0].Title, "a camera counter is not a title")
	assert.True(t, strings.HasPrefix(r.URL, "file:///"))
}

func TestWalkResume(t *testing.T) {
	root := tree(t)
	var done []string
	all, _ := walk(t, &Walker{Root: root, Progress: func(rel string) { done = append(done, rel) }})
	require.Len(t, all, 5)
	for i, after := range done {
		rest, _ := walk(t, &Walker{Root: root, After: after})
		var wantRest []record.Record
		for _, r := range all {
			rel := strings.TrimPrefix(r.URL, all[0].URL[:strings.Index(all[0].URL, "/a/")+1])
			if pathBefore(after, rel) {
				wantRest = append(wantRest, r)
			}
		}
		assert.Equal(t, len(wantRest), len(rest), "after %s (%d)", after, i)
	}
	assert.True(t, pathBefore("a/x", "a-b"), "a directory's files come before names that sort after it")
	assert.True(t, pathBefore("a", "a/x"))
	assert.False(t, pathBefore("b", "a/x"))
}

func TestWalkStopsOnEmitError(t *testing.T) {
	root := tree(t)
	boom := errors.New("sink full")
	n := 0
	err := (&Walker{Root: root, Workers: 4}).Crawl(context.Background(), func(context.Context, record.Record) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, (&Walker{Root: root}).Crawl(ctx, func(context.Context, record.Record) error { return nil }), context.Canceled)
	require.Error(t, (&Walker{Root: filepath.Join(root, "nope")}).Crawl(context.Background(), nil))
}

func TestWalkSizeCap(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "big.png"), 300, 300, true)
	_, tally := walk(t, &Walker{Root: root, Options: imagefile.Options{MaxBytes: 1000}})
	assert.EqualValues(t, 1, tally.Skipped()["too large"])
	assert.Zero(t, tally.Bytes.Load(), "not read")
}

// sharedImages are the shared sample directories, relative to here.
var sharedImages = []string{"../../../shared/data/exif-samples", "../../../shared/data/goexif-samples", "../../../shared/data/exiftool-t-images"}

// BenchmarkWalkSamples crawls the shared samples; files/s counts every
// file looked at, images or not.
func BenchmarkWalkSamples(b *testing.B) {
	if _, err := os.Stat(sharedImages[0]); err != nil {
		b.Skipf("shared data absent: %v", err)
	}
	for _, c := range []struct {
		name string
		opts imagefile.Options
	}{{"meta", imagefile.Options{}}, {"phash", imagefile.Options{PHash: true}}} {
		b.Run(c.name, func(b *testing.B) {
			files := int64(0)
			for b.Loop() {
				for _, dir := range sharedImages {
					tally := &crawler.Tally{}
					w := &Walker{Root: dir, Options: c.opts, Tally: tally}
					if err := w.Crawl(context.Background(), func(context.Context, record.Record) error { return nil }); err != nil {
						b.Fatal(err)
					}
					files += tally.Files.Load()
				}
			}
			b.ReportMetric(float64(files)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

func ExampleWalker() {
	root, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(root)
	os.WriteFile(filepath.Join(root, "readme.txt"), []byte("not an image"), 0o644)
	tally := &crawler.Tally{}
	w := &Walker{Root: root, Tally: tally}
	_ = w.Crawl(context.Background(), func(_ context.Context, r record.Record) error {
		fmt.Println(r.URL)
		return nil
	})
	fmt.Println(tally.Skipped())
	// Output: map[not an image:1]
}
