package apibench

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/picdex/picdex/index/record"
)

// Vocabulary is what workloads sample searches from: the words, tags,
// camera makes and hashes of a corpus, most frequent first.
type Vocabulary struct {
	Words   []string // title and caption words, by document frequency
	Tags    []string
	Makes   []string
	PHashes []string
	Phrases []string // two words that follow each other in a title
	// Points are the first 1,000 locations of the corpus, where its
	// photos were taken.
	Points []record.Location
}

// NewVocabulary reads the vocabulary of a corpus.
func NewVocabulary(recs []record.Record) *Vocabulary {
	df, tags, makes := map[string]int{}, map[string]int{}, map[string]int{}
	phrases := map[string]int{}
	v := &Vocabulary{}
	for i := range recs {
		r := &recs[i]
		seen := map[string]bool{}
		title := plainWords(r.Title)
		for _, w := range append(title, plainWords(r.Caption)...) {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
		for j := 1; j < len(title); j++ {
			phrases[title[j-1]+" "+title[j]]++
		}
		for _, t := range r.Tags {
			tags[t]++
		}
		if r.Camera != nil && r.Camera.Make != "" {
			makes[r.Camera.Make]++
		}
		if r.Location != nil && len(v.Points) < 1000 {
			v.Points = append(v.Points, *r.Location)
		}
		if r.PHash != "" && len(v.PHashes) < 1000 {
			v.PHashes = append(v.PHashes, r.PHash)
		}
	}
	v.Words, v.Tags, v.Makes, v.Phrases = byCount(df), byCount(tags), byCount(makes), byCount(phrases)
	return v
}

// plainWords are the lower-case ASCII words of at least three letters.
func plainWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 3 && strings.IndexFunc(w, func(r rune) bool { return r > 'z' || r < 'a' }) < 0 && !stop[w] {
			out = append(out, w)
		}
	}
	return out
}

var stop = map[string]bool{"the": true, "and": true, "with": true, "for": true, "from": true, "into": true, "over": true}

func byCount(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return out
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func search(params ...string) Call {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return Call{Method: "GET", Path: "/v1/search?" + v.Encode()}
}

// SingleWord searches one word of the vocabulary, common and rare alike.
func (v *Vocabulary) SingleWord() Workload {
	return func(r *rand.Rand) Call { return search("q", pick(r, v.Words)) }
}

// Mixed is the searches of a search page: words, phrases, filters with
// facets, near-duplicates, sorts and second pages. None of them is
// expensive (see index.Cost), so none queues for admission.
func (v *Vocabulary) Mixed() Workload {
	top := v.Words[:min(len(v.Words), 500)]
	return func(r *rand.Rand) Call {
		switch n := r.IntN(100); {
		case n < 35:
			return search("q", pick(r, v.Words))
		case n < 55:
			return search("q", pick(r, top)+" "+pick(r, v.Words))
		case n < 65 && len(v.Phrases) > 0:
			return search("q", `"`+pick(r, v.Phrases[:min(len(v.Phrases), 2000)])+`"`)
		case n < 80 && len(v.Tags) > 0:
			return search("q", pick(r, top), "tags", pick(r, v.Tags[:min(len(v.Tags), 200)]),
				"facet", "format", "facet", "camera.make", "facet", "taken_at")
		case n < 85 && len(v.PHashes) > 0:
			return search("similar", pick(r, v.PHashes), "distance", "8")
		case n < 92:
			return search("q", pick(r, top), "sort", "-taken_at", "size", "24")
		case n < 96 && len(v.Makes) > 0:
			return search("make", pick(r, v.Makes), "facet", "camera.model", "size", "24")
		}
		return search("q", pick(r, top), "from", "24", "size", "24")
	}
}

// MixedGeo is Mixed with place searches in it: a tenth of the searches
// are a word near a photo's location (50 km) with facets, a twentieth a
// box of four degrees around one, newest first. The rest are Mixed's, in
// its proportions.
func (v *Vocabulary) MixedGeo() Workload {
	mixed := v.Mixed()
	top := v.Words[:min(len(v.Words), 500)]
	return func(r *rand.Rand) Call {
		if len(v.Points) == 0 {
			return mixed(r)
		}
		p := v.Points[r.IntN(len(v.Points))]
		switch n := r.IntN(100); {
		case n < 10:
			return search("q", pick(r, top), "near", fmt.Sprintf("%.5f,%.5f,50", p.Lat, p.Lon), "facet", "tags")
		case n < 15:
			top, bottom := min(90, p.Lat+2), max(-90, p.Lat-2)
			left, right := max(-180, p.Lon-2), min(180, p.Lon+2)
			return search("bbox", fmt.Sprintf("%.5f,%.5f,%.5f,%.5f", top, left, bottom, right), "sort", "-taken_at", "size", "24")
		}
		return mixed(r)
	}
}

// Expensive cycles through the searches that cost the most a budget
// allows; calibrate them against a server with Calibrate first.
func Expensive(calls []Call) Workload {
	return func(r *rand.Rand) Call { return calls[r.IntN(len(calls))] }
}

// expensiveCandidates are searches that are each as costly as the
// default budget lets one search be, or nearly: sixteen broad prefixes,
// sixteen regexps that walk every term, sixteen fuzzy words at distance
// two, a hundred two-word phrases and two hundred words (both near 1,000
// terms over five fields), and a deep page with sixteen large facets.
// Calibrate trims the pattern lists to what the server accepts.
func (v *Vocabulary) expensiveCandidates() [][]string {
	var prefixes, regexps, fuzzy []string
	seen := map[string]bool{}
	for _, w := range v.Words {
		if p := w[:2]; !seen[p] && len(prefixes) < 16 {
			seen[p] = true
			prefixes = append(prefixes, p+"*")
		}
		if len(w) >= 7 && len(fuzzy) < 16 {
			fuzzy = append(fuzzy, w+"~2")
		}
	}
	// Rare letter pairs: each regexp walks every term of five fields and
	// keeps few.
	for i := range 16 {
		a, b := "qxzjkvwy"[i%8], "zqjxwkyv"[(i*3+1)%8]
		regexps = append(regexps, fmt.Sprintf("/.*%c.*%c.*/", a, b))
	}
	var phrases []string
	for _, p := range v.Phrases {
		if len(phrases) == 100 {
			break
		}
		phrases = append(phrases, `"`+p+`"`)
	}
	words := v.Words[:min(len(v.Words), 200)]
	return [][]string{prefixes, regexps, fuzzy, phrases, words}
}

// deepFacets is a match-all search for the last page the window allows,
// with every facet at its largest size.
func deepFacets() Call {
	params := []string{"size", "1000", "from", "9000", "sort", "-taken_at"}
	for _, f := range []string{"tags", "format", "source", "license", "colors", "camera.make", "camera.model",
		"camera.iso", "width", "height", "bytes", "taken_at"} {
		params = append(params, "facet", f+":1000")
	}
	return search(params...)
}
