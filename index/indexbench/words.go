package indexbench

import (
	"bufio"
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis/lang/en"
)

// stopWords is the English stop list picdex's analyzer drops, so sampled
// query words are ones both engines index.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(en.EnglishStopWords))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "|")
		for _, w := range strings.Fields(line) {
			m[w] = true
		}
	}
	return m
}()

// words splits text into lower-cased runs of letters, in order.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })
}

// isContentWord is a word worth searching for: three letters or more and
// not a stop word.
func isContentWord(w string) bool {
	return utf8.RuneCountInString(w) >= 3 && !stopWords[w]
}

func isASCIILower(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// inflect returns an inflectional variant of an English word: -ing and -ed
// forms swap, plurals become singular and singulars plural. The variant is
// what a person might type for the same thing; it need not be a real word,
// only one a stemmer should bring back to the same stem. ok is false for
// words it does not touch (non-ASCII, too short).
func inflect(w string) (string, bool) {
	if len(w) < 4 || !isASCIILower(w) {
		return "", false
	}
	has := strings.HasSuffix
	switch {
	case has(w, "ing") && len(w) > 5:
		return w[:len(w)-3] + "ed", true
	case has(w, "ed") && len(w) > 4:
		return w[:len(w)-2] + "ing", true
	case has(w, "ies") && len(w) > 4:
		return w[:len(w)-3] + "y", true
	case has(w, "sses"), has(w, "ches"), has(w, "shes"), has(w, "xes"):
		return w[:len(w)-2], true
	case has(w, "ss"), has(w, "us"), has(w, "is"):
		return w + "es", true
	case has(w, "s"):
		return w[:len(w)-1], true
	case has(w, "ch"), has(w, "sh"), has(w, "x"):
		return w + "es", true
	case has(w, "y") && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		return w[:len(w)-1] + "ies", true
	}
	return w + "s", true
}
