package generation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/picdex/picdex/index"
)

// ManifestName is the manifest's file name in the data directory.
const ManifestName = "picdex-generations.json"

// State is where a generation is in its life.
type State string

// The states of a generation.
const (
	Building State = "building" // being built; not searchable
	Ready    State = "ready"    // built and verified, or live before: may be switched to
	Live     State = "live"     // answers the searches
	Retired  State = "retired"  // deleted; the entry is history
)

// Generation describes one build of the index.
type Generation struct {
	ID int `json:"id"`
	// Dir is the generation's index directory, relative to the data
	// directory ("." for the generation the directory itself holds).
	Dir            string `json:"dir"`
	Shards         int    `json:"shards"`
	MappingVersion int    `json:"mapping_version"`
	// Source is what it was built from (files, a directory, a topic).
	Source string `json:"source,omitempty"`
	State  State  `json:"state"`
	// Docs is each shard's document count when the build finished.
	Docs []uint64 `json:"docs,omitempty"`
	// Records is how many source records the build read; Bad how many it
	// skipped as invalid.
	Records uint64 `json:"records,omitempty"`
	Bad     uint64 `json:"bad,omitempty"`
	// Offsets are the positions of the write queue the generation had
	// applied when it was built ("partition" -> next offset).
	Offsets map[string]int64 `json:"offsets,omitempty"`

	Created time.Time `json:"created"`
	Built   time.Time `json:"built,omitzero"`
	// Switched is when it last became live.
	Switched time.Time `json:"switched,omitzero"`
}

// TotalDocs is the sum of Docs.
func (g Generation) TotalDocs() uint64 {
	var n uint64
	for _, d := range g.Docs {
		n += d
	}
	return n
}

// Manifest is the generations of a data directory.
type Manifest struct {
	// Live is the live generation's id, 0 for none (an empty directory).
	Live int `json:"live"`
	// Previous is the generation that was live before Live, 0 for none:
	// the one Rollback returns to.
	Previous    int          `json:"previous,omitempty"`
	Generations []Generation `json:"generations"`

	dir string
}

// Errors of the manifest's operations.
var (
	ErrNoGeneration = errors.New("no such generation")
	ErrNotReady     = errors.New("generation is not ready")
	ErrNoPrevious   = errors.New("no previous generation to roll back to")
)

// Load reads the manifest of the data directory dir. A directory that
// has none but holds an index has that index as generation 1, live; one
// that holds neither has no generation.
func Load(dir string) (*Manifest, error) {
	m := &Manifest{dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if index.Exists(dir) {
			info, err := index.ReadInfo(dir)
			if err != nil {
				return nil, err
			}
			m.Live = 1
			m.Generations = []Generation{{ID: 1, Dir: ".", Shards: info.Shards, MappingVersion: info.MappingVersion, State: Live}}
		}
		return m, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if _, err := m.Get(m.Live); err != nil && index.Exists(dir) && !m.describes(".") {
		// An index made in the directory itself after a first reindex
		// failed (which left a manifest naming no generation): it is
		// the live one.
		info, err := index.ReadInfo(dir)
		if err != nil {
			return nil, err
		}
		id := 1
		for _, g := range m.Generations {
			id = max(id, g.ID+1)
		}
		m.Generations = append(m.Generations, Generation{ID: id, Dir: ".", Shards: info.Shards, MappingVersion: info.MappingVersion, State: Live})
		m.Live = id
	}
	return m, nil
}

// describes reports whether a generation not retired lives in dir.
func (m *Manifest) describes(dir string) bool {
	for _, g := range m.Generations {
		if g.Dir == dir && g.State != Retired {
			return true
		}
	}
	return false
}

func (m *Manifest) check() error {
	seen := map[int]bool{}
	for _, g := range m.Generations {
		switch {
		case g.ID < 1 || seen[g.ID]:
			return fmt.Errorf("generation id %d is invalid or given twice", g.ID)
		case g.Shards < 1:
			return fmt.Errorf("generation %d has %d shards", g.ID, g.Shards)
		case !filepath.IsLocal(g.Dir):
			return fmt.Errorf("generation %d: directory %q is not inside the data directory", g.ID, g.Dir)
		}
		seen[g.ID] = true
	}
	if m.Live != 0 && !seen[m.Live] {
		return fmt.Errorf("the live generation %d is not described", m.Live)
	}
	return nil
}

// Save writes the manifest atomically.
func (m *Manifest) Save() error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(m.dir, ManifestName), append(data, '\n'))
}

// writeAtomic replaces path with data: a temporary file, synced, renamed
// over it, and the directory synced.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // not every file system syncs a directory
		d.Close()
	}
	return nil
}

// DataDir is the data directory the manifest describes.
func (m *Manifest) DataDir() string { return m.dir }

// Get returns generation id.
func (m *Manifest) Get(id int) (*Generation, error) {
	for i := range m.Generations {
		if m.Generations[i].ID == id {
			return &m.Generations[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %d", ErrNoGeneration, id)
}

// LiveGeneration returns the live generation; false when there is none.
func (m *Manifest) LiveGeneration() (Generation, bool) {
	g, err := m.Get(m.Live)
	if err != nil {
		return Generation{}, false
	}
	return *g, true
}

// Path is the index directory of g.
func (m *Manifest) Path(g Generation) string { return filepath.Join(m.dir, g.Dir) }

// update applies f to a copy of the manifest, saves the copy and only
// then makes it the manifest: a change that fails to save changes
// nothing, in memory either.
func (m *Manifest) update(f func(c *Manifest) error) error {
	c := &Manifest{Live: m.Live, Previous: m.Previous, Generations: slices.Clone(m.Generations), dir: m.dir}
	if err := f(c); err != nil {
		return err
	}
	if err := c.Save(); err != nil {
		return err
	}
	*m = *c
	return nil
}

// Begin starts generation max+1 with the given shards, state building,
// in generations/ID, and saves the manifest. Builds that never finished
// are removed first, directories and all.
func (m *Manifest) Begin(shards int, source string, now time.Time) (Generation, error) {
	if shards < 1 || shards > index.MaxShards {
		return Generation{}, fmt.Errorf("%d shards: want 1 to %d", shards, index.MaxShards)
	}
	var g Generation
	err := m.update(func(c *Manifest) error {
		var kept []Generation
		for _, old := range c.Generations {
			if old.State == Building {
				if err := os.RemoveAll(c.Path(old)); err != nil {
					return fmt.Errorf("removing the unfinished generation %d: %w", old.ID, err)
				}
				continue
			}
			kept = append(kept, old)
		}
		c.Generations = kept
		id := 1
		for _, old := range c.Generations {
			id = max(id, old.ID+1)
		}
		g = Generation{ID: id, Dir: filepath.Join("generations", strconv.Itoa(id)), Shards: shards,
			MappingVersion: index.MappingVersion, Source: source, State: Building, Created: now.UTC()}
		// A directory left by a build the manifest no longer names.
		if err := os.RemoveAll(c.Path(g)); err != nil {
			return err
		}
		c.Generations = append(c.Generations, g)
		return nil
	})
	return g, err
}

// Finish records that generation id was built and verified: state
// ready, with its counts.
func (m *Manifest) Finish(id int, docs []uint64, records, bad uint64, offsets map[string]int64, now time.Time) error {
	return m.update(func(c *Manifest) error {
		g, err := c.Get(id)
		if err != nil {
			return err
		}
		if g.State != Building {
			return fmt.Errorf("generation %d is %s, not building", id, g.State)
		}
		g.State, g.Docs, g.Records, g.Bad, g.Offsets, g.Built = Ready, docs, records, bad, offsets, now.UTC()
		return nil
	})
}

// Abandon removes a build that failed: from the manifest, then its
// directory (a directory left behind is removed by the next Begin).
func (m *Manifest) Abandon(id int) error {
	var dir string
	err := m.update(func(c *Manifest) error {
		g, err := c.Get(id)
		if err != nil {
			return err
		}
		if g.State != Building {
			return fmt.Errorf("generation %d is %s, not building", id, g.State)
		}
		dir = c.Path(*g)
		c.Generations = slices.DeleteFunc(c.Generations, func(x Generation) bool { return x.ID == id })
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Switch makes the ready generation id live; the live one becomes the
// previous (ready, for Rollback). It saves the manifest; the caller
// switches its searches (Current.Switch) after Switch returns, and
// retires what is past its retention with Retire.
func (m *Manifest) Switch(id int, now time.Time) error {
	return m.update(func(c *Manifest) error {
		g, err := c.Get(id)
		if err != nil {
			return err
		}
		if g.State != Ready {
			return fmt.Errorf("%w: generation %d is %s", ErrNotReady, id, g.State)
		}
		if old, err := c.Get(c.Live); err == nil && old.ID != id {
			old.State = Ready
			c.Previous = old.ID
		}
		g.State, g.Switched, c.Live = Live, now.UTC(), id
		return nil
	})
}

// Rollback switches back to the previous generation.
func (m *Manifest) Rollback(now time.Time) (Generation, error) {
	if m.Previous == 0 {
		return Generation{}, ErrNoPrevious
	}
	prev, err := m.Get(m.Previous)
	if err != nil || prev.State != Ready {
		return Generation{}, fmt.Errorf("%w (generation %d is no longer kept)", ErrNoPrevious, m.Previous)
	}
	if err := m.Switch(prev.ID, now); err != nil {
		return Generation{}, err
	}
	g, _ := m.LiveGeneration()
	return g, nil
}

// Forget stops keeping the previous generation for rollback: the live
// one was written to without it (picdex index, or an indexer of its
// own), so going back would lose those writes. It stays until Retire.
func (m *Manifest) Forget() error {
	if m.Previous == 0 {
		return nil
	}
	return m.update(func(c *Manifest) error {
		c.Previous = 0
		return nil
	})
}

// Retirees are the generations Retire(retain) would retire: the ready
// ones past the retain newest, the previous one counting first (and
// going only with retain 0).
func (m *Manifest) Retirees(retain int) []int {
	if retain < 0 {
		return nil
	}
	var ready []Generation
	for _, g := range m.Generations {
		if g.State == Ready && g.ID != m.Previous {
			ready = append(ready, g)
		}
	}
	slices.SortFunc(ready, func(a, b Generation) int { return b.ID - a.ID })
	keep := retain
	if m.Previous != 0 {
		keep--
	}
	var out []int
	for i, g := range ready {
		if i >= keep {
			out = append(out, g.ID)
		}
	}
	if m.Previous != 0 && retain == 0 {
		out = append(out, m.Previous)
	}
	return out
}

// Retire retires Retirees(retain): marks them retired and saves, then
// deletes their indexes, so that a crash between the two leaves files
// no generation names rather than a kept generation with half its
// files. The caller has closed them.
func (m *Manifest) Retire(retain int) error {
	ids := m.Retirees(retain)
	if len(ids) == 0 {
		return nil
	}
	var gone []Generation
	err := m.update(func(c *Manifest) error {
		for _, id := range ids {
			g, err := c.Get(id)
			if err != nil {
				return err
			}
			gone = append(gone, *g)
			g.State, g.Docs = Retired, nil
			if c.Previous == id {
				c.Previous = 0
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range gone {
		errs = append(errs, m.remove(g))
	}
	return errors.Join(errs...)
}

// remove deletes g's index: its directory, or, for the generation the
// data directory itself holds, its shards and index manifest only.
func (m *Manifest) remove(g Generation) error {
	if g.Dir != "." {
		return os.RemoveAll(m.Path(g))
	}
	if !index.Exists(m.dir) {
		return nil
	}
	return index.RemoveFiles(m.dir)
}
