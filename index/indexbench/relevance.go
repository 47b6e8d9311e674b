package indexbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

const (
	topK         = 10
	inflectShare = 0.3
	maxFailures  = 5
)

// knownItem is one relevance query: words drawn from the target record.
type knownItem struct {
	target    int      // position in the corpus
	words     []string // as searched
	drawn     []string // as drawn, before inflection
	inflected bool     // some word was replaced by a variant
}

func (k knownItem) String() string {
	var b strings.Builder
	for i, w := range k.words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if w != k.drawn[i] {
			fmt.Fprintf(&b, "(<%s)", k.drawn[i])
		}
	}
	return b.String()
}

// queryPool is the distinct content words of what a caption-writer sees:
// title, caption and tags, in that order.
func queryPool(r *record.Record) []string {
	var pool []string
	seen := map[string]bool{}
	for _, text := range append([]string{r.Title, r.Caption}, r.Tags...) {
		for _, w := range words(text) {
			if isContentWord(w) && !seen[w] {
				seen[w] = true
				pool = append(pool, w)
			}
		}
	}
	return pool
}

// knownItems samples up to n targets with a caption-style query of 2–4
// content words each, about 30% of them replaced by an inflectional
// variant so that stemming matters.
func knownItems(recs []record.Record, n int, seed int64) []knownItem {
	r := newRand(seed, 0x72656c65)
	var out []knownItem
	for _, t := range r.Perm(len(recs)) {
		if len(out) == n {
			break
		}
		pool := queryPool(&recs[t])
		if len(pool) < 2 {
			continue
		}
		k := min(len(pool), 2+r.IntN(3))
		pick := r.Perm(len(pool))[:k]
		slices.Sort(pick) // keep the words in reading order
		it := knownItem{target: t}
		for _, i := range pick {
			w := pool[i]
			it.drawn = append(it.drawn, w)
			if r.Float64() < inflectShare {
				if v, ok := inflect(w); ok {
					w, it.inflected = v, true
				}
			}
			it.words = append(it.words, w)
		}
		out = append(out, it)
	}
	return out
}

// textKey is everything either engine can see of a record. Records with
// equal keys are indistinguishable to any ranking (the synthetic corpus
// has near-duplicates with copied text; Tate has many "Untitled"), so a hit
// on any of them counts as finding the target.
func textKey(r *record.Record) string {
	return strings.Join([]string{r.Title, r.Caption, r.Alt, strings.Join(r.Tags, "\x1f"), r.Description}, "\x1e")
}

// system is one ranking under test: the positions in the corpus of its
// best topK results for a query.
type system struct {
	name   string
	search func(ctx context.Context, it knownItem) ([]rankedHit, error)
}

type rankedHit struct {
	doc   int
	score float64
}

type relScore struct {
	ranks   []int // 1-based rank of the target per item, 0 if not in top 10
	elapsed time.Duration
}

type relMetrics struct{ mrr, s1, s10 float64 }

func metrics(ranks []int, keep func(int) bool) (m relMetrics, n int) {
	for i, r := range ranks {
		if !keep(i) {
			continue
		}
		n++
		if r > 0 {
			m.mrr += 1 / float64(r)
			m.s10++
			if r == 1 {
				m.s1++
			}
		}
	}
	if n > 0 {
		m.mrr, m.s1, m.s10 = m.mrr/float64(n), m.s1/float64(n), m.s10/float64(n)
	}
	return m, n
}

// picdexSystem searches the words as typed, in picdex's default semantics
// (each word a SHOULD clause over the default fields).
func picdexSystem(ix *index.Index, ids map[string]int) system {
	return picdexQuery("picdex", ix, ids, func(words []string) string { return strings.Join(words, " ") })
}

// picdexAndSystem requires every word ("+w1 +w2"). It is not a target,
// only a hint for tuning: it separates what the OR semantics cost from
// what the scoring costs.
func picdexAndSystem(ix *index.Index, ids map[string]int) system {
	return picdexQuery("picdex-and", ix, ids, func(words []string) string { return "+" + strings.Join(words, " +") })
}

func picdexQuery(name string, ix *index.Index, ids map[string]int, form func([]string) string) system {
	no := false
	return system{name, func(ctx context.Context, it knownItem) ([]rankedHit, error) {
		res, err := ix.Search(ctx, &index.Request{Query: form(it.words), Size: new(topK), Highlight: &no})
		if err != nil {
			return nil, err
		}
		out := make([]rankedHit, 0, len(res.Hits))
		for _, h := range res.Hits {
			d, ok := ids[h.ID]
			if !ok {
				return nil, fmt.Errorf("picdex returned unknown id %q", h.ID)
			}
			out = append(out, rankedHit{d, h.Score})
		}
		return out, nil
	}}
}

func ftsSystem(name string, f *ftsIndex, form func([]string) string) system {
	return system{name, func(ctx context.Context, it knownItem) ([]rankedHit, error) {
		docs, err := f.search(ctx, form(it.words))
		out := make([]rankedHit, len(docs))
		for i, d := range docs {
			out[i] = rankedHit{doc: d}
		}
		return out, err
	}}
}

// relevanceCorpus evaluates picdex and FTS5 on one corpus and reports
// whether picdex's MRR@10 is at least FTS5's best.
func relevanceCorpus(ctx context.Context, w io.Writer, o Options, scratch, name string, recs []record.Record) error {
	fmt.Fprintf(w, "\n-- relevance on %s: %d records --\n", name, len(recs))
	b, err := buildIndexes(ctx, scratch, "relevance-"+name+"-", o.Shards, recs)
	if err != nil {
		return err
	}
	defer b.Close()
	ix, fts := b.ix, b.fts
	fmt.Fprintf(w, "built picdex (%d shards) in %s, FTS5 in %s\n", o.Shards, b.took.Round(time.Millisecond), b.ftsTook.Round(time.Millisecond))

	ids := make(map[string]int, len(recs))
	keys := make([]string, len(recs))
	twins := map[string]int{}
	for i := range recs {
		ids[recs[i].ID] = i
		keys[i] = textKey(&recs[i])
		twins[keys[i]]++
	}
	items := knownItems(recs, o.Targets, o.Seed)
	if len(items) == 0 {
		fmt.Fprintf(w, "no record has two content words to query; skipped\n")
		return nil
	}
	inflected, withTwins := 0, 0
	for _, it := range items {
		if it.inflected {
			inflected++
		}
		if twins[keys[it.target]] > 1 {
			withTwins++
		}
	}
	fmt.Fprintf(w, "%d known items (seed %d): 2-4 content words from title/caption/tags; %d with an inflected word; %d whose text other records share (a hit on a twin counts)\n",
		len(items), o.Seed, inflected, withTwins)

	systems := []system{
		picdexSystem(ix, ids),
		ftsSystem("fts5-and", fts, ftsAnd),
		ftsSystem("fts5-or", fts, ftsOr),
		picdexAndSystem(ix, ids), // informational
	}
	scores := make([]relScore, len(systems))
	top := make([][][]rankedHit, len(systems)) // kept for failure examples
	for s, sys := range systems {
		start := time.Now()
		for _, it := range items {
			hits, err := sys.search(ctx, it)
			if err != nil {
				return fmt.Errorf("%s %q: %w", sys.name, it.words, err)
			}
			rank := 0
			for i, h := range hits {
				if keys[h.doc] == keys[it.target] {
					rank = i + 1
					break
				}
			}
			scores[s].ranks = append(scores[s].ranks, rank)
			top[s] = append(top[s], hits)
		}
		scores[s].elapsed = time.Since(start)
	}

	all := func(int) bool { return true }
	fmt.Fprintf(w, "%-10s %8s %8s %8s %15s %15s %10s\n", "system", "MRR@10", "succ@1", "succ@10", "MRR inflected", "MRR exact", "mean time")
	var best float64
	mrr := make([]float64, len(systems))
	for s, sys := range systems {
		m, _ := metrics(scores[s].ranks, all)
		mi, ni := metrics(scores[s].ranks, func(i int) bool { return items[i].inflected })
		me, ne := metrics(scores[s].ranks, func(i int) bool { return !items[i].inflected })
		mrr[s] = m.mrr
		if strings.HasPrefix(sys.name, "fts5") {
			best = max(best, m.mrr)
		}
		fmt.Fprintf(w, "%-10s %8.4f %8.4f %8.4f %8.4f (%4d) %8.4f (%4d) %10s\n", sys.name, m.mrr, m.s1, m.s10, mi.mrr, ni, me.mrr, ne,
			ms(scores[s].elapsed/time.Duration(len(items))))
	}
	fmt.Fprintln(w, "(picdex-and, every word required, is for tuning only)")
	fmt.Fprintf(w, "picdex MRR@10 %.4f vs FTS5 best %.4f (%+.4f): %s\n", mrr[0], best, mrr[0]-best, PassFail(mrr[0] >= best))

	n := 0
	for i, it := range items {
		if scores[0].ranks[i] != 0 {
			continue
		}
		form, rank := "", 0
		for s := 1; s < len(systems); s++ {
			if !strings.HasPrefix(systems[s].name, "fts5") {
				continue
			}
			if r := scores[s].ranks[i]; r > 0 && (rank == 0 || r < rank) {
				form, rank = systems[s].name, r
			}
		}
		if rank == 0 {
			continue
		}
		if n == 0 {
			fmt.Fprintf(w, "picdex misses that FTS5 finds (first %d in sample order):\n", maxFailures)
		}
		n++
		t := &recs[it.target]
		fmt.Fprintf(w, "%d. q=%q  [%s]\n   target %s (%s #%d): title=%q caption=%q tags=%q\n", n, strings.Join(it.words, " "),
			it, t.ID, form, rank, clip(t.Title, 80), clip(t.Caption, 80), clip(strings.Join(t.Tags, ", "), 80))
		for j, h := range top[0][i][:min(3, len(top[0][i]))] {
			r := &recs[h.doc]
			fmt.Fprintf(w, "   picdex #%d %.3f %s: title=%q caption=%q tags=%q\n", j+1, h.score, r.ID,
				clip(r.Title, 60), clip(r.Caption, 60), clip(strings.Join(r.Tags, ", "), 60))
		}
		if n == maxFailures {
			break
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "no query that picdex misses and FTS5 finds")
	}
	return nil
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func relevanceSuite(ctx context.Context, w io.Writer, o Options, scratch string, synthRecs []record.Record) error {
	fmt.Fprintf(w, "\n== relevance: known-item search, picdex (default query semantics) vs SQLite FTS5 bm25(%s) ==\n", ftsWeights)
	if err := relevanceCorpus(ctx, w, o, scratch, "synth", synthRecs); err != nil {
		return err
	}
	if o.COCOPath == NoTate {
		fmt.Fprintln(w, "\n-- caption protocol on COCO: skipped (disabled) --")
	} else if err := captionSuite(ctx, w, o, scratch); err != nil {
		return err
	}
	if o.TatePath == NoTate {
		fmt.Fprintln(w, "\n-- relevance on tate: skipped (disabled) --")
		return nil
	}
	tate, skipped, err := TateCorpus(ctx, o.TatePath, o.N)
	if errors.Is(err, ErrNoTate) {
		fmt.Fprintf(w, "\n-- relevance on tate: skipped, %s is absent (it lives in shared/data on developer machines and CI) --\n", o.TatePath)
		return nil
	}
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(w, "\n(tate: %d lines skipped as unparsable or invalid records)\n", skipped)
	}
	return relevanceCorpus(ctx, w, o, scratch, "tate", tate)
}

// benchIndexes are a corpus's picdex and FTS5 indexes, in a scratch
// directory of their own.
type benchIndexes struct {
	dir           string
	ix            *index.Index
	fts           *ftsIndex
	took, ftsTook time.Duration
}

func buildIndexes(ctx context.Context, scratch, prefix string, shards int, recs []record.Record) (*benchIndexes, error) {
	dir, err := os.MkdirTemp(scratch, prefix)
	if err != nil {
		return nil, err
	}
	b := &benchIndexes{dir: dir}
	if b.ix, b.took, err = BuildIndex(ctx, filepath.Join(dir, "picdex"), shards, recs); err != nil {
		b.Close()
		return nil, err
	}
	start := time.Now()
	if b.fts, err = openFTS(ctx, filepath.Join(dir, "fts5.db"), recs); err != nil {
		b.Close()
		return nil, err
	}
	b.ftsTook = time.Since(start)
	return b, nil
}

// Close closes the indexes and removes their directory.
func (b *benchIndexes) Close() {
	if b.fts != nil {
		b.fts.Close()
	}
	if b.ix != nil {
		b.ix.Close()
	}
	os.RemoveAll(b.dir)
}
