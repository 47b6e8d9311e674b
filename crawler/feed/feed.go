// Package feed reads bulk feeds of image metadata into records: JSONL in
// the record schema, CSV with a header, and MS-COCO caption annotation
// files. A Reader implements crawler.Source.
//
// Every format streams: memory does not grow with the file, except for
// COCO, whose captions must be gathered per image (the annotations array
// may come before or after the images). A bad line or row is skipped and
// counted with its position; it never stops the feed.
//
// Positions for resuming (Reader.Skip, Reader.Progress) count input
// units: lines for JSONL, data rows for CSV, images for COCO.
package feed

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

// Format names a feed format.
type Format string

// Formats a Reader reads; "" detects the format.
const (
	JSONL Format = "jsonl"
	CSV   Format = "csv"
	COCO  Format = "coco"
)

// Reader reads one feed.
type Reader struct {
	Path  string    // file to read; ".gz" files (by their bytes) are decompressed
	Input io.Reader // read instead of Path when set (Path then only names it)
	// Format is the feed's format; "" detects it from the name (.csv,
	// .jsonl, .ndjson, .json) and else from the first bytes ('{' and a
	// COCO "images" key, or a record per line).
	Format Format
	// Columns maps record fields to CSV header names, e.g. {"url":
	// "image_url"}; headers named like record fields map to themselves.
	Columns map[string]string
	// Skip passes over the first Skip units (a resumed feed).
	Skip  int64
	Tally *crawler.Tally
	// Progress, when set, is called after each unit with the number of
	// units consumed so far: what to save as Skip.
	Progress func(pos int64)
}

// Crawl reads the feed and emits its records.
func (r *Reader) Crawl(ctx context.Context, emit crawler.Emit) error {
	if r.Tally == nil {
		r.Tally = &crawler.Tally{}
	}
	in := r.Input
	name := r.Path
	if in == nil {
		if r.Path == "" {
			return errors.New("feed: no input")
		}
		f, err := os.Open(r.Path)
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("feed %s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
		name = strings.TrimSuffix(name, ".gz")
	}
	format := r.Format
	if format == "" {
		format = detect(name, br)
	}
	switch format {
	case JSONL:
		return r.jsonl(ctx, name, br, emit)
	case CSV:
		return r.csv(ctx, name, br, emit)
	case COCO:
		return r.coco(ctx, name, br, emit)
	}
	return fmt.Errorf("feed %s: unknown format %q (want jsonl, csv or coco)", name, format)
}

func detect(name string, br *bufio.Reader) Format {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return CSV
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"):
		return JSONL
	}
	head, _ := br.Peek(64 << 10)
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if bytes.HasPrefix(trimmed, []byte("{")) {
		// One record per line, or one COCO object (on one line or many)?
		firstLine, _, _ := bytes.Cut(trimmed, []byte("\n"))
		var top map[string]json.RawMessage
		if json.Unmarshal(firstLine, &top) == nil {
			if images, ok := top["images"]; ok && bytes.HasPrefix(images, []byte("[")) {
				return COCO
			}
			return JSONL
		}
		if bytes.Contains(head, []byte(`"images"`)) {
			return COCO
		}
		return JSONL
	}
	if strings.HasSuffix(lower, ".json") {
		return COCO
	}
	return CSV
}

// emitOne normalises and emits a record made from unit pos, or counts why
// not; it reports progress either way.
func (r *Reader) emitOne(ctx context.Context, emit crawler.Emit, where string, rec record.Record, pos int64) error {
	if rec.Source == "" {
		rec.Source = "feed"
	}
	if err := rec.Normalize(); err != nil {
		r.Tally.Skip(where, "invalid record", err)
	} else {
		if err := emit(ctx, rec); err != nil {
			return err
		}
		r.Tally.Records.Add(1)
	}
	r.progress(pos)
	return nil
}

func (r *Reader) progress(pos int64) {
	if r.Progress != nil {
		r.Progress(pos)
	}
}

// jsonl reads one record per line. A line over the record size limit is
// skipped without being held in memory.
func (r *Reader) jsonl(ctx context.Context, name string, br *bufio.Reader, emit crawler.Emit) error {
	var line []byte
	var pos int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var tooLong bool
		var err error
		line, tooLong, err = readLine(br, line[:0], record.MaxRecordBytes)
		if len(line) == 0 && !tooLong && err == io.EOF {
			return nil
		}
		pos++
		where := fmt.Sprintf("%s:%d", name, pos)
		r.Tally.Bytes.Add(int64(len(line)))
		switch {
		case pos <= r.Skip:
		case tooLong:
			r.Tally.Skip(where, "line too long", fmt.Errorf("over %d bytes", record.MaxRecordBytes))
			r.progress(pos)
		case len(bytes.TrimSpace(line)) == 0:
			r.progress(pos)
		default:
			rec, perr := record.Parse(bytes.TrimPrefix(line, []byte("\ufeff")))
			if perr != nil {
				r.Tally.Skip(where, "invalid record", perr)
				r.progress(pos)
			} else if err := r.emitOne(ctx, emit, where, rec, pos); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("feed %s: %w", name, err)
		}
	}
}

// readLine reads up to and without the next newline into buf, keeping at
// most limit bytes; tooLong says the line went on past them (the rest was
// read and dropped).
func readLine(br *bufio.Reader, buf []byte, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > limit+1 {
			tooLong = true
			buf = buf[:0]
		} else if !tooLong {
			buf = append(buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(buf, "\r\n"), tooLong, err
	}
}

func detectString(name, s string) Format {
	return detect(name, bufio.NewReader(strings.NewReader(s)))
}
