package synth

import (
	"math/rand/v2"
	"strings"
)

var (
	koNounV   = newVocab(koNouns)
	koPlaceV  = newVocab(koPlaces)
	koAdjV    = newVocab(koAdjectives)
	koPhraseV = newVocab(koPhrases)
	koTimeV   = newVocab(koTimes)
	koTagV    = newVocab(append(append([]string(nil), koNouns...), koTagExtras...))
	jaPlaceV  = newVocab(jaPlaces)
	jaNounV   = newVocab(jaNouns)
	zhPlaceV  = newVocab(zhPlaces)
	zhNounV   = newVocab(zhNouns)

	koSeasonOf = map[string]season{"봄": seasonSpring, "여름": seasonSummer, "가을": seasonAutumn, "겨울": seasonWinter}
	cjkSeasons = []struct {
		ja, zh string
		s      season
	}{{"春", "春天", seasonSpring}, {"夏", "夏天", seasonSummer}, {"秋", "秋天", seasonAutumn}, {"冬", "冬天", seasonWinter}}
)

// hasBatchim reports whether the last syllable of s ends in a consonant,
// which decides the form of the particle that follows (사과를 vs 수박을).
func hasBatchim(s string) bool {
	var last rune
	for _, c := range s {
		last = c
	}
	return last >= 0xAC00 && last <= 0xD7A3 && (last-0xAC00)%28 != 0
}

// josa attaches the particle form that agrees with s: josa("바다", "과", "와").
func josa(s, afterConsonant, afterVowel string) string {
	if hasBatchim(s) {
		return s + afterConsonant
	}
	return s + afterVowel
}

func korean(r *rand.Rand, pl *place) text {
	var t text
	noun := koNounV.pick(r)
	// Abroad, Koreans write the place as it is known locally ("Paris에서").
	pname := pl.name
	if pl.region == regionKorea {
		pname = pl.local
		if chance(r, 0.2) {
			pname = koPlaceV.pick(r)
		}
	}
	adj := koAdjV.pick(r)
	se := uniform(r, koSeasons)
	tm := koTimeV.pick(r)
	switch tm {
	case "밤", "퇴근길":
		t.light = lightNight
	case "저녁", "새벽", "해질녘":
		t.light = lightDim
	default:
		t.light = lightNormal
	}
	if noun == "야경" {
		t.light = lightNight
	}

	switch r.IntN(10) {
	case 0:
		t.caption = adj + " " + noun
	case 1:
		t.caption = pname + "의 " + noun
	case 2:
		t.caption = pname + "에서 본 " + noun
	case 3:
		t.caption = pname + "에서 찍은 " + adj + " " + noun
	case 4:
		t.caption = josa(noun, "과", "와") + " " + koNounV.pick(r)
	case 5:
		t.caption = koPhraseV.pick(r)
	case 6:
		t.caption = se + " " + pname + " " + noun
		t.season = koSeasonOf[se]
	case 7:
		t.caption = tm + "의 " + pname + " 풍경"
	case 8:
		t.caption = josa(noun, "이", "가") + " 있는 " + pname + " 풍경"
	default:
		t.caption = se + "에 만난 " + adj + " " + noun
		t.season = koSeasonOf[se]
	}

	switch r.IntN(5) {
	case 0:
		t.title = pname + " " + noun
	case 1:
		t.title = koPhraseV.pick(r)
	case 2:
		t.title = adj + " " + noun
	case 3:
		t.title = se + "의 " + pname
	default:
		t.title = pname + " 여행"
	}

	switch u := r.IntN(10); {
	case u < 5:
		t.alt = t.caption
	case u < 7:
		t.alt = t.title
	}

	if chance(r, 0.5) {
		n := 1 + r.IntN(3)
		parts := make([]string, 0, n)
		for range n {
			var p string
			switch r.IntN(7) {
			case 0:
				p = pname + "에서 찍은 사진입니다."
			case 1:
				p = adj + " " + josa(noun, "을", "를") + " 담아 보았습니다."
			case 2:
				p = "날씨가 정말 좋았어요."
			case 3:
				p = tm + "에 " + josa(pname, "을", "를") + " 산책했어요."
			case 4:
				p = "다음에 또 오고 싶은 곳입니다."
			case 5:
				p = noun + " 사진 몇 장 올려요."
			default:
				p = pname + " 여행 중에 찍었어요."
			}
			parts = append(parts, p)
		}
		t.description = strings.Join(parts, " ")
	}

	n := tagCount(r)
	tags := make([]string, 0, n)
	tags = addTag(tags, noun)
	if len(tags) < n && chance(r, 0.6) {
		tags = addTag(tags, strings.ToLower(pname))
	}
	if len(tags) < n && chance(r, 0.2) {
		tags = addTag(tags, strings.ToLower(pl.name))
	}
	t.tags = fillTags(r, tags, n, koTagV)
	return t
}

func japanese(r *rand.Rand, pl *place) text {
	var t text
	pname := jaPlaceV.pick(r)
	if pl.region == regionJapan && chance(r, 0.7) {
		pname = pl.local
	}
	noun := jaNounV.pick(r)
	cs := uniform(r, cjkSeasons)
	switch r.IntN(6) {
	case 0, 1:
		t.caption = pname + "の" + noun
	case 2:
		t.caption = pname + "と" + noun
	case 3:
		t.caption = pname + "で見た" + noun
	case 4:
		t.caption = cs.ja + "の" + pname
		t.season = cs.s
	default:
		t.caption = pname
	}
	if noun == "夜景" || noun == "星空" || noun == "花火" {
		t.light = lightNight
	}
	t.title = pname
	if chance(r, 0.4) {
		t.title = t.caption
	}
	if chance(r, 0.6) {
		t.alt = t.caption
	}
	if chance(r, 0.4) {
		t.description = pname + "で撮影しました。"
	}
	t.tags = []string{noun}
	t.tags = addTag(t.tags, pname)
	if chance(r, 0.5) {
		t.tags = addTag(t.tags, "japan")
	}
	return t
}

func chinese(r *rand.Rand, pl *place) text {
	var t text
	pname := zhPlaceV.pick(r)
	if pl.region == regionChina && chance(r, 0.7) {
		pname = pl.local
	}
	noun := zhNounV.pick(r)
	cs := uniform(r, cjkSeasons)
	switch r.IntN(6) {
	case 0, 1:
		t.caption = pname + "的" + noun
	case 2:
		t.caption = pname + "和" + noun
	case 3:
		t.caption = "美丽的" + pname
	case 4:
		t.caption = cs.zh + "的" + pname
		t.season = cs.s
	default:
		t.caption = pname + noun
	}
	if noun == "夜景" || noun == "烟花" || noun == "月亮" {
		t.light = lightNight
	}
	t.title = pname
	if chance(r, 0.4) {
		t.title = t.caption
	}
	if chance(r, 0.6) {
		t.alt = t.caption
	}
	if chance(r, 0.4) {
		t.description = "在" + pname + "拍摄。"
	}
	t.tags = []string{noun}
	t.tags = addTag(t.tags, pname)
	if chance(r, 0.5) {
		t.tags = addTag(t.tags, "china")
	}
	return t
}
