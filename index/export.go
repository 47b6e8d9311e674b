package index

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// ExportStored hands emit the stored record of every document of the
// index in dir, shard by shard, whatever mapping version it was built
// with: what rebuilding an index under this picdex's mapping reads when
// the index itself is all there is of its records. The shards are
// opened read-only, and not as shards of this picdex (whose Open
// refuses another mapping version), so a process holding the index
// open makes it fail with ErrLocked.
func ExportStored(ctx context.Context, dir string, emit func(json.RawMessage) error) (n int64, err error) {
	mf, err := readManifest(dir)
	if err != nil {
		return 0, fmt.Errorf("%s: not a picdex index: %w", dir, err)
	}
	for i := range mf.Shards {
		path := filepath.Join(dir, fmt.Sprintf("shard-%03d", i))
		k, err := exportShard(ctx, path, emit)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func exportShard(ctx context.Context, path string, emit func(json.RawMessage) error) (n int64, err error) {
	cfg := scorchConfig()
	cfg["read_only"] = true
	idx, err := bleve.OpenUsing(path, cfg)
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return 0, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return 0, fmt.Errorf("open shard %s: %w", path, err)
	}
	defer idx.Close()
	adv, err := idx.Advanced()
	if err != nil {
		return 0, err
	}
	reader, err := adv.Reader()
	if err != nil {
		return 0, err
	}
	defer reader.Close()
	snap, ok := reader.(*scorch.IndexSnapshot)
	if !ok {
		return 0, fmt.Errorf("%s: not a scorch index (%T)", path, reader)
	}
	for _, ss := range snap.Segments() {
		deleted := ss.Deleted()
		for doc := range uint64(ss.FullSize()) { // Count is of the live documents only
			if deleted != nil && deleted.Contains(uint32(doc)) {
				continue
			}
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return n, err
				}
			}
			raw, err := storedAt(ss, doc)
			if err != nil {
				return n, fmt.Errorf("%s: %w", path, err)
			}
			if raw == nil {
				continue // not a record: the shard's own bookkeeping
			}
			if err := emit(raw); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
