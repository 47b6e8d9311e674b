package indexbench

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// DefaultCOCOPath is where the MS-COCO 2017 validation captions live
// relative to the project root.
const DefaultCOCOPath = "../shared/data/coco_captions_val2017.json.gz"

// ErrNoCOCO means the COCO file is absent; the suite skips it.
var ErrNoCOCO = errors.New("COCO captions not present")

// cocoCaptionsIndexed is how many of an image's captions its record holds;
// the next one is the query.
const cocoCaptionsIndexed = 4

// captionSep joins an image's captions in its record (as picdex crawl
// --feed does for a COCO file).
const captionSep = " / "

// cocoImageRow and cocoCaptionRow are what the protocol reads of a COCO
// file's images and annotations.
type cocoImageRow struct {
	ID        int64  `json:"id"`
	CocoURL   string `json:"coco_url"`
	FlickrURL string `json:"flickr_url"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

type cocoCaptionRow struct {
	ID      int64  `json:"id"`
	ImageID int64  `json:"image_id"`
	Caption string `json:"caption"`
}

// CaptionQuery is one search of the caption protocol: the caption of an
// image left out of its record, asked as a person would type it.
type CaptionQuery struct {
	Target int    // the image's record, by position
	Text   string // the caption, raw
	Tune   bool   // in the half of the images settings may be tuned on
	index  int    // its position among the queries
}

// COCOCaptions reads an MS-COCO caption file into the caption protocol:
// a record per image with at least five captions (in annotation id
// order), holding the first four in its caption field, and a query of
// the fifth. Images are in id order; every other one is in the tuning
// half, the rest are held out.
func COCOCaptions(path string) (recs []record.Record, queries []CaptionQuery, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoCOCO, path)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	var file struct {
		Images      []cocoImageRow   `json:"images"`
		Annotations []cocoCaptionRow `json:"annotations"`
	}
	if err := json.NewDecoder(r).Decode(&file); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	slices.SortFunc(file.Annotations, func(a, b cocoCaptionRow) int { return cmp.Compare(a.ID, b.ID) })
	captions := map[int64][]string{}
	for _, a := range file.Annotations {
		captions[a.ImageID] = append(captions[a.ImageID], strings.TrimSpace(a.Caption))
	}
	slices.SortFunc(file.Images, func(a, b cocoImageRow) int { return cmp.Compare(a.ID, b.ID) })
	for _, im := range file.Images {
		c := captions[im.ID]
		if len(c) <= cocoCaptionsIndexed {
			continue
		}
		url := cmp.Or(im.CocoURL, im.FlickrURL)
		if url == "" {
			url = "http://images.cocodataset.org/val2017/" + strconv.FormatInt(im.ID, 10) + ".jpg"
		}
		rec := record.Record{
			ID: "coco-" + strconv.FormatInt(im.ID, 10), URL: url, Source: "coco",
			Caption: strings.Join(c[:cocoCaptionsIndexed], captionSep),
			Width:   im.Width, Height: im.Height,
		}
		if err := rec.Normalize(); err != nil {
			return nil, nil, fmt.Errorf("%s: image %d: %w", path, im.ID, err)
		}
		queries = append(queries, CaptionQuery{Target: len(recs), Text: c[cocoCaptionsIndexed], Tune: len(recs)%2 == 0, index: len(queries)})
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%s: no image with %d captions", path, cocoCaptionsIndexed+1)
	}
	return recs, queries, nil
}

// captionSystem is one engine under the caption protocol: the positions
// of its best topK records for a query's raw text.
type captionSystem struct {
	name   string
	search func(ctx context.Context, text string) ([]int, error)
}

// recallScores are the caption protocol's figures for a set of queries.
type recallScores struct {
	r1, r5, r10, mrr float64
	n, failed        int
}

func scoreRanks(ranks []int, failed []bool, keep func(int) bool) (s recallScores) {
	for i, r := range ranks {
		if !keep(i) {
			continue
		}
		s.n++
		if failed[i] {
			s.failed++
		}
		if r == 0 {
			continue
		}
		s.mrr += 1 / float64(r)
		if r <= 1 {
			s.r1++
		}
		if r <= 5 {
			s.r5++
		}
		s.r10++
	}
	if s.n > 0 {
		n := float64(s.n)
		s.r1, s.r5, s.r10, s.mrr = s.r1/n, s.r5/n, s.r10/n, s.mrr/n
	}
	return s
}

// Caption protocol goals (issue 14), on the held-out half.
const (
	captionR10Goal = 0.70
	captionMRRGoal = 0.47
)

// captionSuite runs the caption protocol on the COCO captions: picdex
// (raw text as q), SQLite FTS5 (bm25, porter, an OR of the words) and
// plain bleve (default mapping, a match query), side by side.
func captionSuite(ctx context.Context, w io.Writer, o Options, scratch string) error {
	recs, queries, err := COCOCaptions(o.COCOPath)
	if errors.Is(err, ErrNoCOCO) {
		fmt.Fprintf(w, "\n-- caption protocol on COCO: skipped, %s is absent (it lives in shared/data on developer machines and CI) --\n", o.COCOPath)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n-- caption protocol on COCO val2017: %d images, each indexed with %d of its captions; the next caption, raw, is the query (%d hits) --\n",
		len(recs), cocoCaptionsIndexed, topK)
	b, err := buildIndexes(ctx, scratch, "captions-", o.Shards, recs)
	if err != nil {
		return err
	}
	defer b.Close()
	ix, fts := b.ix, b.fts
	dir := b.dir
	start := time.Now()
	if err := LoadBleveDefault(ctx, filepath.Join(dir, "bleve"), recs); err != nil {
		return err
	}
	bl, err := bleve.Open(filepath.Join(dir, "bleve"))
	if err != nil {
		return err
	}
	defer bl.Close()
	fmt.Fprintf(w, "built picdex (%d shards) in %s, FTS5 in %s, bleve in %s\n", o.Shards, b.took.Round(time.Millisecond),
		b.ftsTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	pos := make(map[string]int, len(recs))
	for i := range recs {
		pos[recs[i].ID] = i
	}
	positions := func(n int, id func(int) string) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = pos[id(i)]
		}
		return out
	}
	no := false
	systems := []captionSystem{
		{"picdex", func(ctx context.Context, text string) ([]int, error) {
			res, err := ix.Search(ctx, &index.Request{Query: text, Size: new(topK), Highlight: &no})
			if err != nil {
				return nil, err
			}
			return positions(len(res.Hits), func(i int) string { return res.Hits[i].ID }), nil
		}},
		{"fts5-or", func(ctx context.Context, text string) ([]int, error) {
			ws := words(text)
			if len(ws) == 0 {
				return nil, nil
			}
			return fts.search(ctx, ftsOr(ws))
		}},
		{"bleve", func(ctx context.Context, text string) ([]int, error) {
			res, err := bl.SearchInContext(ctx, bleve.NewSearchRequestOptions(bleve.NewMatchQuery(text), topK, 0, false))
			if err != nil {
				return nil, err
			}
			return positions(len(res.Hits), func(i int) string { return res.Hits[i].ID }), nil
		}},
	}
	fmt.Fprintf(w, "%-8s %-9s %6s %6s %6s %7s %7s %10s\n", "system", "images", "R@1", "R@5", "R@10", "MRR@10", "failed", "mean time")
	var picdexTest recallScores
	exact := make([]recallScores, len(systems))
	for k, sys := range systems {
		ranks, failed, mean, firstErr, err := runCaptions(ctx, sys, queries, func(q CaptionQuery) string { return q.Text })
		if err != nil {
			return err
		}
		for _, half := range []struct {
			name string
			keep func(int) bool
		}{
			{"all", func(int) bool { return true }},
			{"tuning", func(i int) bool { return queries[i].Tune }},
			{"held out", func(i int) bool { return !queries[i].Tune }},
		} {
			s := scoreRanks(ranks, failed, half.keep)
			fmt.Fprintf(w, "%-8s %-9s %6.3f %6.3f %6.3f %7.3f %7d %10s\n", sys.name, half.name, s.r1, s.r5, s.r10, s.mrr, s.failed, ms(mean))
			switch {
			case half.name == "all":
				exact[k] = s
			case sys.name == "picdex" && half.name == "held out":
				picdexTest = s
			}
		}
		if firstErr != nil {
			fmt.Fprintf(w, "  %s: first failure: %v\n", sys.name, firstErr)
		}
	}
	// The same queries misspelled: one random edit in every word of five
	// letters or more, as a hurried person makes them.
	typos := make([]string, len(queries))
	r := newRand(o.Seed, 0x7479706f)
	changed := 0
	for i, q := range queries {
		typos[i] = misspell(q.Text, r)
		if typos[i] != q.Text {
			changed++
		}
	}
	fmt.Fprintf(w, "misspelled: one random edit (a letter dropped, added, changed or two swapped) in each word of 5+ letters; %d of %d queries changed, e.g. %q for %q\n",
		changed, len(queries), typos[0], queries[0].Text)
	fmt.Fprintf(w, "%-8s %-9s %6s %6s %6s %7s %7s %14s\n", "system", "images", "R@1", "R@5", "R@10", "MRR@10", "failed", "R@10 of exact")
	for k, sys := range systems {
		ranks, failed, _, firstErr, err := runCaptions(ctx, sys, queries, func(q CaptionQuery) string { return typos[q.index] })
		if err != nil {
			return err
		}
		s := scoreRanks(ranks, failed, func(int) bool { return true })
		fmt.Fprintf(w, "%-8s %-9s %6.3f %6.3f %6.3f %7.3f %7d %13.0f%%\n", sys.name, "all", s.r1, s.r5, s.r10, s.mrr, s.failed, 100*s.r10/max(exact[k].r10, 1e-9))
		if firstErr != nil {
			fmt.Fprintf(w, "  %s: first failure: %v\n", sys.name, firstErr)
		}
	}
	fmt.Fprintf(w, "picdex on the held-out half: R@10 %.3f (goal ≥ %.2f) %s, MRR@10 %.3f (goal ≥ %.2f) %s, failed %d (goal 0) %s\n",
		picdexTest.r10, captionR10Goal, PassFail(picdexTest.r10 >= captionR10Goal), picdexTest.mrr, captionMRRGoal,
		PassFail(picdexTest.mrr >= captionMRRGoal), picdexTest.failed, PassFail(picdexTest.failed == 0))
	return nil
}

// runCaptions asks sys every query, as text words it, and returns the
// rank of each query's image (0: not in the top), which queries failed,
// the mean time of a search and the first failure.
func runCaptions(ctx context.Context, sys captionSystem, queries []CaptionQuery, text func(CaptionQuery) string) (ranks []int, failed []bool, mean time.Duration, firstErr, err error) {
	ranks = make([]int, len(queries))
	failed = make([]bool, len(queries))
	start := time.Now()
	for i, q := range queries {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, nil, err
		}
		t := text(q)
		hits, err := sys.search(ctx, t)
		if err != nil {
			failed[i] = true
			if firstErr == nil {
				firstErr = fmt.Errorf("%q: %w", t, err)
			}
			continue
		}
		if k := slices.Index(hits, q.Target); k >= 0 {
			ranks[i] = k + 1
		}
	}
	return ranks, failed, time.Since(start) / time.Duration(max(len(queries), 1)), firstErr, nil
}

// misspell makes one random edit in each word (a run of letters) of 5
// letters or more: a letter dropped, one added, one changed, or two
// neighbours swapped.
func misspell(text string, r *rand.Rand) string {
	rs := []rune(text)
	var out []rune
	for i := 0; i < len(rs); {
		if !unicode.IsLetter(rs[i]) {
			out = append(out, rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && unicode.IsLetter(rs[j]) {
			j++
		}
		word := slices.Clone(rs[i:j])
		if len(word) >= 5 {
			k := r.IntN(len(word))
			letter := rune('a' + r.IntN(26))
			switch r.IntN(4) {
			case 0:
				word = slices.Delete(word, k, k+1)
			case 1:
				word = slices.Insert(word, k, letter)
			case 2:
				if word[k] == letter {
					letter = 'a' + (letter-'a'+1)%26
				}
				word[k] = letter
			default:
				k = min(k, len(word)-2)
				if word[k] == word[k+1] {
					word = slices.Delete(word, k, k+1) // swapping twins changes nothing: drop one
				} else {
					word[k], word[k+1] = word[k+1], word[k]
				}
			}
		}
		out = append(out, word...)
		i = j
	}
	return string(out)
}
