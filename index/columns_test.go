package index

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestColumnsFollowWrites checks facets, numeric filters and field sorts,
// which read per-segment columns, against a brute-force scan while updates
// and deletes replace segments and add deletions under the cached columns.
func TestColumnsFollowWrites(t *testing.T) {
	corpus := skewedCorpus(600, 9)
	ix := openWith(t, 3, corpus)
	live := map[string]record.Record{}
	for _, r := range corpus {
		live[r.ID] = r
	}
	minW := 1500
	check := func(round int) {
		t.Helper()
		res := mustSearch(t, ix, Request{
			Filter: Filter{WidthMin: &minW},
			Facets: []string{"tags:100", "width"},
			Sort:   []string{"-width"},
			Size:   new(MaxSize),
		})
		var want []record.Record
		tags := map[string]int{}
		for _, r := range live {
			if r.Width < minW {
				continue
			}
			want = append(want, r)
			for _, tg := range r.Tags {
				tags[tg]++
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].Width != want[j].Width {
				return want[i].Width > want[j].Width
			}
			return want[i].ID < want[j].ID
		})
		require.EqualValues(t, len(want), res.Total, "round %d", round)
		require.Len(t, res.Hits, len(want), "round %d", round)
		for i, h := range res.Hits {
			require.Equal(t, want[i].ID, h.ID, "round %d, hit %d", round, i)
		}
		got := map[string]int{}
		for _, v := range res.Facets["tags"] {
			got[v.Value] = v.Count
		}
		require.Equal(t, tags, got, "round %d", round)
	}
	check(0)
	ctx := context.Background()
	for round := 1; round <= 4; round++ {
		var batch []record.Record
		i := 0
		for id, r := range live {
			if i++; i%7 != round%7 {
				continue
			}
			r.Width = 1000 + (r.Width*31+round*977)%3000
			r.Tags = []string{fmt.Sprintf("round%d", round), r.Tags[0]}
			live[id] = r
			batch = append(batch, r)
		}
		require.NoError(t, ix.Apply(ctx, batch))
		var gone []string
		for id := range live {
			if len(gone) == 10 {
				break
			}
			gone = append(gone, id)
		}
		for _, id := range gone {
			delete(live, id)
		}
		require.NoError(t, ix.Delete(ctx, gone...))
		check(round)
	}
}

func TestColumnHolder(t *testing.T) {
	// Documents 0..3 with ids a, b, b, (none): b is held by two.
	col := &column{terms: []string{"a", "b", "c"}, start: []uint32{0, 1, 2, 3, 3}, ords: []uint32{0, 1, 1}}
	for _, tc := range []struct {
		term           string
		doc            uint64
		found, several bool
	}{
		{"a", 0, true, false},
		{"b", 0, false, true},
		{"c", 0, false, false}, // a term of no document
		{"0", 0, false, false},
		{"d", 0, false, false},
	} {
		doc, found, several := col.holder(tc.term)
		if doc != tc.doc || found != tc.found || several != tc.several {
			t.Errorf("holder(%q) = %d, %v, %v; want %d, %v, %v", tc.term, doc, found, several, tc.doc, tc.found, tc.several)
		}
	}
}
