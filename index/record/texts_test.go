package record

import (
	"encoding/json"
	"strings"
	"testing"
)

var textsCases = []string{
	`{"id":"a","title":"Beach at dusk","caption":"waves","alt":"sea","tags":["x","y"],"width":1600,"camera":{"iso":100,"flash":false,"f":-1.5e-3}}`,
	`{}`,
	` { "title" : "t" , "alt":"a" } `,
	`{"title":"caf\u00e9 \"quoted\"\n","caption":"tab\there"}`,
	`{"title":"\ud83d\ude00 and a lone \ud800"}`,
	"{\"title\":\"bad utf8 \xff\xfe\"}",
	`{"title":"first","title":"second"}`,
	`{"Title":"upper"}`,
	`{"TITLE":"upper","title":"lower"}`,
	`{"title":"lower","TITLE":"upper"}`,
	`{"tİtle":"dotted"}`,
	`{"ſ":"long s","caption":"c"}`,
	`{"title":null}`,
	`{"title":"x","title":null}`,
	`{"title":5}`,
	`{"title":["x"]}`,
	`{"other":null,"n":[1,2,{"a":[true,false,null]}],"title":"ok"}`,
	`{"title":"x",}`,
	`{"title":"x"`,
	`{"title":"x"} trailing`,
	`{"title":"x"}{}`,
	`{"n":01,"title":"x"}`,
	`{"n":1.,"title":"x"}`,
	`{"n":-,"title":"x"}`,
	`{"n":1e,"title":"x"}`,
	`{"n":1E+5,"title":"x"}`,
	`{"s":"\x","title":"x"}`,
	`{"s":"\u12g4","title":"x"}`,
	"{\"s\":\"ctl\x01\",\"title\":\"x\"}",
	`{"t":tru,"title":"x"}`,
	`["title","x"]`,
	`"title"`,
	`null`,
	``,
	`{"a" "b"}`,
	`{"a":1 "title":"x"}`,
	`{"\u0074itle":"escaped key"}`,
}

// TestTexts holds Texts to what json.Unmarshal decodes
// whenever it answers on its own.
func TestTexts(t *testing.T) {
	for _, c := range textsCases {
		checkTexts(t, []byte(c))
	}
	deep := `{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `,"title":"x"}`
	checkTexts(t, []byte(deep))
	checkTexts(t, []byte(deep[:len(deep)-3]))
	// Plain records are read without encoding/json.
	for _, c := range textsCases[:7] {
		if _, _, _, ok := Texts([]byte(c)); !ok {
			t.Errorf("%q: left to encoding/json", c)
		}
	}
}

func FuzzTexts(f *testing.F) {
	for _, c := range textsCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkTexts)
}

func checkTexts(t *testing.T, raw []byte) {
	if got, want := ValidJSON(raw), json.Valid(raw); got != want {
		t.Fatalf("%q: ValidJSON %v, json.Valid %v", raw, got, want)
	}
	title, caption, alt, ok := Texts(raw)
	if !ok {
		return // decoded by encoding/json
	}
	if !json.Valid(raw) {
		t.Fatalf("%q: read as valid", raw)
	}
	var want struct {
		Title   string `json:"title"`
		Caption string `json:"caption"`
		Alt     string `json:"alt"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%q: read, but json.Unmarshal fails: %v", raw, err)
	}
	if title != want.Title || caption != want.Caption || alt != want.Alt {
		t.Fatalf("%q: got %q %q %q, json.Unmarshal %q %q %q", raw, title, caption, alt, want.Title, want.Caption, want.Alt)
	}
}
