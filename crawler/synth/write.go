package synth

import (
	"bufio"
	"context"
	"io"
)

// Write generates the corpus described by opts as JSONL, one record per
// line, and returns how many records it wrote. It checks ctx between
// records; on cancellation it flushes the complete lines written so far and
// returns their count with ctx.Err().
func Write(ctx context.Context, w io.Writer, opts Options) (int, error) {
	g, err := New(opts)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	n := 0
	var line []byte
	for {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				if ferr := bw.Flush(); ferr != nil {
					return n, ferr
				}
				return n, err
			}
		}
		rec, ok := g.Next()
		if !ok {
			break
		}
		line, err = appendRecord(line[:0], &rec)
		if err != nil {
			return n, err
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}
