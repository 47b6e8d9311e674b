package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index"
)

// TestEncodeResultAsMarshal: the spliced encoding of a search result is
// the same JSON as json.Marshal's, whatever the ids, records and
// optional members hold.
func TestEncodeResultAsMarshal(t *testing.T) {
	d := 3
	for _, res := range []*index.Result{
		{Hits: []index.Hit{}, Shards: index.ShardStatus{Total: 4, Successful: 4, Failures: []index.ShardFailure{}}},
		{
			Total: 7, TookMS: 2, NextCursor: "abc",
			Hits: []index.Hit{
				{ID: `a"image":null`, Score: 1.25, Image: json.RawMessage(`{"id":"a","title":"<b> & \u00e9 \"image\":null"}`),
					Highlights: map[string][]string{"title": {"<mark>b</mark>"}}},
				{ID: "b", Score: 1e-9, Distance: &d, Image: json.RawMessage(` { "id" : "b" } `)},
				{ID: "c", Score: 0},
			},
			Facets: map[string][]index.FacetValue{"format": {{Value: "jpeg", Count: 3}}},
			Shards: index.ShardStatus{Total: 2, Successful: 1, Failed: 1, Failures: []index.ShardFailure{{Shard: "shard 1", Reason: "x"}}},
		},
	} {
		want, err := json.Marshal(res)
		require.NoError(t, err)
		got, err := encodeResult(res)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(got))
	}
	_, err := encodeResult(&index.Result{Hits: []index.Hit{{ID: "x", Image: json.RawMessage(`{"id":`)}}})
	require.ErrorIs(t, err, errInvalidRecord)
}
