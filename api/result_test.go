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

// TestAppendJSONAsMarshal: the hits' strings and scores are written byte
// for byte as encoding/json writes them.
func TestAppendJSONAsMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<mark>a</mark> & b", "tab\tnl\nret\rbs\bff\f\x00\x1f\x7f",
		"é ü 漢字 🎨", "line\u2028para\u2029", "bad \xff utf8 \xe2\x82", "\xc0\xaf"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)), "%q", s)
	}
	for _, f := range []float64{0, 1, -1, 1.25, 3.5559106731693233, 1e-6, 9.99e-7, 1e-9, 1e20, 1e21, 123456789.125, -2.5e-12, 5e-324} {
		want, err := json.Marshal(f)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONFloat(nil, f)), "%v", f)
	}
}
