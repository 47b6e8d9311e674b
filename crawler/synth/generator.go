package synth

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/picdex/picdex/index/record"
)

const (
	firstYear = 2004
	lastYear  = 2025
	// dupWindow bounds how far back a near-duplicate looks for its
	// original, so clusters stay local in the stream the way re-uploads
	// of a popular image cluster in time.
	dupWindow = 5000
)

// Generator streams the records of one corpus. It holds O(1) state: record
// i is computed from (Seed, i) alone, so Next never looks at what it
// produced before, and a near-duplicate regenerates its original instead
// of remembering it. A Generator is not safe for concurrent use; make one
// per goroutine (they can split the index range between them).
type Generator struct {
	opts Options
	next int
	main stream // record i
	aux  stream // the original of a near-duplicate
	salt uint64 // header hash key derived from Seed
}

// stream is a PCG re-seeded in place for every record, so generating a
// record allocates no RNG.
type stream struct {
	src rand.PCG
	r   *rand.Rand
}

func (s *stream) at(seed int64, i int) *rand.Rand {
	k := mix(uint64(seed) ^ 0x7065636f72647331)
	s.src.Seed(mix(k+uint64(i)), mix(k^uint64(i)))
	return s.r
}

// New validates opts and returns a Generator positioned at record 0.
func New(opts Options) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{opts: opts.withDefaults(), salt: mix(uint64(opts.Seed) ^ 0x6865616465727321)}
	g.main.r = rand.New(&g.main.src)
	g.aux.r = rand.New(&g.aux.src)
	return g, nil
}

// Next returns the next record, or false once N records have been returned.
// Records carry no id: consumers derive it from the URL (record.Normalize).
func (g *Generator) Next() (record.Record, bool) {
	if g.next >= g.opts.N {
		return record.Record{}, false
	}
	rec := g.record(g.next)
	g.next++
	return rec, true
}

func (g *Generator) record(i int) record.Record {
	h := g.header(i)
	r := g.main.at(g.opts.Seed, i)
	rec, _ := g.build(i, r, h.hashed)
	if h.parent >= 0 {
		root := g.root(h.parent)
		orig, l := g.build(root, g.aux.at(g.opts.Seed, root), true)
		nearDuplicate(r, &rec, &orig, l)
	}
	return rec
}

// header holds the decisions that other records need to know about record
// i without generating it: whether it has a phash and whether it is a
// near-duplicate (parent >= 0) of an earlier record.
type header struct {
	hashed bool
	parent int
}

func (g *Generator) hashKey(i int) uint64 { return mix(g.salt ^ uint64(i)) }

func (g *Generator) hashed(i int) bool { return unit(g.hashKey(i)) < g.opts.PHashShare }

func (g *Generator) header(i int) header {
	k := g.hashKey(i)
	h := header{hashed: unit(k) < g.opts.PHashShare, parent: -1}
	if !h.hashed || i == 0 || unit(mix(k+1)) >= g.opts.NearDupShare {
		return h
	}
	w := uint64(min(i, dupWindow))
	for t := range uint64(8) {
		j := i - 1 - int(mix(k+2+t)%w)
		if g.hashed(j) {
			h.parent = j
			break
		}
	}
	return h
}

// root follows near-duplicate links back to the original image, so every
// member of a cluster is within 8 bits of the same hash.
func (g *Generator) root(i int) int {
	for {
		h := g.header(i)
		if h.parent < 0 {
			return i
		}
		i = h.parent
	}
}

func (g *Generator) build(i int, r *rand.Rand, hashed bool) (record.Record, language) {
	o := &g.opts
	l := lang(r, o)
	pi := pickPlace(r, l)
	pl := &places[pi]
	var t text
	switch l {
	case langKorean:
		t = korean(r, pl)
	case langJapanese:
		t = japanese(r, pl)
	case langChinese:
		t = chinese(r, pl)
	default:
		t = english(r, pl)
	}
	rec := record.Record{Title: t.title, Alt: t.alt, Caption: t.caption, Description: t.description, Tags: t.tags}
	cam := media(r, &rec, chance(r, o.CameraShare), t.light)
	minYear := firstYear
	if cam != nil {
		minYear = max(minYear, cam.year)
	}
	year := minYear + yearD[minYear-firstYear].draw(r)
	if chance(r, o.TakenAtShare) {
		rec.TakenAt = takenAt(r, year, t.season, t.light, pi)
	}
	if chance(r, o.LocationShare) {
		rec.Location = location(r, pl)
	}
	provenance(r, &rec, i, l, year)
	if hashed {
		rec.PHash = hex16(r.Uint64())
	}
	rec.Colors = colours(r, t.colour)
	return rec, l
}

var dupSuffix = [...]string{langEnglish: " (edited)", langKorean: " 보정본", langJapanese: " 別カット", langChinese: " 另一张"}

// nearDuplicate turns rec into a re-upload of orig: the same picture
// resized or re-encoded, so a perceptual hash a few bits away, the same or
// slightly edited text and tags, the same EXIF and near-identical colours.
// Where it was posted (URL, source, creator, licence) stays rec's own.
func nearDuplicate(r *rand.Rand, rec, orig *record.Record, l language) {
	v, _ := orig.PHashValue()
	flips := 1 + r.IntN(8)
	var mask uint64
	for bits.OnesCount64(mask) < flips {
		mask |= 1 << r.IntN(64)
	}
	rec.PHash = hex16(v ^ mask)

	rec.Caption = orig.Caption
	switch u := r.IntN(100); {
	case u < 25:
		rec.Caption += dupSuffix[l]
	case u < 35:
		rec.Caption += " (2)"
	}
	rec.Title = orig.Title
	rec.Alt = orig.Alt
	rec.Description = ""
	if chance(r, 0.5) {
		rec.Description = orig.Description
	}
	rec.Tags = append([]string(nil), orig.Tags...)
	// The EXIF travels with the file.
	rec.Camera, rec.TakenAt, rec.Location = orig.Camera, orig.TakenAt, orig.Location
	rec.Colors = make([]string, len(orig.Colors))
	for k, c := range orig.Colors {
		rec.Colors[k] = jitterHex(r, c, 4)
	}
	scale := [...]float64{1, 1, 0.75, 0.5, 0.5, 0.25}[r.IntN(6)]
	rec.Width = max(1, int(math.Round(float64(orig.Width)*scale)))
	rec.Height = max(1, int(math.Round(float64(orig.Height)*scale)))
	rec.Bytes = fileBytes(r, rec.Format, rec.Width, rec.Height, rec.Camera != nil)
}

var (
	placesWorld = newDist(placeWeights(func(*place) bool { return true }))
	placesKorea = newDist(placeWeights(func(p *place) bool { return p.region == regionKorea }))
	placesJapan = newDist(placeWeights(func(p *place) bool { return p.region == regionJapan }))
	placesChina = newDist(placeWeights(func(p *place) bool { return p.region == regionChina }))

	// yearD[k] draws (year - firstYear - k) for a camera sold in
	// firstYear+k: photo counts grow about 15% a year.
	yearD = func() []dist {
		ds := make([]dist, lastYear-firstYear+1)
		for k := range ds {
			w := make([]float64, lastYear-firstYear-k+1)
			for y := range w {
				w[y] = math.Pow(1.15, float64(k+y))
			}
			ds[k] = newDist(w)
		}
		return ds
	}()
)

// placeWeights keeps the weights of matching places and zeroes the rest, so
// one index space serves every region.
func placeWeights(keep func(*place) bool) []float64 {
	w := make([]float64, len(places))
	for i := range places {
		if keep(&places[i]) {
			w[i] = places[i].weight
		}
	}
	return w
}

func pickPlace(r *rand.Rand, l language) int {
	d := placesWorld
	switch l {
	case langKorean:
		if chance(r, 0.85) {
			d = placesKorea
		}
	case langJapanese:
		d = placesJapan
	case langChinese:
		d = placesChina
	}
	return d.draw(r)
}

func takenAt(r *rand.Rand, year int, se season, l light, pi int) string {
	var month int
	switch se {
	case seasonSpring:
		month = 3 + r.IntN(3)
	case seasonSummer:
		month = 6 + r.IntN(3)
	case seasonAutumn:
		month = 9 + r.IntN(3)
	case seasonWinter:
		month = [...]int{12, 1, 2}[r.IntN(3)]
	default:
		month = 1 + r.IntN(12)
	}
	days := time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	day := 1 + r.IntN(days)
	var hour int
	switch l {
	case lightBright:
		hour = 9 + r.IntN(8)
	case lightDim:
		hour = 5 + r.IntN(3)
		if chance(r, 0.6) {
			hour = 17 + r.IntN(4)
		}
	case lightNight:
		hour = 20 + r.IntN(4)
		if chance(r, 0.3) {
			hour = r.IntN(5)
		}
	default:
		hour = 7 + r.IntN(13)
	}
	t := time.Date(year, time.Month(month), day, hour, r.IntN(60), r.IntN(60), 0, zones[pi])
	// Some pipelines store capture time converted to UTC.
	if chance(r, 0.12) {
		t = t.UTC()
	}
	return t.Format(time.RFC3339)
}

func location(r *rand.Rand, pl *place) *record.Location {
	if chance(r, 0.04) {
		return &record.Location{Lat: round(-55+125*r.Float64(), 5), Lon: round(-180+360*r.Float64(), 5)}
	}
	// About a kilometre of scatter, wider in longitude away from the equator
	// so the cluster is round on the ground.
	const spread = 0.012
	lat := pl.lat + spread*r.NormFloat64()
	lon := pl.lon + spread*r.NormFloat64()/math.Cos(pl.lat*math.Pi/180)
	loc := &record.Location{
		Lat: round(max(-90, min(90, lat)), 6),
		Lon: round(max(-180, min(180, lon)), 6),
	}
	if chance(r, 0.4) {
		alt := round(max(-10, pl.elev+(15+0.05*pl.elev)*r.NormFloat64()), 1)
		loc.Alt = &alt
	}
	return loc
}
