package indexbench

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index/record"
)

// SynthCorpus generates n synthetic records and normalizes them, so every
// engine is handed identical, canonical records with their ids.
func SynthCorpus(ctx context.Context, n int, seed int64) ([]record.Record, error) {
	g, err := synth.New(synth.Options{N: n, Seed: seed})
	if err != nil {
		return nil, err
	}
	recs := make([]record.Record, 0, n)
	for {
		if len(recs)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		r, ok := g.Next()
		if !ok {
			return recs, nil
		}
		if err := r.Normalize(); err != nil {
			return nil, fmt.Errorf("synth record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
	}
}

// tateArtwork is the part of a Tate collection line the schema maps.
type tateArtwork struct {
	Acno         string   `json:"acno"`
	Title        string   `json:"title"`
	Artists      []string `json:"artists"`
	YearStart    tateYear `json:"year_start"`
	Medium       string   `json:"medium"`
	Subjects     []string `json:"subjects"`
	ThumbnailURL string   `json:"thumbnail_url"`
	URL          string   `json:"url"`
}

// toRecord maps an artwork as shared/data/README.md says: title→title,
// subjects→tags, artists→creator, medium→description, thumbnail_url→url,
// url→page_url, year_start→taken_at. Works without a thumbnail use their
// page as url, which the schema requires.
func (a *tateArtwork) toRecord() record.Record {
	r := record.Record{
		URL:         a.ThumbnailURL,
		PageURL:     a.URL,
		Source:      "tate",
		Title:       a.Title,
		Tags:        a.Subjects,
		Creator:     strings.Join(a.Artists, ", "),
		Description: a.Medium,
		License:     "CC0-1.0",
	}
	if r.URL == "" {
		r.URL = a.URL
	}
	if a.Acno != "" {
		r.ID = "tate-" + a.Acno
	}
	if a.YearStart > 0 && a.YearStart < 10000 {
		r.TakenAt = fmt.Sprintf("%04d-01-01", int(a.YearStart))
	}
	return r
}

// tateYear is year_start: a number, null, or now and then text such as
// "2005" or "c.1997-9", whose first four-digit run is taken.
type tateYear int

func (y *tateYear) UnmarshalJSON(data []byte) error {
	var n int
	if json.Unmarshal(data, &n) == nil {
		*y = tateYear(n)
		return nil
	}
	var s string
	if json.Unmarshal(data, &s) != nil {
		return nil // null or something unusable: no year
	}
	for i := 0; i+4 <= len(s); i++ {
		if n, err := strconv.Atoi(s[i : i+4]); err == nil && n > 0 {
			*y = tateYear(n)
			return nil
		}
	}
	return nil
}

// ErrNoTate means the Tate file is absent; a suite skips that corpus.
var ErrNoTate = errors.New("tate corpus not present")

// TateCorpus reads up to limit artworks, mapped to normalized records,
// from the gzipped JSONL at path.
// Lines that do not parse or map to a valid record are counted, not fatal.
func TateCorpus(ctx context.Context, path string, limit int) (recs []record.Record, skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNoTate, path)
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<20)
	for len(recs) < limit {
		if len(recs)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var a tateArtwork
			if json.Unmarshal(line, &a) != nil {
				skipped++
			} else if r := a.toRecord(); r.Normalize() != nil {
				skipped++
			} else {
				recs = append(recs, r)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
	}
	return recs, skipped, nil
}
