// Package files crawls a directory tree of image files into records.
//
// A Walker visits the tree in lexical order, reads files with several
// workers, and emits records in that same order, so two crawls of one
// tree give the same output and a crawl can resume after the last file
// it finished (Walker.After).
//
// The walk never leaves its root: a symbolic link is followed only when it
// resolves to a regular file inside the root (a link to a directory is not
// followed, so there are no loops); FIFOs, sockets and devices are skipped
// without being opened, and a file is opened non-blocking and checked to
// be regular before it is read. Hidden files and directories (".git") are
// skipped. Files over the size cap are skipped by their size, unread.
//
// Each image gives a record with url file:///absolute/path, source
// "file", what crawler/imagefile reads from it, and, when its metadata has
// no title, a title made from its file name ("harbour_at-dawn.jpg" gives
// "harbour at dawn").
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/crawler/imagefile"
	"github.com/picdex/picdex/index/record"
)

// Walker crawls the image files under Root. It implements crawler.Source.
type Walker struct {
	Root    string
	Options imagefile.Options
	Workers int // files read at once (default GOMAXPROCS)
	// After resumes a crawl: files at or before this slash-separated path
	// relative to Root, in walk order, are passed over.
	After string
	Tally *crawler.Tally // may be nil
	// Progress, when set, is called after each file is done (emitted or
	// skipped), in walk order, with its path relative to Root: what to
	// save as After.
	Progress func(rel string)
}

// job is one file to read; its result comes back in seq order.
type job struct {
	seq      int
	rel, abs string
	rec      *record.Record
	reason   string // why it was skipped, "" when rec is set
	err      error
}

// Crawl walks the tree and emits a record per image file.
func (w *Walker) Crawl(ctx context.Context, emit crawler.Emit) error {
	opts := w.Options
	if err := opts.Validate(); err != nil {
		return err
	}
	tally := w.Tally
	if tally == nil {
		tally = &crawler.Tally{}
	}
	root, err := filepath.Abs(w.Root)
	if err != nil {
		return err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return fmt.Errorf("crawl %s: %w", w.Root, err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return fmt.Errorf("crawl %s: not a directory", w.Root)
	}
	workers := w.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan *job, workers)
	done := make(chan *job, workers)
	// window bounds the files read but not yet emitted, so a slow file
	// early in the order cannot let the reorder buffer grow without end.
	window := make(chan struct{}, workers*4)

	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		seq := 0
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rel := filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(p, root), string(filepath.Separator)))
			if err != nil {
				if rel != "" {
					tally.Skip(rel, "unreadable", err)
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if rel == "" {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if w.After != "" && !isAncestor(rel, w.After) && pathBefore(rel, w.After) {
					return fs.SkipDir // everything in it sorts before After
				}
				return nil
			}
			if w.After != "" && !pathBefore(w.After, rel) {
				return nil
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- &job{seq: seq, rel: rel, abs: p}:
				seq++
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			cancel(err)
		}
	})
	var workersWG sync.WaitGroup
	for range workers {
		workersWG.Go(func() {
			for j := range jobs {
				w.read(ctx, root, j, opts, tally)
				select {
				case done <- j:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		workersWG.Wait()
		close(done)
	}()

	// Emit in walk order.
	pending := map[int]*job{}
	next := 0
	for j := range done {
		pending[j.seq] = j
		for {
			j, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-window
			if err := w.finish(ctx, j, emit, tally); err != nil {
				cancel(err)
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	stop := context.Cause(ctx) // nil when the walk ran to its end
	cancel(nil)
	for range done { // let the workers go
	}
	wg.Wait()
	return stop
}

func (w *Walker) finish(ctx context.Context, j *job, emit crawler.Emit, tally *crawler.Tally) error {
	if j.rec == nil {
		tally.Skip(j.rel, j.reason, j.err)
	} else {
		if err := emit(ctx, *j.rec); err != nil {
			return err
		}
		tally.Records.Add(1)
	}
	if w.Progress != nil {
		w.Progress(j.rel)
	}
	return nil
}

// read fills in j's record or the reason it has none.
func (w *Walker) read(ctx context.Context, root string, j *job, opts imagefile.Options, tally *crawler.Tally) {
	data, reason, err := readFile(root, j.abs, opts.MaxBytes)
	if reason != "" {
		j.reason, j.err = reason, err
		return
	}
	tally.Files.Add(1)
	tally.Bytes.Add(int64(len(data)))
	info, err := imagefile.Extract(ctx, data, opts)
	if err != nil {
		j.reason, j.err = reasonOf(err), err
		return
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(j.abs)}
	rec := record.Record{URL: u.String(), Source: "file"}
	info.Fill(&rec)
	if rec.Title == "" {
		rec.Title = titleFromName(j.abs)
	}
	if err := rec.Normalize(); err != nil {
		j.reason, j.err = "invalid record", err
		return
	}
	j.rec = &rec
}

// readFile reads a regular file inside root, or says why it will not.
func readFile(root, p string, maxBytes int64) ([]byte, string, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, "unreadable", err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, "broken symlink", err
		}
		if !strings.HasPrefix(target, root+string(filepath.Separator)) {
			return nil, "symlink outside root", fmt.Errorf("points to %s", target)
		}
		if st, err = os.Stat(target); err != nil {
			return nil, "unreadable", err
		}
		if st.IsDir() {
			return nil, "symlink to a directory", nil
		}
	}
	if !st.Mode().IsRegular() {
		return nil, "special file", fmt.Errorf("mode %s", st.Mode().Type())
	}
	if st.Size() > maxBytes {
		return nil, "too large", fmt.Errorf("%d bytes (cap %d)", st.Size(), maxBytes)
	}
	// Non-blocking, and checked again once open: the file may have been
	// swapped for a FIFO since it was looked at.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, "unreadable", err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, "special file", err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, "unreadable", err
	}
	if int64(len(data)) > maxBytes {
		return nil, "too large", fmt.Errorf("over %d bytes", maxBytes)
	}
	return data, "", nil
}

// reasonOf is the skip reason for an imagefile error.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, imagefile.ErrNotImage):
		return "not an image"
	case errors.Is(err, imagefile.ErrCorrupt):
		return "corrupt image"
	case errors.Is(err, imagefile.ErrBomb):
		return "decompression bomb"
	case errors.Is(err, imagefile.ErrTooLarge):
		return "too large"
	case errors.Is(err, imagefile.ErrUnsupported):
		return "unsupported image variant"
	}
	return "unreadable"
}

// titleFromName makes a title of a file name: extension dropped, '_' and
// '-' read as spaces. Names that are only a camera's counter (IMG_1234,
// DSC01234) say nothing and give none.
func titleFromName(p string) string {
	base := filepath.Base(p)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	t := strings.Join(strings.FieldsFunc(stem, func(r rune) bool { return r == '_' || r == '-' || r == ' ' || r == '.' }), " ")
	letters := 0
	for _, r := range t {
		if r >= '0' && r <= '9' || r == ' ' {
			continue
		}
		letters++
	}
	if letters <= 4 { // "IMG 1234", "DSC 0001", "P1000123"
		return ""
	}
	return t
}

// pathBefore reports whether slash path a comes before b in walk order:
// component by component, each compared as a string (WalkDir's order).
func pathBefore(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

// isAncestor reports whether dir is a directory on the way to p.
func isAncestor(dir, p string) bool { return strings.HasPrefix(p, dir+"/") }
