// Package sink delivers crawled records: to a JSONL file (JSONL) or to a
// running picdex server's POST /v1/images (HTTP). Both implement
// crawler.Sink: records are buffered, Flush delivers everything written so
// far durably, and Close flushes and releases.
package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/picdex/picdex/index/record"
)

// JSONL writes one compact JSON record per line.
type JSONL struct {
	f    *os.File
	w    *bufio.Writer
	sync bool // fsync on Flush (not for standard output)
}

// NewJSONL opens path for writing ("-" is standard output). With
// appendMode the file is appended to, as a resumed crawl does; otherwise
// it is truncated.
func NewJSONL(path string, appendMode bool) (*JSONL, error) {
	if path == "-" {
		return &JSONL{f: os.Stdout, w: bufio.NewWriterSize(os.Stdout, 256<<10)}, nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendMode {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	return &JSONL{f: f, w: bufio.NewWriterSize(f, 256<<10), sync: true}, nil
}

// Write buffers r as one line.
func (j *JSONL) Write(_ context.Context, r record.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", r.URL, err)
	}
	b = append(b, '\n')
	_, err = j.w.Write(b)
	return err
}

// Flush writes the buffer out and, for a file, to stable storage.
func (j *JSONL) Flush(context.Context) error {
	if err := j.w.Flush(); err != nil {
		return err
	}
	if j.sync {
		return j.f.Sync()
	}
	return nil
}

// Close flushes and closes the file (never standard output).
func (j *JSONL) Close(ctx context.Context) error {
	err := j.Flush(ctx)
	if j.f != os.Stdout {
		if cerr := j.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
