package synth

import (
	"math/rand/v2"

	"github.com/picdex/picdex/index/record"
)

// Formats of records with camera EXIF and of those without, weighted so
// that with the default CameraShare of 0.6 the whole corpus comes out at
// jpeg 70%, png 12%, webp 8%, gif 4%, heic 4%, tiff 2%. HEIC and TIFF only
// come from cameras; PNG and GIF never carry EXIF.
var (
	cameraFormats   = []string{"jpeg", "heic", "webp", "tiff"}
	cameraFormatD   = newDist([]float64{51, 4, 3, 2})
	noCameraFormats = []string{"jpeg", "png", "webp", "gif"}
	noCameraFormatD = newDist([]float64{19, 12, 5, 4})

	cameraModelD = newDist(func() []float64 {
		w := make([]float64, len(cameraModels))
		for i, c := range cameraModels {
			w[i] = c.weight
		}
		return w
	}())

	// Web images are usually resized to one of these long edges.
	longEdges = []int{2048, 1600, 1200, 1080, 2560, 3000, 1920, 1024}
)

type size struct{ w, h int }

var (
	webSizes = []size{{4032, 3024}, {6000, 4000}, {1920, 1080}, {1080, 1350}, {1080, 1080}, {800, 600},
		{640, 480}, {3000, 2000}, {2048, 1365}, {1600, 1067}, {1280, 720}, {1200, 800}, {1024, 768},
		{3840, 2160}, {2560, 1440}, {5472, 3648}, {1170, 2532}, {750, 1334}, {500, 500}, {400, 300},
		{300, 300}, {150, 150}}
	webSizeD = newDist([]float64{10, 6, 12, 8, 8, 6, 5, 6, 7, 6, 7, 7, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1})
	gifSizes = []size{{480, 270}, {500, 281}, {320, 240}, {400, 400}, {640, 360}, {498, 280}, {220, 220}}
)

// media fills format, size, bytes and camera EXIF.
func media(r *rand.Rand, rec *record.Record, withCamera bool, l light) (cam *cameraModel) {
	if withCamera {
		rec.Format = cameraFormats[cameraFormatD.draw(r)]
		cam = &cameraModels[cameraModelD.draw(r)]
		// HEIC is what phones write; retry a few times for one.
		for try := 0; rec.Format == "heic" && !cam.phone && try < 16; try++ {
			cam = &cameraModels[cameraModelD.draw(r)]
		}
		rec.Camera = exif(r, cam, l)
		rec.Width, rec.Height = cam.w, cam.h
		if chance(r, 0.65) {
			rec.Width, rec.Height = fitLongEdge(rec.Width, rec.Height, uniform(r, longEdges))
		}
		portrait := 0.25
		if cam.phone {
			portrait = 0.45
		}
		if chance(r, portrait) {
			rec.Width, rec.Height = rec.Height, rec.Width
		}
	} else {
		rec.Format = noCameraFormats[noCameraFormatD.draw(r)]
		var sz size
		if rec.Format == "gif" {
			sz = uniform(r, gifSizes)
		} else {
			sz = webSizes[webSizeD.draw(r)]
		}
		rec.Width, rec.Height = sz.w, sz.h
		if sz.w > sz.h && chance(r, 0.2) {
			rec.Width, rec.Height = sz.h, sz.w
		}
	}
	rec.Bytes = fileBytes(r, rec.Format, rec.Width, rec.Height, rec.Camera != nil)
	return cam
}

func fitLongEdge(w, h, edge int) (int, int) {
	if w <= edge && h <= edge {
		return w, h
	}
	if w >= h {
		return edge, (h*edge + w/2) / w
	}
	return (w*edge + h/2) / h, edge
}

// fileBytes estimates a file size from the format's typical compressed
// bytes per pixel, plus headers (EXIF adds tens of kilobytes).
func fileBytes(r *rand.Rand, format string, w, h int, exif bool) int64 {
	px := float64(w * h)
	var bpp, header float64
	switch format {
	case "jpeg":
		bpp, header = 0.18+0.37*r.Float64(), 600
	case "png":
		bpp, header = 0.8+1.8*r.Float64(), 200
	case "webp":
		bpp, header = 0.10+0.20*r.Float64(), 100
	case "gif":
		// Mostly animations: several palette frames.
		bpp, header = 0.5+3.5*r.Float64(), 800
	case "heic":
		bpp, header = 0.10+0.12*r.Float64(), 3000
	case "tiff":
		bpp, header = 3, 8192
		if chance(r, 0.1) {
			bpp = 6 // 16 bits per channel
		}
	}
	if exif {
		header += float64(12000 + r.IntN(50000))
	}
	return int64(px*bpp + header)
}

func exif(r *rand.Rand, cam *cameraModel, l light) *record.Camera {
	// Earlier lenses in a list are the common kit lenses.
	ln := cam.lenses[min(r.IntN(len(cam.lenses)), r.IntN(len(cam.lenses)))]
	c := &record.Camera{Make: cam.make, Model: cam.model, Lens: ln.name}

	focal := ln.minMM
	if ln.maxMM > ln.minMM {
		switch u := r.Float64(); {
		case u < 0.35:
		case u < 0.5:
			focal = ln.maxMM
		default:
			var in []float64
			for _, f := range commonFocals {
				if f > ln.minMM && f < ln.maxMM {
					in = append(in, f)
				}
			}
			if len(in) > 0 {
				focal = uniform(r, in)
			} else {
				focal = round(ln.minMM+(ln.maxMM-ln.minMM)*r.Float64(), 1)
			}
		}
	}

	fnum := ln.wideF
	if !cam.phone && chance(r, 0.65) {
		first := 0
		for first < len(fStops)-1 && fStops[first] < ln.wideF-1e-9 {
			first++
		}
		last := min(first+12, len(fStops)-1)
		if l == lightNight || l == lightDim {
			last = min(first+4, last)
		}
		fnum = fStops[first+r.IntN(last-first+1)]
	}

	er := exposureRange[l]
	si := triangular(r, er.shutterLo, er.shutterHi)
	ii := triangular(r, er.isoLo, er.isoHi)
	if shutterSpeeds[si] >= 1 {
		ii = r.IntN(4) // long exposures are tripod shots at base ISO
	}
	if cam.phone {
		ii = min(ii, 15)
		si = min(si, 33) // phones rarely expose longer than 1/4 s
	}
	exposure, iso := shutterSpeeds[si], isoSteps[ii]
	flashP := 0.02
	if l == lightNight || l == lightDim {
		flashP = 0.15
	}
	flash := chance(r, flashP)
	c.FocalLengthMM, c.FNumber, c.ExposureS, c.ISO, c.Flash = &focal, &fnum, &exposure, &iso, &flash
	return c
}

// triangular picks an index in [lo, hi], favouring the middle.
func triangular(r *rand.Rand, lo, hi int) int {
	n := hi - lo + 1
	return lo + (r.IntN(n)+r.IntN(n))/2
}

const hexDigits = "0123456789abcdef"

func hex16(v uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// colours returns 1–5 dominant colours, led by the colour the caption names.
var colourCountD = newDist([]float64{3, 4, 3, 2, 1})

func colours(r *rand.Rand, named string) []string {
	n := 1 + colourCountD.draw(r)
	out := make([]string, 0, n)
	if named != "" {
		out = append(out, jitterHex(r, named, 10))
	}
	for len(out) < n {
		out = append(out, jitterHex(r, colourHex(enColours.pick(r)), 24))
	}
	return out
}

// jitterHex moves each channel of a #rrggbb colour by up to ±d.
func jitterHex(r *rand.Rand, hex string, d int) string {
	b := []byte{'#', 0, 0, 0, 0, 0, 0}
	for ch := range 3 {
		v := unhex(hex[1+2*ch])<<4 | unhex(hex[2+2*ch])
		v += r.IntN(2*d+1) - d
		v = max(0, min(255, v))
		b[1+2*ch], b[2+2*ch] = hexDigits[v>>4], hexDigits[v&0xf]
	}
	return string(b)
}

func unhex(c byte) int {
	if c >= 'a' {
		return int(c-'a') + 10
	}
	return int(c - '0')
}
