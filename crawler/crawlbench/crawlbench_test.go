package crawlbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunSmall runs both suites on a small site, for their correctness,
// not their speed.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), &out, Options{Pages: 50, Repeat: 1, Samples: []string{t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"picdex crawl", "pages/s", "baseline: GET loop", "file crawl"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if err := (Options{Pages: -1}).Validate(); err == nil {
		t.Error("negative pages accepted")
	}
}
