package query

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptions parses hand-written captions that mix every kind of
// punctuation that looks like syntax: pasted into the search box, each one
// must search, and its tree must survive a round trip.
func TestCaptions(t *testing.T) {
	f, err := os.Open("testdata/captions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		q, err := ParseWith(line, picdexFields)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		checkRoundTrip(t, line, q, picdexFields)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Fatalf("read %d captions, want at least 30", n)
	}
}

// TestCOCOCaptions parses every human caption of the MS-COCO 2017
// validation set with the picdex field list: none may be a syntax error.
func TestCOCOCaptions(t *testing.T) {
	path, ok := sharedData(t, "coco_captions_val2017.json.gz")
	if !ok {
		t.Skipf("COCO captions not available: %s is absent (shared test data lives beside the project on developer machines and CI)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Annotations []struct {
			Caption string `json:"caption"`
		} `json:"annotations"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Annotations) < 25000 {
		t.Fatalf("read %d captions from %s, want the 25,014 of val2017", len(doc.Annotations), path)
	}
	failed := 0
	for _, a := range doc.Annotations {
		q, err := ParseWith(a.Caption, picdexFields)
		if err != nil {
			if failed++; failed <= 20 {
				t.Errorf("%q: %v", a.Caption, err)
			}
			continue
		}
		checkRoundTrip(t, a.Caption, q, picdexFields)
	}
	if failed > 0 {
		t.Errorf("%d of %d captions fail to parse", failed, len(doc.Annotations))
	}
}

// sharedData finds name in the shared test data, which lives in
// ../shared/data relative to the module root, or beside a directory further
// up when the module is a worktree nested below the project. It returns
// the documented location and false when there is none.
func sharedData(t *testing.T, name string) (string, bool) {
	root := moduleRoot(t)
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "data", name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join(root, "..", "shared", "data", name), false
		}
	}
}

// moduleRoot finds the directory of go.mod above the package directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}
