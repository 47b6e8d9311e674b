package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// loadStats counts what a load did.
type loadStats struct {
	indexed, rejected int
}

// loader parses JSONL records and applies them to an index in batches.
// A bad line is reported (file:line: reason), counted and skipped; an
// index failure stops the load.
type loader struct {
	ix     *index.Index
	batch  int
	report io.Writer // where rejected lines are reported
	stats  loadStats
	buf    []record.Record
}

func newLoader(ix *index.Index, batch int, report io.Writer) *loader {
	return &loader{ix: ix, batch: batch, report: report, buf: make([]record.Record, 0, batch)}
}

// readError is a failure to read input, as opposed to a failure to index.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// openInput opens a file, "-" for stdin, decompressing .gz files.
func openInput(name string, stdin io.Reader) (io.ReadCloser, error) {
	var r io.ReadCloser
	if name == "-" {
		r = io.NopCloser(stdin)
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r = f
	}
	if !strings.HasSuffix(name, ".gz") {
		return r, nil
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{gz, closers{gz, r}}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// load reads JSONL from r. Lines longer than record.MaxRecordBytes are
// rejected without being held in memory whole.
func (l *loader) load(ctx context.Context, name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, record.MaxRecordBytes+1)
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readLine(br)
		if err == io.EOF && len(line) == 0 && !tooLong {
			return nil
		}
		if err != nil && err != io.EOF {
			return &readError{fmt.Errorf("%s:%d: %w", name, lineNo, err)}
		}
		switch {
		case tooLong:
			l.reject(name, lineNo, fmt.Sprintf("line longer than %d bytes", record.MaxRecordBytes))
		case len(bytes.TrimSpace(line)) == 0:
		default:
			rec, perr := record.Parse(line)
			if perr != nil {
				l.reject(name, lineNo, strings.TrimPrefix(perr.Error(), "invalid record: "))
				break
			}
			l.buf = append(l.buf, rec)
			if len(l.buf) >= l.batch {
				if ferr := l.flush(ctx); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its newline. When the line is
// longer than the reader's buffer it is skipped to its end and tooLong set.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	for err == bufio.ErrBufferFull {
		tooLong = true
		_, err = br.ReadSlice('\n')
	}
	if tooLong {
		return nil, true, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), false, err
}

func (l *loader) reject(name string, line int, reason string) {
	l.stats.rejected++
	fmt.Fprintf(l.report, "%s:%d: %s\n", name, line, reason)
}

// flush applies the buffered records.
func (l *loader) flush(ctx context.Context) error {
	if len(l.buf) == 0 {
		return nil
	}
	if err := l.ix.Apply(ctx, l.buf); err != nil {
		return fmt.Errorf("indexing: %w", err)
	}
	l.stats.indexed += len(l.buf)
	l.buf = l.buf[:0]
	return nil
}
