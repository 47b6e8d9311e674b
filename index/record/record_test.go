package record

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	r, err := Parse([]byte(`{"url":" https://x/a.jpg ","format":"JPG","tags":["a"," a ","b",""],
		"phash":"ABCDEF0123456789","colors":["#FFAA00"],"taken_at":"2021-03-04",
		"camera":{"make":" Canon ","iso":200},"x_extra":{"n":[1,2]},"location":{"lat":-33.9,"lon":151.2}}`))
	require.NoError(t, err)
	require.Equal(t, DeriveID("https://x/a.jpg"), r.ID)
	require.Equal(t, "jpeg", r.Format)
	require.Equal(t, []string{"a", "b"}, r.Tags)
	require.Equal(t, "abcdef0123456789", r.PHash)
	require.Equal(t, "#ffaa00", r.Colors[0])
	require.Equal(t, "2021-03-04T00:00:00Z", r.TakenAt)
	require.Equal(t, "Canon", r.Camera.Make)
	h, ok := r.PHashValue()
	require.True(t, ok)
	require.Equal(t, uint64(0xabcdef0123456789), h)

	out, err := json.Marshal(r)
	require.NoError(t, err)
	require.Contains(t, string(out), `"x_extra":{"n":[1,2]}`, "unknown fields are kept")
	again, err := Parse(out)
	require.NoError(t, err)
	require.Equal(t, r, again, "a stored record round-trips")
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, field string }{
		{`{`, "record"},
		{`[]`, "record"},
		{`null`, "record"},
		{`{}`, "url"},
		{`{"url":5}`, "url"},
		{`{"url":"u","width":"wide"}`, "width"},
		{`{"url":"u","width":-1}`, "width"},
		{`{"url":"u","tags":"one"}`, "tags"},
		{`{"url":"u","taken_at":"last tuesday"}`, "taken_at"},
		{`{"url":"u","location":{"lat":91,"lon":0}}`, "location"},
		{`{"url":"u","location":{"lat":0,"lon":-181}}`, "location"},
		{`{"url":"u","phash":"123"}`, "phash"},
		{`{"url":"u","phash":"zzzzzzzzzzzzzzzz"}`, "phash"},
		{`{"url":"u","colors":["red"]}`, "colors"},
		{`{"url":"u","op":"explode"}`, "op"},
		{`{"url":"u","camera":{"iso":-5}}`, "camera.iso"},
		{`{"url":"u","id":"` + strings.Repeat("x", 600) + `"}`, "id"},
		{`{"url":"u","caption":"` + strings.Repeat("x", MaxTextBytes+1) + `"}`, "caption"},
	} {
		_, err := Parse([]byte(c.in))
		require.Error(t, err, c.in)
		require.True(t, errors.Is(err, ErrInvalid), "%s: %v", c.in, err)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%s: %v", c.in, err)
		require.Equal(t, c.field, fe.Field, c.in)
	}
	_, err := Parse(make([]byte, MaxRecordBytes+1))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestDelete(t *testing.T) {
	r, err := Parse([]byte(`{"id":"abc","op":"DELETE"}`))
	require.NoError(t, err)
	require.True(t, r.IsDelete())
	r, err = Parse([]byte(`{"url":"https://x/y.png","op":"delete"}`))
	require.NoError(t, err)
	require.Equal(t, DeriveID("https://x/y.png"), r.ID, "a delete by url finds the same id")
}

// FuzzParse: any input either parses into a record that re-parses
// identically from its own JSON, or fails as an invalid record.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://a/b.jpg","title":"t","tags":["x"],"camera":{"make":"m","f_number":2.8}}`,
		`{"id":"x","op":"delete"}`, `{"url":"u","location":{"lat":1e400,"lon":0}}`,
		`{"url":"u","phash":"0123456789abcdef0"}`, `{"url":"\ud800"}`, `{"url":"u","x":[`, `"str"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v does not wrap ErrInvalid", data, err)
			}
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
