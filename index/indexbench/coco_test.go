package indexbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// writeCOCO writes a small COCO caption file: n images of five captions
// each (the fifth a paraphrase of the first four's subject), one image
// with only four (left out of the protocol).
func writeCOCO(t *testing.T, n int) string {
	subjects := []string{"dog", "bus", "kite", "pizza", "horse", "train", "clock", "surfer", "giraffe", "laptop"}
	places := []string{"park", "street", "beach", "kitchen", "field", "station", "tower", "wave", "zoo", "desk"}
	var images, anns []map[string]any
	id := 1
	for i := range n {
		images = append(images, map[string]any{"id": 1000 + i, "coco_url": fmt.Sprintf("http://images.cocodataset.org/val2017/%d.jpg", 1000+i), "width": 640, "height": 480})
		s, p := subjects[i%len(subjects)], places[(i/len(subjects))%len(places)]
		caps := []string{"A " + s + " in the " + p + ".", "The " + s + " near a " + p, "a " + s + " and a " + p, "Some " + s + " by the " + p, "\"" + s + "\" at (the) " + p + ":"}
		if i == n-1 {
			caps = caps[:4]
		}
		for _, c := range caps {
			anns = append(anns, map[string]any{"id": id, "image_id": 1000 + i, "caption": c})
			id++
		}
	}
	data, err := json.Marshal(map[string]any{"images": images, "annotations": anns})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "captions.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCOCOCaptionsProtocol(t *testing.T) {
	recs, queries, err := COCOCaptions(writeCOCO(t, 31))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 30 || len(queries) != 30 {
		t.Fatalf("%d records, %d queries; want 30 of each (the image with four captions left out)", len(recs), len(queries))
	}
	if recs[0].Caption != "A dog in the park. / The dog near a park / a dog and a park / Some dog by the park" || queries[0].Text != `"dog" at (the) park:` {
		t.Fatalf("record %q, query %q", recs[0].Caption, queries[0].Text)
	}
	tune := 0
	for _, q := range queries {
		if q.Tune {
			tune++
		}
	}
	if tune != 15 {
		t.Fatalf("%d of 30 queries in the tuning half", tune)
	}
	if _, _, err := COCOCaptions(filepath.Join(t.TempDir(), "absent.json.gz")); !errors.Is(err, ErrNoCOCO) {
		t.Fatalf("absent file: %v", err)
	}
}

func TestCaptionSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three indexes")
	}
	var out bytes.Buffer
	o := Options{COCOPath: writeCOCO(t, 101), Shards: 2}.withDefaults()
	if err := captionSuite(context.Background(), &out, o, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, system := range []string{"picdex", "fts5-or", "bleve"} {
		for _, half := range []string{"all", "tuning", "held out"} {
			re := regexp.MustCompile(`(?m)^` + system + ` +` + half + ` +[01]\.\d{3} +[01]\.\d{3} +[01]\.\d{3} +[01]\.\d{3} +0 +`)
			if !re.MatchString(out.String()) {
				t.Errorf("no %s line for %s with no failures:\n%s", half, system, out.String())
			}
		}
	}
	if !regexp.MustCompile(`picdex on the held-out half: R@10 [01]\.\d{3} \(goal ≥ 0\.70\) (PASS|FAIL), MRR@10 [01]\.\d{3} \(goal ≥ 0\.47\) (PASS|FAIL), failed 0 \(goal 0\) PASS`).MatchString(out.String()) {
		t.Errorf("no goal line:\n%s", out.String())
	}
	for _, system := range []string{"picdex", "fts5-or", "bleve"} {
		re := regexp.MustCompile(`(?m)^` + system + ` +all +[01]\.\d{3} +[01]\.\d{3} +[01]\.\d{3} +[01]\.\d{3} +0 +\d+%$`)
		if !re.MatchString(out.String()[strings.Index(out.String(), "misspelled:"):]) {
			t.Errorf("no misspelled line for %s:\n%s", system, out.String())
		}
	}
	var skipped bytes.Buffer
	o.COCOPath = filepath.Join(t.TempDir(), "absent.json.gz")
	if err := captionSuite(context.Background(), &skipped, o, t.TempDir()); err != nil || !bytes.Contains(skipped.Bytes(), []byte("skipped")) {
		t.Fatalf("absent file: %v, %q", err, skipped.String())
	}
}

// TestMisspell: each word of 5 letters or more gets one edit, shorter
// words and everything between words stay as they were.
func TestMisspell(t *testing.T) {
	r := newRand(1, 2)
	for range 200 {
		in := "A giraffe, two zebras & an ox (at the waterhole)."
		out := misspell(in, r)
		a, b := strings.FieldsFunc(in, notLetter), strings.FieldsFunc(out, notLetter)
		if len(a) != len(b) {
			t.Fatalf("%q → %q: words merged or split", in, out)
		}
		for i := range a {
			long := len(a[i]) >= 5
			if (a[i] != b[i]) != long {
				t.Fatalf("%q → %q: word %q became %q", in, out, a[i], b[i])
			}
			if d := len(a[i]) - len(b[i]); d < -1 || d > 1 {
				t.Fatalf("%q → %q: more than one edit", a[i], b[i])
			}
		}
		if strings.Map(keepPunct, in) != strings.Map(keepPunct, out) {
			t.Fatalf("%q → %q: punctuation changed", in, out)
		}
	}
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

func keepPunct(r rune) rune {
	if unicode.IsLetter(r) {
		return -1
	}
	return r
}
