package synth

import (
	"math"
	"math/rand/v2"
	"strings"
)

// zipfS is the Zipf exponent for word frequencies. Natural-language word
// counts follow a Zipf law with s close to 1; 1.1 keeps the head heavy
// without letting the first word swamp everything.
const zipfS = 1.1

// dist samples an index from a fixed discrete distribution in O(1) with a
// single 64-bit draw (Walker's alias method). rand.Zipf is not used: it
// costs several math.Exp and math.Log calls per sample, which at ~40 draws
// per record would dominate generation time, and it cannot express
// arbitrary weights.
type dist struct {
	prob  []uint32 // keep column k when the low 32 random bits are below prob[k]
	alias []int32  // otherwise take alias[k]
}

func newDist(weights []float64) dist {
	n := len(weights)
	total := 0.0
	for _, w := range weights {
		total += w
	}
	scaled := make([]float64, n)
	var small, large []int
	for k, w := range weights {
		scaled[k] = float64(w*float64(n)) / total
		if scaled[k] < 1 {
			small = append(small, k)
		} else {
			large = append(large, k)
		}
	}
	d := dist{prob: make([]uint32, n), alias: make([]int32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		d.prob[s] = uint32(scaled[s] * (1 << 32))
		d.alias[s] = int32(l)
		scaled[l] = float64(scaled[l]+scaled[s]) - 1
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// Leftovers are 1 up to rounding: always keep them.
	for _, k := range append(small, large...) {
		d.prob[k] = math.MaxUint32
		d.alias[k] = int32(k)
	}
	return d
}

func (d dist) draw(r *rand.Rand) int {
	u := r.Uint64()
	k := int((u >> 32) * uint64(len(d.prob)) >> 32)
	if uint32(u) < d.prob[k] {
		return k
	}
	return int(d.alias[k])
}

// newZipf weights rank k (0-based) by 1/(k+1)^s.
func newZipf(n int, s float64) dist { return newZipfMandelbrot(n, s, 0) }

// newZipfMandelbrot weights rank k (0-based) by 1/(k+1+q)^s.
func newZipfMandelbrot(n int, s, q float64) dist {
	w := make([]float64, n)
	for k := range w {
		w[k] = math.Pow(float64(k)+1+q, -s)
	}
	return newDist(w)
}

// vocab is a frequency-ordered word list with its Zipf sampler.
type vocab struct {
	words []string
	z     dist
}

func newVocab(ws []string) vocab { return vocab{words: ws, z: newZipf(len(ws), zipfS)} }

func (v vocab) pick(r *rand.Rand) string { return v.words[v.z.draw(r)] }

// words splits a whitespace-separated list; an underscore joins the words
// of a multi-word term.
func words(s string) []string {
	f := strings.Fields(s)
	for i, w := range f {
		f[i] = strings.ReplaceAll(w, "_", " ")
	}
	return f
}

// uniform picks from a list where frequency does not matter.
func uniform[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// chance reports true with probability p.
func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// mix is the SplitMix64 finalizer: a bijective 64-bit hash, used to turn
// (seed, index) into well-spread PCG state and cheap per-record decisions.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// round rounds x to the given number of decimals. Generated floats are
// rounded so the JSON stays short and realistic (GPS and focal lengths are
// not recorded to 17 digits).
func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(float64(x*p)) / p
}
