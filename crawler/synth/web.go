package synth

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/picdex/picdex/index/record"
)

var (
	sources = []string{"web", "feed", "file", ""}
	sourceD = newDist([]float64{62, 18, 15, 5})

	licenses = []string{"all-rights-reserved", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "CC-BY-NC-4.0",
		"CC-BY-NC-SA-4.0", "CC-BY-2.0", "CC-BY-NC-ND-4.0"}
	licenseD = newDist([]float64{30, 22, 12, 12, 10, 6, 5, 3})

	// A few big hosts serve most images, as on the real web.
	hostD = newZipf(200, 1.0)

	sections   = words(`photos gallery blog travel news p post stories album explore`)
	fileUsers  = words(`alex minji sam kenji maria jordan hyejin lucas`)
	slugFiller = words(`photo img image dsc pic shot`)
)

func lang(r *rand.Rand, o *Options) language {
	u := r.Float64()
	switch {
	case u < o.KoreanShare:
		return langKorean
	case u < o.KoreanShare+o.CJKShare:
		if chance(r, 0.55) {
			return langJapanese
		}
		return langChinese
	}
	return langEnglish
}

type language uint8

const (
	langEnglish language = iota
	langKorean
	langJapanese
	langChinese
)

func creatorName(r *rand.Rand, l language) string {
	switch {
	case l == langKorean && chance(r, 0.75):
		return uniform(r, koFamilyNames) + uniform(r, koGivenNames)
	case l == langJapanese && chance(r, 0.7):
		return uniform(r, jaNames)
	case l == langChinese && chance(r, 0.7):
		return uniform(r, zhNames)
	case chance(r, 0.1):
		return uniform(r, studioNames)
	}
	return uniform(r, firstNames) + " " + uniform(r, lastNames)
}

// provenance fills source, URLs, creator, licence and copyright. The URL
// ends in -<i>, which keeps URLs (and so derived ids) unique per record.
func provenance(r *rand.Rand, rec *record.Record, i int, l language, year int) {
	rec.Source = sources[sourceD.draw(r)]
	if chance(r, 0.65) {
		rec.Creator = creatorName(r, l)
	}
	if chance(r, 0.6) {
		rec.License = licenses[licenseD.draw(r)]
	}
	if rec.Creator != "" && rec.License != "CC0-1.0" && chance(r, 0.6) {
		rec.Copyright = "© " + strconv.Itoa(year) + " " + rec.Creator
	}

	slug := slugify(rec.Title)
	if slug == "" {
		slug = uniform(r, slugFiller)
	}
	ext := extension(r, rec.Format)
	idx := strconv.Itoa(i)
	yyyy := strconv.Itoa(year)
	mm := twoDigits(1 + r.IntN(12))

	if rec.Source == "file" {
		rec.URL = "file:///home/" + uniform(r, fileUsers) + "/Pictures/" + yyyy + "/" + slug + "-" + idx + "." + ext
		return
	}
	host := strconv.Itoa(1 + hostD.draw(r))
	var path string
	switch r.IntN(5) {
	case 0:
		path = "photos/" + yyyy + "/" + mm
	case 1:
		path = "wp-content/uploads/" + yyyy + "/" + mm
	case 2:
		path = "media/" + or(slugify(firstTag(rec.Tags)), "misc")
	case 3:
		path = "images/" + hex16(r.Uint64())[:4] + "/" + hex16(r.Uint64())[:4]
	default:
		path = "uploads/u" + strconv.Itoa(r.IntN(50000))
	}
	rec.URL = "https://img.example-" + host + ".com/" + path + "/" + slug + "-" + idx + "." + ext
	if rec.Source != "" && chance(r, 0.9) {
		site := "www"
		if rec.Source == "feed" {
			site = "news"
		}
		rec.PageURL = "https://" + site + ".example-" + host + ".com/" + uniform(r, sections) + "/" + slug + "-" + idx
	}
}

func firstTag(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return tags[0]
}

func extension(r *rand.Rand, format string) string {
	switch format {
	case "jpeg":
		if chance(r, 0.15) {
			return "jpeg"
		}
		return "jpg"
	case "tiff":
		if chance(r, 0.5) {
			return "tif"
		}
	}
	return format
}

// slugify keeps ASCII letters and digits, joins runs of anything else with
// one hyphen and caps the length; non-Latin titles give "".
func slugify(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	dash := false
	for i := 0; i < len(s) && b.Len() < 48; i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			fallthrough
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteByte(c)
			dash = false
		default:
			dash = true
		}
	}
	return b.String()
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}
