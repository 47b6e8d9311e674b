package synth

import (
	"bufio"
	"bytes"
	"flag"
	"math/bits"
	"os"
	"path/filepath"
	"testing"
	"unicode"

	"github.com/picdex/picdex/index/record"
)

var update = flag.Bool("update", false, "rewrite testdata/demo.jsonl from the generator")

// demoPath is the bundled demo corpus at the module root.
var demoPath = filepath.Join("..", "..", "testdata", "demo.jsonl")

// demoOptions is the corpus bundled as testdata/demo.jsonl.
var demoOptions = Options{N: 400, Seed: 1}

func TestDemoCorpus(t *testing.T) {
	want := generate(t, demoOptions)
	if *update {
		if err := os.MkdirAll(filepath.Dir(demoPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(demoPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: it differs from the generator's output; run\n\tgo test ./crawler/synth -run TestDemoCorpus -update", demoPath)
	}

	// The demo has to show off every kind of query the UI offers.
	var english, korean, tagged, cameras, dated, located, hashed, nearDups int
	var hashes []uint64
	sc := bufio.NewScanner(bytes.NewReader(got))
	for sc.Scan() {
		rec, err := record.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("demo record does not parse: %v", err)
		}
		switch {
		case hasScript(rec.Caption, unicode.Hangul):
			korean++
		case !hasScript(rec.Caption, unicode.Han) && !hasScript(rec.Caption, unicode.Katakana):
			english++
		}
		if len(rec.Tags) > 0 {
			tagged++
		}
		if rec.Camera != nil {
			cameras++
		}
		if rec.TakenAt != "" {
			dated++
		}
		if rec.Location != nil {
			located++
		}
		if h, ok := rec.PHashValue(); ok {
			hashed++
			for _, prev := range hashes {
				if bits.OnesCount64(h^prev) <= 8 {
					nearDups++
					break
				}
			}
			hashes = append(hashes, h)
		}
	}
	for name, n := range map[string]int{"English": english, "Korean": korean, "tagged": tagged,
		"camera": cameras, "dated": dated, "located": located, "phash": hashed, "near-duplicate": nearDups} {
		if n < 5 {
			t.Errorf("demo corpus has only %d %s records", n, name)
		}
	}
}
