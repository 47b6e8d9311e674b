package imagefile

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/bits"
	"slices"
	"sort"
)

const hashSide = 32 // the thumbnail the DCT runs on

// PHash is the 64-bit DCT perceptual hash of img: the image shrunk to
// 32×32 grey levels by area averaging, a 2-D DCT, and one bit per
// coefficient of the 8×8 lowest frequencies: set when above their median.
// A resized or re-encoded copy differs in a few bits; another image in
// about half of them.
func PHash(img image.Image) uint64 { return hashGrey(thumbGrey(img)) }

// Distance is the number of bits two hashes differ in.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

func formatHash(h uint64) string { return fmt.Sprintf("%016x", h) }

// thumbGrey shrinks img to hashSide×hashSide luma averages, reading every
// pixel once (the Y plane directly for JPEG's YCbCr).
func thumbGrey(img image.Image) *[hashSide * hashSide]float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var sum, cnt [hashSide * hashSide]float64
	if w <= 0 || h <= 0 {
		return &sum
	}
	cellX := make([]int, w)
	for x := range w {
		cellX[x] = x * hashSide / w
	}
	add := func(x, y int, lum float64) {
		i := (y*hashSide/h)*hashSide + cellX[x]
		sum[i] += lum
		cnt[i]++
	}
	switch m := img.(type) {
	case *image.YCbCr:
		for y := range h {
			row := m.Y[(y)*m.YStride:]
			for x := range w {
				add(x, y, float64(row[x]))
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				add(x, y, float64(row[x]))
			}
		}
	default:
		for y := range h {
			for x := range w {
				g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				add(x, y, float64(g.Y))
			}
		}
	}
	for i := range sum {
		if cnt[i] > 0 {
			sum[i] /= cnt[i]
		} else if i > 0 { // an image narrower than 32 pixels: repeat
			sum[i] = sum[i-1]
		}
	}
	return &sum
}

var dctCos = func() (c [hashSide][hashSide]float64) {
	for k := range hashSide {
		for n := range hashSide {
			c[k][n] = math.Cos(math.Pi / hashSide * (float64(n) + 0.5) * float64(k))
		}
	}
	return c
}()

func hashGrey(px *[hashSide * hashSide]float64) uint64 {
	// Rows, then the 8 lowest frequencies of columns: only those are used.
	var rows [hashSide][8]float64
	for y := range hashSide {
		for k := range 8 {
			var s float64
			for x := range hashSide {
				s += px[y*hashSide+x] * dctCos[k][x]
			}
			rows[y][k] = s
		}
	}
	var coef [64]float64
	for ky := range 8 {
		for kx := range 8 {
			var s float64
			for y := range hashSide {
				s += rows[y][kx] * dctCos[ky][y]
			}
			coef[ky*8+kx] = s
		}
	}
	sorted := slices.Clone(coef[:])
	sort.Float64s(sorted)
	median := (sorted[31] + sorted[32]) / 2
	var h uint64
	for i, c := range coef {
		if c > median {
			h |= 1 << (63 - i)
		}
	}
	return h
}

// orient turns a thumbnail as EXIF orientation o says, so that the hash
// is of the image as displayed.
func orient(px *[hashSide * hashSide]float64, o int) *[hashSide * hashSide]float64 {
	if o < 2 || o > 8 {
		return px
	}
	var out [hashSide * hashSide]float64
	const n = hashSide - 1
	for y := range hashSide {
		for x := range hashSide {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = n-x, y
			case 3:
				sx, sy = n-x, n-y
			case 4:
				sx, sy = x, n-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, n-x
			case 7:
				sx, sy = n-y, n-x
			case 8:
				sx, sy = n-y, x
			}
			out[y*hashSide+x] = px[sy*hashSide+sx]
		}
	}
	return &out
}

// dominantColors returns up to k colours covering the most of img, each a
// bucket of 4 bits per channel averaged, in order of share; buckets under
// 2% of the image are left out. It samples at most 64×64 pixels.
func dominantColors(img image.Image, k int) []string {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil
	}
	type bucket struct{ r, g, b, n float64 }
	var buckets [4096]bucket
	sx, sy := max(1, w/64), max(1, h/64)
	total := 0.0
	for y := b.Min.Y; y < b.Max.Y; y += sy {
		for x := b.Min.X; x < b.Max.X; x += sx {
			r, g, bl, a := img.At(x, y).RGBA()
			if a < 0x8000 {
				continue // transparent pixels show what is behind
			}
			r, g, bl = r>>8, g>>8, bl>>8
			i := (r>>4)<<8 | (g>>4)<<4 | bl>>4
			bk := &buckets[i]
			bk.r += float64(r)
			bk.g += float64(g)
			bk.b += float64(bl)
			bk.n++
			total++
		}
	}
	idx := make([]int, 0, 64)
	for i := range buckets {
		if buckets[i].n > 0 {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, c int) bool {
		if buckets[idx[a]].n != buckets[idx[c]].n {
			return buckets[idx[a]].n > buckets[idx[c]].n
		}
		return idx[a] < idx[c]
	})
	var out []string
	for _, i := range idx {
		bk := buckets[i]
		if len(out) == k || bk.n < total*0.02 {
			break
		}
		out = append(out, fmt.Sprintf("#%02x%02x%02x", int(bk.r/bk.n+0.5), int(bk.g/bk.n+0.5), int(bk.b/bk.n+0.5)))
	}
	return out
}
