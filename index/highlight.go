package index

import (
	"html"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/search"

	"github.com/picdex/picdex/index/record"
)

// Highlighted fields, and the longest fragment returned for each.
var highlightFields = []string{fieldTitle, fieldCaption, fieldAlt}

const fragmentBytes = 160

// highlight marks the matched terms of a hit in the stored record's text,
// using the byte offsets bleve's term vectors give; the rest of the text is
// HTML-escaped, so a fragment is safe to insert into a page.
func highlight(raw []byte, locs search.FieldTermLocationMap) map[string][]string {
	if len(locs) == 0 {
		return nil
	}
	var rec record.Record
	var out map[string][]string
	decoded := false
	for _, f := range highlightFields {
		terms := locs[f]
		if len(terms) == 0 {
			continue
		}
		if !decoded {
			var err error
			if rec, err = decodeRaw(raw); err != nil {
				return nil
			}
			decoded = true
		}
		text := map[string]string{fieldTitle: rec.Title, fieldCaption: rec.Caption, fieldAlt: rec.Alt}[f]
		var spans [][2]int
		for _, ls := range terms {
			for _, l := range ls {
				if int(l.End) <= len(text) && l.Start < l.End {
					spans = append(spans, [2]int{int(l.Start), int(l.End)})
				}
			}
		}
		if frag := markSpans(text, spans); frag != "" {
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
