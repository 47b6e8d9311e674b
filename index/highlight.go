package index

import (
	"context"
	"encoding/json"
	"html"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"

	"github.com/picdex/picdex/index/record"
)

// Highlighted fields, and the longest fragment returned for each.
var highlightFields = []string{fieldTitle, fieldCaption, fieldAlt}

const fragmentBytes = 160

// highlightScanBytes bounds the text of a field analysed for highlights:
// a fragment shows one window around the first match, and a match past
// the first 8 KiB of a 64 KiB caption is not worth analysing the rest for.
const highlightScanBytes = 8 << 10

// textAnalyzer returns the analyzer of the text fields, built once.
var textAnalyzerOnce = sync.OnceValues(func() (analysis.Analyzer, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	a, err := loadAnalyzers(m)
	return a.text, err
})

// highlighter marks, in a page of records, the words whose analyzed terms
// the query looked up in that field (phase 1 recorded them, expansions of
// fuzzy and prefix clauses included). Re-analyzing the few records of a
// page is far cheaper than reading term vectors for every match.
type highlighter struct {
	an    analysis.Analyzer
	terms map[string]map[string]uint64 // field → terms, from TermStats.DocFreq
	known *analyzedTexts               // analyses of texts seen before (nil: none kept)
}

// hlToken is an analysed term and where its word is in the text.
type hlToken struct {
	term       string
	start, end int
}

// analyzedTexts keeps the analyses of the texts highlighted lately: the
// records of popular hits come back page after page, and analysing them
// is most of a highlight. An analysis depends on the text alone, so a
// text is its own key and nothing goes stale.
type analyzedTexts struct {
	mu    sync.RWMutex
	texts map[string][]hlToken
	bytes int
}

// maxAnalyzedBytes bounds the text analyzedTexts keeps; past it, it
// starts afresh.
const maxAnalyzedBytes = 16 << 20

func (a *analyzedTexts) tokens(an analysis.Analyzer, text string) []hlToken {
	if a != nil {
		a.mu.RLock()
		toks, ok := a.texts[text]
		a.mu.RUnlock()
		if ok {
			return toks
		}
	}
	stream := an.Analyze([]byte(text))
	// The terms share one string, so that a kept text is three objects
	// for the collector to mark rather than one per word.
	n := 0
	for _, t := range stream {
		n += len(t.Term)
	}
	all := make([]byte, 0, n)
	for _, t := range stream {
		all = append(all, t.Term...)
	}
	joined := string(all)
	toks := make([]hlToken, len(stream))
	at := 0
	for i, t := range stream {
		toks[i] = hlToken{term: joined[at : at+len(t.Term)], start: t.Start, end: t.End}
		at += len(t.Term)
	}
	if a != nil {
		a.mu.Lock()
		if a.texts == nil || a.bytes+len(text) > maxAnalyzedBytes {
			a.texts, a.bytes = map[string][]hlToken{}, 0
		}
		a.texts[strings.Clone(text)] = toks // not the record it was cut from
		a.bytes += len(text) + 48*len(toks)
		a.mu.Unlock()
	}
	return toks
}

// highlightAll highlights the fetched hits of a page, spread over the
// available cores: re-analysing a page of records is a visible share of a
// search's latency. One core, on this goroutine, does it all for a
// low-priority search, or when the cores are busy with other searches
// (one keeps them so). It stops at ctx's deadline.
func (h *highlighter) highlightAll(ctx context.Context, hits []ShardHit, one bool) error {
	mark := func(i int) {
		if hits[i].Image != nil {
			hits[i].Highlights = h.highlight(hits[i].Image)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(hits)+3)/4)
	if one || workers <= 1 {
		for i := 0; i < len(hits) && ctx.Err() == nil; i++ {
			mark(i)
		}
		return ctx.Err()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(hits) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				mark(i)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// highlight returns <mark>ed, HTML-escaped fragments for a stored record.
func (h *highlighter) highlight(raw []byte) map[string][]string {
	var text struct {
		Title   string `json:"title"`
		Caption string `json:"caption"`
		Alt     string `json:"alt"`
	}
	var ok bool
	if text.Title, text.Caption, text.Alt, ok = record.Texts(raw); !ok && json.Unmarshal(raw, &text) != nil {
		return nil
	}
	var out map[string][]string
	for _, f := range highlightFields {
		terms := h.terms[f]
		if len(terms) == 0 {
			continue
		}
		var s string
		switch f {
		case fieldTitle:
			s = text.Title
		case fieldCaption:
			s = text.Caption
		case fieldAlt:
			s = text.Alt
		}
		if s == "" {
			continue
		}
		scan := s
		if len(scan) > highlightScanBytes {
			cut := highlightScanBytes
			for cut > 0 && !utf8.RuneStart(scan[cut]) {
				cut--
			}
			scan = scan[:cut]
		}
		var spans [][2]int
		for _, tok := range h.known.tokens(h.an, scan) {
			if _, ok := terms[tok.term]; ok && tok.end <= len(scan) {
				spans = append(spans, [2]int{tok.start, tok.end})
			}
		}
		if frag := markSpans(s, spans); frag != "" {
			if out == nil {
				out = map[string][]string{}
			}
			out[f] = []string{frag}
		}
	}
	return out
}

func markSpans(text string, spans [][2]int) string {
	if len(spans) == 0 {
		return ""
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	merged := spans[:1]
	for _, s := range spans[1:] {
		last := &merged[len(merged)-1]
		if s[0] <= last[1] {
			last[1] = max(last[1], s[1])
		} else {
			merged = append(merged, s)
		}
	}
	// Window around the first match, on rune boundaries.
	start, end := 0, len(text)
	if len(text) > fragmentBytes {
		start = max(0, merged[0][0]-fragmentBytes/4)
		for start > 0 && !utf8.RuneStart(text[start]) {
			start--
		}
		end = min(len(text), start+fragmentBytes)
		for end < len(text) && !utf8.RuneStart(text[end]) {
			end++
		}
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	pos := start
	for _, s := range merged {
		if s[0] < pos || s[1] > end {
			continue
		}
		b.WriteString(html.EscapeString(text[pos:s[0]]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(text[s[0]:s[1]]))
		b.WriteString("</mark>")
		pos = s[1]
	}
	b.WriteString(html.EscapeString(text[pos:end]))
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}
