package index

import (
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
)

// hangulFilterName marks Korean words for CJK bigramming. bleve's unicode
// tokenizer emits a Hangul word whole ("강아지가", dog + subject particle),
// typed alphanumeric, so the bigram filter leaves it alone and a search for
// "강아지" would never find it. Typed as ideographic, the word is cut into
// overlapping syllable pairs (강아 아지 지가) like Chinese and Japanese text,
// and the query's pairs (강아 아지) match regardless of the particle.
const hangulFilterName = "picdex_hangul"

type hangulFilter struct{}

func (hangulFilter) Filter(in analysis.TokenStream) analysis.TokenStream {
	for _, t := range in {
		if t.Type != analysis.Ideographic && isHangul(t.Term) {
			t.Type = analysis.Ideographic
		}
	}
	return in
}

func isHangul(term []byte) bool {
	for len(term) > 0 {
		r, n := utf8.DecodeRune(term)
		if !unicode.Is(unicode.Hangul, r) {
			return false
		}
		term = term[n:]
	}
	return true
}

func init() {
	registry.RegisterTokenFilter(hangulFilterName, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return hangulFilter{}, nil
	})
}
