package mapreduce_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/picdex/picdex/mapreduce"
)

// Counting words: each line a split, each word a key, one count per
// partition.
func ExampleRunLocal() {
	lines := []string{"red bus", "a red boat", "bus stop"}
	counts := make([]map[string]int, 2)
	job := &mapreduce.Job[string, int]{
		Name:       "wordcount",
		Splits:     lines,
		Partitions: len(counts),
		Map: func(ctx context.Context, line string, out *mapreduce.Emitter[int]) error {
			for _, w := range strings.Fields(line) {
				if err := out.Emit(w, 1); err != nil {
					return err
				}
			}
			return nil
		},
		Reduce: func(ctx context.Context, p int, in <-chan mapreduce.Pair[int]) error {
			counts[p] = map[string]int{}
			for kv := range in {
				counts[p][kv.Key] += kv.Value
			}
			return nil
		},
	}
	st, err := mapreduce.RunLocal(context.Background(), job, mapreduce.LocalOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var words []string
	for _, c := range counts {
		for w, n := range c {
			words = append(words, fmt.Sprintf("%s=%d", w, n))
		}
	}
	sort.Strings(words)
	fmt.Println(strings.Join(words, " "), "|", st.Emitted, "pairs")
	// Output: a=1 boat=1 bus=2 red=2 stop=1 | 7 pairs
}
