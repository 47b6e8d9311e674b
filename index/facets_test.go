package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTopFacetValuesEqualsFullSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		vals := make([]FacetValue, r.IntN(60))
		for i := range vals {
			vals[i] = FacetValue{fmt.Sprintf("v%02d", i), r.IntN(5)}
		}
		r.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
		want := slices.Clone(vals)
		slices.SortFunc(want, func(a, b FacetValue) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			if a.Value < b.Value {
				return -1
			}
			return 1
		})
		n := 1 + r.IntN(20)
		want = want[:min(n, len(want))]
		if got := topFacetValues(slices.Clone(vals), n); !slices.Equal(got, want) {
			t.Fatalf("n=%d:\n got %v\nwant %v", n, got, want)
		}
	}
}
