package indexbench

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sort"
)

// weighted samples strings either by their count or uniformly.
type weighted struct {
	items  []string
	counts []int
	cum    []float64
}

func newWeighted(counts map[string]int) *weighted {
	w := &weighted{items: make([]string, 0, len(counts))}
	for s := range counts {
		w.items = append(w.items, s)
	}
	// Most frequent first, ties by value, so the same corpus and seed
	// sample the same strings.
	slices.SortFunc(w.items, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	total := 0.0
	for _, s := range w.items {
		total += float64(counts[s])
		w.counts = append(w.counts, counts[s])
		w.cum = append(w.cum, total)
	}
	return w
}

func (w *weighted) len() int { return len(w.items) }

// byCount picks a string with probability proportional to its count.
func (w *weighted) byCount(r *rand.Rand) (string, int) {
	x := r.Float64() * w.cum[len(w.cum)-1]
	i := sort.SearchFloat64s(w.cum, x)
	i = min(i, len(w.items)-1)
	return w.items[i], w.counts[i]
}

// uniform picks any distinct string with the same probability, which in a
// Zipf-like vocabulary mostly means a rare one.
func (w *weighted) uniform(r *rand.Rand) (string, int) {
	i := r.IntN(len(w.items))
	return w.items[i], w.counts[i]
}

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
