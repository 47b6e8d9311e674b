package record

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendJSONAsMarshal: strings and floats are written byte for byte
// as encoding/json writes them.
func TestAppendJSONAsMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<mark>a</mark> & b", "tab\tnl\nret\rbs\bff\f\x00\x1f\x7f",
		"é ü 漢字 🎨", "line\u2028para\u2029", "bad \xff utf8 \xe2\x82", "\xc0\xaf"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendJSONString(nil, s)), "%q", s)
	}
	for _, f := range []float64{0, 1, -1, 1.25, 3.5559106731693233, 1e-6, 9.99e-7, 1e-9, 1e20, 1e21, 123456789.125, -2.5e-12, 5e-324} {
		want, err := json.Marshal(f)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendJSONFloat(nil, f)), "%v", f)
	}
}
