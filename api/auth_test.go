package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picdex/picdex/api"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func mustKeys(t testing.TB, text string) *api.Keys {
	t.Helper()
	ks, err := api.ParseKeys(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestParseKeys(t *testing.T) {
	ks := mustKeys(t, `
# picdex keys
search          search-key-0123456789
write,search    write-key-0123456789ab   # the crawler
admin           admin-key-0123456789ab
search,write    sha256:`+strings.ToUpper(sha256Hex("hashed-key-0123456789"))+`
`)
	if ks.Len() != 4 {
		t.Fatalf("%d keys, want 4", ks.Len())
	}
	for _, c := range []struct {
		token  string
		scopes api.Scope
	}{
		{"search-key-0123456789", api.ScopeSearch},
		{"write-key-0123456789ab", api.ScopeSearch | api.ScopeWrite},
		{"admin-key-0123456789ab", api.ScopeAdmin},
		{"hashed-key-0123456789", api.ScopeSearch | api.ScopeWrite}, // given only as its digest
	} {
		k, ok := ks.Lookup(c.token)
		if !ok || k.Scopes != c.scopes {
			t.Errorf("%s: %+v %v, want scopes %s", c.token, k, ok, c.scopes)
		}
		if want := "key-" + sha256Hex(c.token)[:8]; k.ID != want {
			t.Errorf("%s: id %q, want %q", c.token, k.ID, want)
		}
		if strings.Contains(k.ID, c.token) {
			t.Errorf("id %q holds the key", k.ID)
		}
	}
	for _, bad := range []string{"", "search-key-012345678", "search-key-0123456789 ", "sha256:" + sha256Hex("hashed-key-0123456789"), "admin"} {
		if k, ok := ks.Lookup(bad); ok {
			t.Errorf("%q found as %+v", bad, k)
		}
	}
}

func TestParseKeysErrors(t *testing.T) {
	const secret = "s3cr3t-value-0123456789"
	cases := []struct {
		name, text string
		line       int
		reason     string
	}{
		{"one field", "# keys\nsearch\n", 2, "want SCOPES KEY"},
		{"extra field", "search " + secret + " trailing\n", 1, "want SCOPES KEY"},
		{"unknown scope", "search,delete " + secret, 1, "scope 2 of the list is not search, write or admin"},
		{"empty scope in list", "search,,write " + secret, 1, "scope 2 of"},
		{"key typed into the scopes", "search," + secret + " x", 1, "scope 2 of"},
		{"short key", "write short-key", 1, "shorter than 16"},
		{"control character", "write " + secret + "\x7f", 1, "visible ASCII"},
		{"bad hex", "write sha256:xyz", 1, "64 hex digits"},
		{"short digest", "write sha256:" + sha256Hex("a")[:62], 1, "64 hex digits"},
		{"duplicate", "search " + secret + "\n\nwrite " + secret, 3, "given twice (line 1)"},
		{"duplicate as digest", "search " + secret + "\nwrite sha256:" + sha256Hex(secret), 2, "given twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := api.ParseKeys(strings.NewReader(c.text))
			var le *api.KeyLineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want a *KeyLineError", err)
			}
			if le.Line != c.line || !strings.Contains(le.Reason, c.reason) {
				t.Errorf("line %d %q, want line %d %q", le.Line, le.Reason, c.line, c.reason)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", c.line)) {
				t.Errorf("message %q does not start with its line", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the key: %v", err)
			}
		})
	}
	for _, empty := range []string{"", "\n# only comments\n\n"} {
		if _, err := api.ParseKeys(strings.NewReader(empty)); !errors.Is(err, api.ErrNoKeys) {
			t.Errorf("%q: %v, want ErrNoKeys", empty, err)
		}
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	os.WriteFile(path, []byte("admin admin-key-0123456789ab\n"), 0o600)
	ks, err := api.LoadKeys(path)
	if err != nil || ks.Len() != 1 {
		t.Fatalf("%v %v", ks, err)
	}
	os.WriteFile(path, []byte("admin admin-key-0123456789ab\nwrite x\n"), 0o600)
	if _, err := api.LoadKeys(path); err == nil || !strings.Contains(err.Error(), path+": line 2:") {
		t.Errorf("error %v does not name the file and line", err)
	}
	if _, err := api.LoadKeys(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestMergeKeys(t *testing.T) {
	a := mustKeys(t, "search search-key-0123456789")
	b := mustKeys(t, "write write-key-0123456789ab")
	if ks, err := api.MergeKeys(nil, nil); ks != nil || err != nil {
		t.Errorf("merge of nothing: %v %v, want nil", ks, err)
	}
	ks, err := api.MergeKeys(a, nil, b)
	if err != nil || ks.Len() != 2 {
		t.Fatalf("%v %v", ks, err)
	}
	if _, ok := ks.Lookup("write-key-0123456789ab"); !ok {
		t.Error("merged set lacks a key")
	}
	if _, err := api.MergeKeys(a, mustKeys(t, "admin search-key-0123456789")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a key in two sets: %v", err)
	}
}

func TestScope(t *testing.T) {
	for _, c := range []struct {
		have, need api.Scope
		ok         bool
	}{
		{api.ScopeSearch, api.ScopeSearch, true},
		{api.ScopeSearch, api.ScopeWrite, false},
		{api.ScopeWrite, api.ScopeSearch, false},
		{api.ScopeSearch | api.ScopeWrite, api.ScopeWrite, true},
		{api.ScopeAdmin, api.ScopeWrite, true},
		{api.ScopeAdmin, api.ScopeSearch, true},
		{0, api.ScopeSearch, false},
		{api.ScopeWrite, api.ScopeAdmin, false},
	} {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%q allows %q: %v, want %v", c.have, c.need, got, c.ok)
		}
	}
	s, err := api.ParseScope("admin,search")
	if err != nil || s.String() != "search,admin" {
		t.Errorf("ParseScope: %q %v", s, err)
	}
}

// TestLookupTimeIndependentOfPosition: Lookup compares with every key, so
// finding the first of many keys takes as long as finding the last or
// none. An early exit would make the first thousands of times faster.
func TestLookupTimeIndependentOfPosition(t *testing.T) {
	if testing.Short() {
		t.Skip("times lookups")
	}
	const n = 4096
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "search key-number-%08d\n", i)
	}
	ks := mustKeys(t, b.String())
	timeOf := func(token string) time.Duration {
		best := time.Duration(1 << 62)
		for range 30 {
			start := time.Now()
			for range 10 {
				ks.Lookup(token)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	first, last, none := fmt.Sprintf("key-number-%08d", 0), fmt.Sprintf("key-number-%08d", n-1), "key-number-absent!"
	if _, ok := ks.Lookup(first); !ok {
		t.Fatal("first key not found")
	}
	times := []time.Duration{timeOf(first), timeOf(last), timeOf(none)}
	lo, hi := slices.Min(times), slices.Max(times)
	if hi > 3*lo {
		t.Errorf("lookup times first/last/absent %v: the slowest is %.1f× the fastest", times, float64(hi)/float64(lo))
	}
}

func BenchmarkLookup(b *testing.B) {
	var sb strings.Builder
	for i := range 16 {
		fmt.Fprintf(&sb, "search key-number-%08d\n", i)
	}
	ks := mustKeys(b, sb.String())
	for b.Loop() {
		ks.Lookup("key-number-00000007")
	}
}
