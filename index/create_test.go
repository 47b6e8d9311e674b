package index

import (
	"os"
	"path/filepath"
	"testing"
)

// A shard is created whole or not at all: what a process killed while
// creating one leaves (a half-made directory beside it, or one without
// bleve's metadata) is cleared, and the shard opens.
func TestCreateShardClearsLeftovers(t *testing.T) {
	dir := t.TempDir()
	shard0 := filepath.Join(dir, "shard-000")
	if err := os.MkdirAll(filepath.Join(shard0+".creating", "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "shard-001", "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "shard-001", "store", "root.bolt"), nil, 0o644)
	ix, err := Open(dir, Options{Shards: 2, IdleMerge: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shard0 + ".creating"); !os.IsNotExist(err) {
		t.Errorf("the leftover is still there: %v", err)
	}
	for _, s := range []string{"shard-000", "shard-001"} {
		if _, err := os.Stat(filepath.Join(dir, s, "index_meta.json")); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if ix, err = Open(dir, Options{IdleMerge: -1}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
}
