package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

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
		{`{"url":"u","tags":["` + strings.Repeat("x", 257) + `"]}`, "tags"},
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

// TestParseEveryProblem: an invalid record lists every problem, in schema
// order, as an Errors whose members are the FieldErrors.
func TestParseEveryProblem(t *testing.T) {
	longTag := strings.Repeat("가", 90) // 270 bytes; 40 bytes fall mid-rune
	for _, c := range []struct {
		name, in string
		want     []string // "field: reason", or a prefix and a suffix of it split by a backquote
	}{
		{"one problem", `{"url":"u","taken_at":"noon"}`, []string{`taken_at: "noon" is not an RFC 3339 time`}},
		{"values", `{"url":"u","op":"x","width":-1,"height":-2,"bytes":-3,"taken_at":"noon","phash":"1",
			"location":{"lat":91,"lon":200},"colors":["red","#00ff00","blue"],"camera":{"iso":-1}}`, []string{
			"width: -1 must not be negative", "height: -2 must not be negative", "bytes: -3 must not be negative",
			"camera.iso: must not be negative", `taken_at: "noon"`,
			"location: lat 91 outside", "location: lon 200 outside",
			`phash: "1" is not 16 hex digits`, `colors: 2 colours are not #rrggbb: "red", "blue"`,
			`op: "x" is not one of upsert, delete`}},
		{"wrong types and values", `{"width":"wide","height":"tall","camera":{"iso":"high"},"url":7,"taken_at":"noon"}`, []string{
			"url: wrong type", "width: wrong type", "height: wrong type", "camera.iso: wrong type", `taken_at: "noon"`}},
		{"no url, bad time", `{"title":"t","taken_at":"x"}`, []string{"url: required (or an id)", `taken_at: "x"`}},
		{"id given, no url", `{"id":"a","title":"t"}`, []string{"url: required"}},
		{"long tag", `{"url":"u","tags":["ok","` + longTag + `"]}`, []string{
			`tags: tag "` + strings.Repeat("가", 13) + `…" is longer than 256 bytes`}},
		{"long tags", `{"url":"u","tags":["` + strings.Repeat("a", 257) + `","` + strings.Repeat("b", 300) + `"]}`, []string{
			`tags: 2 tags are longer than 256 bytes: "` + strings.Repeat("a", 40) + `…", "` + strings.Repeat("b", 40) + `…"`}},
		{"many long tags", `{"url":"u","tags":["` + strings.Repeat("a", 257) + `","` + strings.Repeat("b", 257) + `","` +
			strings.Repeat("c", 257) + `","` + strings.Repeat("d", 257) + `","` + strings.Repeat("e", 257) + `"]}`, []string{
			"tags: 5 tags are longer than 256 bytes: \"aaaa`…\" and 2 more"}},
		{"delete checks only the id", `{"op":"delete","id":" ","width":-1}`, []string{"url: required (or an id)"}},
		{"malformed", `{"url":`, []string{"record: malformed JSON"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			require.ErrorIs(t, err, ErrInvalid)
			var errs Errors
			require.True(t, errors.As(err, &errs), "%T %v", err, err)
			got := make([]string, len(errs))
			for i, fe := range errs {
				got[i] = fe.Field + ": " + fe.Reason
				require.True(t, utf8.ValidString(got[i]), got[i])
			}
			require.Len(t, got, len(c.want), "%q", got)
			for i, w := range c.want {
				pre, suf, _ := strings.Cut(w, "`")
				require.True(t, strings.HasPrefix(got[i], pre), "problem %d: %q, want %q", i, got[i], w)
				require.Contains(t, got[i], suf)
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
			require.Same(t, errs[0], fe, "errors.As finds the first problem")
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, "invalid record: "), msg)
			require.Equal(t, len(errs)-1, strings.Count(msg, "; "), "one message lists them all: %s", msg)
		})
	}
}

func TestNormalizeIdempotent(t *testing.T) {
	for _, in := range []string{
		`{"url":"u","tags":["` + strings.Repeat("x", 300) + `"," a "],"taken_at":"noon","x":"` + "\xff" + `"}`,
		"{\"url\":\" u\xff \",\"tags\":[\"a\xfe\",\"b\"],\"z\xff\":[\"\xff\"],\"camera\":{\"make\":\" M \"}}",
		`{"id":" k ","op":"DELETE","extra":1}`,
	} {
		var r Record
		err := json.Unmarshal([]byte(in), &r)
		require.NoError(t, err)
		err1 := r.Normalize()
		once, _ := json.Marshal(r)
		err2 := r.Normalize()
		twice, _ := json.Marshal(r)
		require.Equal(t, string(once), string(twice), in)
		require.Equal(t, err1 == nil, err2 == nil, in)
		if err1 != nil {
			require.Equal(t, err1.Error(), err2.Error(), in)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	for _, c := range []struct{ in, want, reason string }{
		{"abc", "abc", ""},
		{" id ", "id", ""},
		{"한국 사진", "한국 사진", ""},
		{"", "", "empty"},
		{" \t ", "", "empty"},
		{"\xff", "", "not valid UTF-8"},
		{"a\xfe b", "", "not valid UTF-8"},
		{strings.Repeat("x", MaxIDBytes), strings.Repeat("x", MaxIDBytes), ""},
		{" " + strings.Repeat("x", MaxIDBytes) + " ", strings.Repeat("x", MaxIDBytes), ""},
		{strings.Repeat("x", MaxIDBytes+1), "", "longer than 512 bytes"},
	} {
		got, err := NormalizeID(c.in)
		if c.reason == "" {
			require.NoError(t, err, "%q", c.in)
			require.Equal(t, c.want, got)
			continue
		}
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%q: %v", c.in, err)
		require.Equal(t, "id", fe.Field)
		require.Equal(t, c.reason, fe.Reason)
		require.ErrorIs(t, err, ErrInvalid)
	}
	// Normalize applies the same rule to a record's id.
	r := Record{ID: " k ", URL: "u"}
	require.NoError(t, r.Normalize())
	require.Equal(t, "k", r.ID)
	r = Record{ID: "k\xff", Op: OpDelete}
	require.ErrorContains(t, r.Normalize(), "id: not valid UTF-8")
}

// TestUnknownFieldsUTF8: invalid UTF-8 in an unknown field's name or value
// is repaired at ingest; everything else is kept byte for byte.
func TestUnknownFieldsUTF8(t *testing.T) {
	in := "{\"url\":\"u\",\"x\":{\"k\xff\":\"v\xfe\xfd\",\"n\":1.50,\"e\":\"\\\"\xff\\u0041\"},\"y\xff\":[\"\xc3\"],\"ok\":\"é\"}"
	r, err := Parse([]byte(in))
	require.NoError(t, err)
	out, err := json.Marshal(r)
	require.NoError(t, err)
	require.True(t, utf8.Valid(out), "%q", out)
	require.Contains(t, string(out), `"x":{"k\ufffd":"v\ufffd\ufffd","n":1.50,"e":"\"\ufffd\u0041"}`)
	require.Contains(t, string(out), `"y�":["\ufffd"]`, "a name is repaired (by encoding/json) to U+FFFD")
	require.Contains(t, string(out), `"ok":"é"`)
	for k, v := range r.Extra {
		require.True(t, utf8.ValidString(k) && utf8.Valid(v), "%q: %q", k, v)
	}
	again, err := Parse(out)
	require.NoError(t, err)
	require.Equal(t, r, again)

	// A record built in Go and never normalized marshals valid UTF-8 too.
	out, err = json.Marshal(Record{URL: "u", Extra: map[string]json.RawMessage{"a": json.RawMessage("\"\xff\"")}})
	require.NoError(t, err)
	require.Equal(t, `{"url":"u","a":"\ufffd"}`, string(out))
}

func TestRepairJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{"\"\xff\"", `"\ufffd"`},
		{"\"a\xff\xfeb\"", `"a\ufffd\ufffdb"`},
		{"\"\\\"\xff\"", `"\"\ufffd"`},     // after an escaped quote, still in the string
		{"\"\\\\\"\xff", "\"\\\\\"\uFFFD"}, // after an escaped backslash, out of it
		{"[1.50e3,\"\xe2\x82\"]", `[1.50e3,"\ufffd\ufffd"]`},
		{"\"\xe2\x82\xac\xf0\"", `"€\ufffd"`},
		{"\xff{}", "\uFFFD{}"},
	} {
		got := RepairJSON([]byte(c.in))
		require.Equal(t, c.want, string(got), "%q", c.in)
	}
	valid := []byte(`{"k":"v"}`)
	require.Same(t, &valid[0], &RepairJSON(valid)[0], "valid input is returned as it is")
}

// FuzzRepairJSON: the output is valid UTF-8, a fixed point, and — for
// valid JSON — decodes to exactly what the input decodes to.
func FuzzRepairJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, "\"\xff\"", "{\"k\xfe\":[1,\"\\\"\xc3\"]}", "\xff", `"\\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := RepairJSON(in)
		if !utf8.Valid(out) {
			t.Fatalf("%q -> %q: not valid UTF-8", in, out)
		}
		if again := RepairJSON(out); !bytes.Equal(again, out) {
			t.Fatalf("%q -> %q -> %q", in, out, again)
		}
		if !json.Valid(in) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q -> %q: not valid JSON", in, out)
		}
		if !reflect.DeepEqual(decodeAny(t, in), decodeAny(t, out)) {
			t.Fatalf("%q -> %q: decodes differently", in, out)
		}
	})
}

func decodeAny(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
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
		"{\"url\":\"u\",\"x\xff\":{\"y\":\"\xfe\"}}", `{"width":"w","height":-1,"taken_at":"t"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			var errs Errors
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("%q: %v (%T) is not an Errors wrapping ErrInvalid", data, err, err)
			}
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		if !utf8.Valid(out) {
			t.Fatalf("%q: stored as %q, not valid UTF-8", data, out)
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

// TestFieldNamesAreExact: a member is a field only when named exactly as
// the schema names it; one that differs in case is an unknown field,
// kept as it is, and never overrides the field.
func TestFieldNamesAreExact(t *testing.T) {
	r, err := Parse([]byte(`{"url":"https://e.com/c.jpg","title":"lower","Title":"upper","TAGS":["x"],` +
		`"camera":{"make":"Canon","MAKE":"Nikon","Model":"X"},"location":{"lat":1,"lon":2,"LAT":50}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "lower" || len(r.Tags) != 0 || r.Camera.Make != "Canon" || r.Camera.Model != "" || r.Location.Lat != 1 {
		t.Errorf("case variants decoded as fields: title %q, tags %v, camera %+v, location %+v", r.Title, r.Tags, r.Camera, r.Location)
	}
	if string(r.Extra["Title"]) != `"upper"` || string(r.Extra["TAGS"]) != `["x"]` {
		t.Errorf("case variants not kept as unknown fields: %v", r.Extra)
	}
	r, err = Parse([]byte(`{"URL":"https://e.com/c.jpg"}`))
	if err == nil {
		t.Errorf("URL taken for url: %+v", r)
	}
}

func TestDuplicateAndDeepMembers(t *testing.T) {
	for _, tc := range []struct{ doc, field, reason string }{
		{`{"url":"https://e.com/a.jpg","title":"a","title":"b"}`, "record", `"title" given twice`},
		{`{"url":"https://e.com/a.jpg","x":1,"x":2,"x":3}`, "record", `"x" given twice`},
		{`{"url":"https://e.com/a.jpg","\u0074itle":"a","title":"b"}`, "record", `"title" given twice`},
		{`{"url":"https://e.com/a.jpg","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "record", "nested 65 levels"},
	} {
		_, err := Parse([]byte(tc.doc))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
			t.Errorf("%.60s: %v; want %s: %s", tc.doc, err, tc.field, tc.reason)
		}
	}
	ok := `{"url":"https://e.com/a.jpg","x":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `,"y":{"title":1,"z":[{"title":2}]}}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("63 levels, and a name in two nested objects: %v", err)
	}
	for _, doc := range []string{
		`{"url":"https://e.com/a.jpg","camera":{"make":"A","make":"B"}}`,
		`{"url":"https://e.com/a.jpg","location":{"lat":1,"lon":2,"lat":3}}`,
		`{"url":"https://e.com/a.jpg","extra":{"a":1,"b":[{"a":1,"a":2}]}}`,
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "given twice in one object") {
			t.Errorf("%s: %v, want a nested name given twice", doc, err)
		}
	}
}

func TestObjectKeys(t *testing.T) {
	keys, depth, dup, err := ObjectKeys([]byte(` {"a":1, "b\"c":{"d":[1,{"e":2}]}, "\u00e9":"}{,:\"" } `))
	if err != nil || strings.Join(keys, "|") != `a|b"c|é` || depth != 4 || dup != "" {
		t.Errorf("keys %q, depth %d, %v", keys, depth, err)
	}
	for _, doc := range []string{`[1]`, `"x"`, `null`, `1`, ``} {
		if _, _, _, err := ObjectKeys([]byte(doc)); err == nil {
			t.Errorf("%q is not an object", doc)
		}
	}
}

// FuzzObjectKeys holds ObjectKeys to encoding/json's own reading of any
// valid JSON: the same top-level names in the same order, and the same
// nesting depth.
func FuzzObjectKeys(f *testing.F) {
	for _, seed := range []string{`{"a":1,"b":[{"c":"}"}]}`, `{"\u0074":"\"",  "x" : {}}`, `[]`, `{}`, `{"a":{"b":{"c":[[]]}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		keys, depth, _, err := ObjectKeys(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		var want []string
		level, wantDepth, isObject := 0, 0, false
		expectKey := false
		for {
			tok, e := dec.Token()
			if e != nil {
				break
			}
			switch tok := tok.(type) {
			case json.Delim:
				switch tok {
				case '{', '[':
					if level == 0 {
						isObject = tok == '{'
					}
					level++
					wantDepth = max(wantDepth, level)
					expectKey = tok == '{' && level == 1
					continue
				default:
					level--
				}
			case string:
				if level == 1 && isObject && expectKey {
					want = append(want, tok)
					expectKey = false
					continue
				}
			}
			if level == 1 && isObject {
				expectKey = true
			}
		}
		if !isObject {
			if err == nil {
				t.Fatalf("%q is not an object, ObjectKeys said keys %q", data, keys)
			}
			return
		}
		if err != nil || !slices.Equal(keys, want) || depth != wantDepth {
			t.Fatalf("%q: keys %q depth %d err %v; encoding/json: %q depth %d", data, keys, depth, err, want, wantDepth)
		}
	})
}

// TestSizeLimitOnEncodedForm: the byte limit holds for the record as
// stored and queued, which the indexer checks again; one that grows past
// it when encoded is refused here, not dropped after a 202.
func TestSizeLimitOnEncodedForm(t *testing.T) {
	lt := `{"url":"https://e.com/a.jpg","note":"` + strings.Repeat("<", 200_000) + `"}`
	r, err := Parse([]byte(lt))
	if err != nil {
		t.Fatalf("200,000 '<': %v", err)
	}
	enc, err := Encode(&r)
	if err != nil || len(enc) > 210_000 {
		t.Errorf("encoded to %d bytes (%v): '<' must stay one byte", len(enc), err)
	}
	if _, err := Parse(enc); err != nil {
		t.Errorf("the encoded record does not parse again: %v", err)
	}
	bad := `{"url":"https://e.com/a.jpg","note":"` + strings.Repeat("\xff", 400_000) + `"}`
	if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "once encoded") {
		t.Errorf("400 KB of invalid UTF-8 that repairs to 2.4 MB: %v", err)
	}
}
