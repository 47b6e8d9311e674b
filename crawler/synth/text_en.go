package synth

import (
	"math/rand/v2"
	"strings"
)

// text is the searchable text of one record, plus what it implies for the
// rest of the record: a named colour feeds the dominant colours, the light
// steers exposure and capture hour, the season steers the month.
type text struct {
	title, alt, caption, description string
	tags                             []string
	colour                           string // hex of a colour named in the caption, or ""
	light                            light
	season                           season
}

type season uint8

const (
	seasonAny season = iota
	seasonSpring
	seasonSummer
	seasonAutumn
	seasonWinter
)

var seasonNames = [...]string{seasonSpring: "spring", seasonSummer: "summer", seasonAutumn: "autumn", seasonWinter: "winter"}

type subjectKind uint8

const (
	kindAnimal subjectKind = iota
	kindPerson
	kindObject
	kindVehicle
	kindPlace
)

var (
	kindDist = newDist([]float64{28, 22, 22, 12, 16})

	enColours    = newVocab(colourNames())
	enAdjectives = newVocab(adjectiveWords)
	enObjects    = newVocab(objectWords)
	enVehicles   = newVocab(vehicleWords)
	enAnimals    = newVocab(animalWords)
	enPeople     = newVocab(personWords)
	enPlaces     = newVocab(placeWords)
	enActivities = newVocab(activityWords)
	enStates     = newVocab(stateWords)
	enPreps      = newVocab(prepositionWords)
	enWeatherAdj = newVocab(weatherAdjWords)
	enWeather    = newVocab(weatherNounWords)
	enTimes      = newVocab(timeOfDayWords)
	enDayparts   = newVocab(daypartWords)
	enSeasons    = newVocab(seasonWords)
	enPhoto      = newVocab(photoWords)
	enEvents     = newVocab(eventWords)

	clothing = words(`coat dress jacket raincoat sweater hat scarf kimono hanbok shirt`)

	// tagVocab is the tag word list: the heads of the caption lists
	// interleaved by rank, so frequent caption words are frequent tags
	// and tag and text queries correlate. A record draws several tags, so
	// a pure Zipf head would land on a third of all records; the
	// Mandelbrot offset flattens the head to a few percent, as on real
	// photo sites.
	tagVocab = vocab{words: buildTagWords(500), z: newZipfMandelbrot(500, zipfS, 2.7)}

	// lightOf and seasonOf say what a time or weather word implies.
	lightOf = map[string]light{
		"sunset": lightDim, "sunrise": lightDim, "dusk": lightDim, "dawn": lightDim,
		"golden hour": lightDim, "twilight": lightNight, "daybreak": lightDim, "first light": lightDim,
		"night": lightNight, "midnight": lightNight, "blue hour": lightNight, "nightfall": lightNight,
		"moonlight": lightNight, "starlight": lightNight, "evening": lightDim,
		"noon": lightBright, "sunshine": lightBright, "sunlight": lightBright, "heatwave": lightBright,
		"sunny": lightBright, "clear": lightBright,
		"rain": lightDim, "fog": lightDim, "mist": lightDim, "storm": lightDim, "drizzle": lightDim,
		"downpour": lightDim, "blizzard": lightDim, "rainy": lightDim, "foggy": lightDim,
		"stormy": lightDim, "gloomy": lightDim, "overcast": lightDim, "misty": lightDim,
	}
	seasonOf = map[string]season{
		"spring": seasonSpring, "summer": seasonSummer, "autumn": seasonAutumn, "fall": seasonAutumn,
		"winter": seasonWinter, "snow": seasonWinter, "snowfall": seasonWinter, "blizzard": seasonWinter,
		"snowy": seasonWinter, "frosty": seasonWinter, "wintry": seasonWinter, "freezing": seasonWinter,
		"frost": seasonWinter, "heatwave": seasonSummer, "humid": seasonSummer, "balmy": seasonSummer,
	}
)

func colourNames() []string {
	out := make([]string, len(colourWords))
	for i, c := range colourWords {
		out[i] = strings.ReplaceAll(c.name, "_", " ")
	}
	return out
}

var colourHexByName = func() map[string]string {
	m := make(map[string]string, len(colourWords))
	for _, c := range colourWords {
		m[strings.ReplaceAll(c.name, "_", " ")] = c.hex
	}
	return m
}()

func colourHex(name string) string { return colourHexByName[name] }

func buildTagWords(n int) []string {
	lists := [][]string{animalWords, placeWords, objectWords, vehicleWords, personWords,
		weatherNounWords, timeOfDayWords, seasonWords, photoWords, eventWords, colourNames()}
	seen := map[string]bool{}
	var out []string
	for rank := 0; len(out) < n; rank++ {
		added := false
		for _, l := range lists {
			if rank < len(l) && !seen[l[rank]] && len(out) < n {
				seen[l[rank]] = true
				out = append(out, l[rank])
				added = true
			}
		}
		if !added && rank > 1000 {
			break
		}
	}
	return out
}

// enScene is what an English caption talks about. Title, alt text,
// description and tags are all drawn from the same scene so they agree.
type enScene struct {
	kind       subjectKind
	subject    string
	colour     string // colour name or ""
	adj        string
	action     string
	prep       string
	placeAdj   string
	place      string
	timePhrase string
	tod        string // time-of-day word when the time phrase used one
	season     string // season word when the time phrase used one
	city       string
}

func english(r *rand.Rand, pl *place) text {
	var s enScene
	var t text
	s.city = pl.name
	s.kind = subjectKind(kindDist.draw(r))
	switch s.kind {
	case kindAnimal:
		s.subject = enAnimals.pick(r)
	case kindPerson:
		s.subject = enPeople.pick(r)
	case kindObject:
		s.subject = enObjects.pick(r)
	case kindVehicle:
		s.subject = enVehicles.pick(r)
	case kindPlace:
		s.subject = enPlaces.pick(r)
	}
	if s.kind != kindPerson && chance(r, 0.45) {
		s.colour = enColours.pick(r)
	} else if chance(r, 0.5) {
		s.adj = enAdjectives.pick(r)
	}
	switch s.kind {
	case kindAnimal, kindPerson:
		if chance(r, 0.75) {
			s.action = enActivities.pick(r)
		}
	case kindObject, kindVehicle:
		if chance(r, 0.65) {
			s.action = enStates.pick(r)
		}
	}
	s.prep = enPreps.pick(r)
	if chance(r, 0.4) {
		s.placeAdj = enAdjectives.pick(r)
	}
	s.place = enPlaces.pick(r)
	if s.place == s.subject {
		s.place = enPlaces.words[0]
	}
	s.timePhrase, s.tod, t.light, t.season = enTimePhrase(r)
	if t.season != seasonAny {
		s.season = seasonNames[t.season]
	}
	if s.colour != "" {
		t.colour = colourHex(s.colour)
	}

	t.caption = s.captionText(r)
	t.title = s.titleText(r)
	switch u := r.IntN(100); {
	case u < 22:
	case u < 35:
		t.alt = t.title
	case u < 75:
		t.alt = s.nounPhrase(r)
		if chance(r, 0.4) && s.kind != kindPlace {
			t.alt += " " + s.placePhrase()
		}
	default:
		t.alt = t.caption
	}
	if chance(r, 0.55) {
		t.description = s.descriptionText(r)
	}
	t.tags = s.tagList(r)
	return t
}

func enTimePhrase(r *rand.Rand) (phrase, tod string, l light, se season) {
	l = lightNormal
	switch u := r.IntN(100); {
	case u < 30:
		if chance(r, 0.3) {
			l = lightBright
		}
		return "", "", l, seasonAny
	case u < 48:
		tod = enTimes.pick(r)
		phrase = "at " + tod
		if tod == "twilight" || tod == "golden hour" {
			phrase = "in the " + tod
		}
		l = lightFor(tod, lightNormal)
		return phrase, tod, l, seasonAny
	case u < 62:
		w := enWeather.pick(r)
		return "in the " + w, "", lightFor(w, lightNormal), seasonOf[w]
	case u < 78:
		a, d := enWeatherAdj.pick(r), enDayparts.pick(r)
		l = lightFor(d, lightFor(a, lightNormal))
		return "on " + article(a) + " " + a + " " + d, "", l, seasonOf[a]
	case u < 92:
		se := enSeasons.pick(r)
		return "in " + se, "", l, seasonOf[se]
	default:
		w := enWeather.pick(r)
		return "after the " + w, "", l, seasonOf[w]
	}
}

func lightFor(word string, def light) light {
	if l, ok := lightOf[word]; ok {
		return l
	}
	return def
}

// nounPhrase is the subject with its article and modifiers:
// "a red bus", "an old lighthouse", "a woman in a yellow raincoat".
func (s *enScene) nounPhrase(r *rand.Rand) string {
	if s.kind == kindPlace {
		mod := s.adj
		if s.colour != "" {
			mod = s.colour
		}
		if mod != "" {
			return "the " + mod + " " + s.subject
		}
		return "the " + s.subject
	}
	head := s.subject
	if s.colour != "" {
		head = s.colour + " " + head
	} else if s.adj != "" {
		head = s.adj + " " + head
	}
	np := article(head) + " " + head
	if s.kind == kindPerson && s.colour == "" && chance(r, 0.3) {
		np += " in a " + enColours.pick(r) + " " + uniform(r, clothing)
	}
	return np
}

func (s *enScene) placePhrase() string {
	if s.placeAdj != "" {
		return s.prep + " the " + s.placeAdj + " " + s.place
	}
	return s.prep + " the " + s.place
}

func (s *enScene) captionText(r *rand.Rand) string {
	var c string
	if s.kind == kindPlace {
		switch v := r.IntN(10); {
		case v < 5:
			c = s.nounPhrase(r)
		case v < 7:
			c = "aerial view of the " + s.subject
		case v < 9:
			c = s.city + " " + s.subject
		default:
			c = "view of the " + s.subject + " from the " + s.place
		}
		if s.timePhrase != "" {
			c += " " + s.timePhrase
		}
		return c
	}
	switch v := r.IntN(20); {
	case v < 14:
		c = s.nounPhrase(r)
		if s.action != "" {
			c += " " + s.action
		}
		if s.action == "" || chance(r, 0.8) {
			c += " " + s.placePhrase()
		}
		if s.timePhrase != "" {
			c += " " + s.timePhrase
		}
	case v < 16:
		c = "close-up of " + s.nounPhrase(r)
		if chance(r, 0.6) {
			a, o := enAdjectives.pick(r), enObjects.pick(r)
			c += " on " + article(a) + " " + a + " " + o
		}
	case v < 18:
		c = enPhoto.pick(r) + " of " + s.nounPhrase(r) + " " + s.placePhrase()
	default:
		a := enAnimals.pick(r)
		c = s.nounPhrase(r) + " and " + article(a) + " " + a + " " + enActivities.pick(r) + " " + s.placePhrase()
	}
	if s.timePhrase == "" && chance(r, 0.2) {
		c += ", " + s.city
	}
	return c
}

func (s *enScene) titleText(r *rand.Rand) string {
	mod := s.adj
	if mod == "" {
		mod = s.colour
	}
	if mod == "" {
		mod = enAdjectives.pick(r)
	}
	var t string
	switch r.IntN(9) {
	case 0:
		t = mod + " " + s.subject
	case 1:
		t = mod + " " + s.subject
		if s.tod != "" {
			t = s.subject + " at " + s.tod
		}
	case 2:
		t = s.city + " " + s.place
	case 3:
		t = s.subject + " in " + s.city
		if s.season != "" {
			t = s.season + " in " + s.city
		}
	case 4:
		t = "the " + mod + " " + s.place
	case 5:
		t = s.subject + " and " + s.place
	case 6:
		t = enPhoto.pick(r) + " of " + article(s.subject) + " " + s.subject
	case 7:
		a := enWeatherAdj.pick(r)
		t = article(a) + " " + a + " " + enDayparts.pick(r) + " at the " + s.place
	default:
		t = mod + " " + s.subject + " in " + s.city
	}
	if n := strings.Count(t, " ") + 1; n < 2 || n > 6 {
		t = mod + " " + s.subject
	}
	if chance(r, 0.65) {
		return titleCase(t)
	}
	return capFirst(t)
}

func (s *enScene) descriptionText(r *rand.Rand) string {
	n := 1 + r.IntN(3)
	parts := make([]string, 0, n)
	for range n {
		var p string
		switch r.IntN(10) {
		case 0:
			a := enWeatherAdj.pick(r)
			p = "Taken in " + s.city + " on " + article(a) + " " + a + " " + enDayparts.pick(r) + "."
		case 1:
			p = "The " + s.subject + " was " + or(s.action, "there") + " " + s.placePhrase() + " for most of the " + enDayparts.pick(r) + "."
		case 2:
			p = capFirst(enAdjectives.pick(r)) + " light over the " + s.place + "."
		case 3:
			p = "One of my favourite spots in " + s.city + "."
		case 4:
			p = "We stopped here on the way to the " + enPlaces.pick(r) + "."
		case 5:
			p = "The " + or(s.colour, enColours.pick(r)) + " " + s.subject + " stood out against the " + enColours.pick(r) + " " + or(s.place, "sky") + "."
		case 6:
			p = "Part of a series on " + enPhoto.pick(r) + "."
		case 7:
			p = "Shot during the " + enEvents.pick(r) + " in " + enSeasons.pick(r) + "."
		case 8:
			a := enAnimals.pick(r)
			p = "Nobody else was around except " + article(a) + " " + a + "."
		default:
			p = "The " + s.place + " was " + enAdjectives.pick(r) + " and " + enAdjectives.pick(r) + " that " + enDayparts.pick(r) + "."
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func (s *enScene) tagList(r *rand.Rand) []string {
	n := tagCount(r)
	tags := make([]string, 0, n)
	if chance(r, 0.75) {
		tags = addTag(tags, s.subject)
	}
	if len(tags) < n && chance(r, 0.5) {
		tags = addTag(tags, s.place)
	}
	if len(tags) < n && s.colour != "" && chance(r, 0.3) {
		tags = addTag(tags, s.colour)
	}
	if len(tags) < n && chance(r, 0.25) {
		tags = addTag(tags, strings.ToLower(s.city))
	}
	if len(tags) < n && s.tod != "" && chance(r, 0.4) {
		tags = addTag(tags, s.tod)
	}
	return fillTags(r, tags, n, tagVocab)
}

var tagCountDist = newDist([]float64{8, 14, 20, 20, 15, 10, 7, 6})

func tagCount(r *rand.Rand) int { return 1 + tagCountDist.draw(r) }

// addTag appends t unless it is already there; tag lists are short, so a
// linear scan beats a map.
func addTag(tags []string, t string) []string {
	for _, x := range tags {
		if x == t {
			return tags
		}
	}
	return append(tags, t)
}

// fillTags tops tags up to n from v, giving up after a bounded number of
// collisions so a tiny vocabulary cannot loop forever.
func fillTags(r *rand.Rand, tags []string, n int, v vocab) []string {
	for tries := 0; len(tags) < n && tries < 4*n; tries++ {
		tags = addTag(tags, v.pick(r))
	}
	return tags
}

func article(word string) string {
	if word == "" {
		return "a"
	}
	switch {
	case strings.HasPrefix(word, "uni"), strings.HasPrefix(word, "use"), strings.HasPrefix(word, "eu"):
		return "a"
	case strings.HasPrefix(word, "hour"), strings.HasPrefix(word, "honest"):
		return "an"
	}
	switch word[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an"
	}
	return "a"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func capFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func titleCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] != ' ' {
			j++
		}
		if w := s[i:j]; (i == 0 || !isSmallWord(w)) && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
		i = j + 1
	}
	return string(b)
}

func isSmallWord(w string) bool {
	switch w {
	case "a", "an", "the", "at", "in", "of", "and", "on", "from":
		return true
	}
	return false
}
