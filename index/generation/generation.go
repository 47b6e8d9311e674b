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
	return m, nil
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

// Begin starts generation max+1 with the given shards, state building,
// in generations/ID, and saves the manifest. Builds that never finished
// are removed first, directories and all.
func (m *Manifest) Begin(shards int, source string, now time.Time) (Generation, error) {
	if shards < 1 || shards > index.MaxShards {
		return Generation{}, fmt.Errorf("%d shards: want 1 to %d", shards, index.MaxShards)
	}
	kept := m.Generations[:0]
	for _, g := range m.Generations {
		if g.State == Building {
			if err := os.RemoveAll(m.Path(g)); err != nil {
				return Generation{}, fmt.Errorf("removing the unfinished generation %d: %w", g.ID, err)
			}
			continue
		}
		kept = append(kept, g)
	}
	m.Generations = kept
	id := 1
	for _, g := range m.Generations {
		id = max(id, g.ID+1)
	}
	g := Generation{ID: id, Dir: filepath.Join("generations", strconv.Itoa(id)), Shards: shards,
		MappingVersion: index.MappingVersion, Source: source, State: Building, Created: now.UTC()}
	// A directory left by a build the manifest no longer names.
	if err := os.RemoveAll(m.Path(g)); err != nil {
		return Generation{}, err
	}
	m.Generations = append(m.Generations, g)
	if err := m.Save(); err != nil {
		return Generation{}, err
	}
	return g, nil
}

// Finish records that generation id was built and verified: state
// ready, with its counts.
func (m *Manifest) Finish(id int, docs []uint64, records, bad uint64, offsets map[string]int64, now time.Time) error {
	g, err := m.Get(id)
	if err != nil {
		return err
	}
	if g.State != Building {
		return fmt.Errorf("generation %d is %s, not building", id, g.State)
	}
	g.State, g.Docs, g.Records, g.Bad, g.Offsets, g.Built = Ready, docs, records, bad, offsets, now.UTC()
	return m.Save()
}

// Abandon removes a build that failed.
func (m *Manifest) Abandon(id int) error {
	g, err := m.Get(id)
	if err != nil {
		return err
	}
	if g.State != Building {
		return fmt.Errorf("generation %d is %s, not building", id, g.State)
	}
	if err := os.RemoveAll(m.Path(*g)); err != nil {
		return err
	}
	m.Generations = slices.DeleteFunc(m.Generations, func(x Generation) bool { return x.ID == id })
	return m.Save()
}

// Switch makes the ready generation id live; the live one becomes the
// previous (ready, for Rollback). Then all but the retain newest ready
// generations besides those two are retired (their directories
// deleted); retain < 0 keeps every one. It saves the manifest; the
// caller switches its searches (Live.Switch) after Switch returns.
func (m *Manifest) Switch(id, retain int, now time.Time) error {
	g, err := m.Get(id)
	if err != nil {
		return err
	}
	if g.State != Ready {
		return fmt.Errorf("%w: generation %d is %s", ErrNotReady, id, g.State)
	}
	if old, err := m.Get(m.Live); err == nil && old.ID != id {
		old.State = Ready
		m.Previous = old.ID
	}
	g.State, g.Switched, m.Live = Live, now.UTC(), id
	if err := m.Save(); err != nil {
		return err
	}
	return m.Retire(retain)
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
	id := prev.ID
	if err := m.Switch(id, -1, now); err != nil {
		return Generation{}, err
	}
	return m.LiveGenerationOrZero(), nil
}

// LiveGenerationOrZero is LiveGeneration without its flag.
func (m *Manifest) LiveGenerationOrZero() Generation {
	g, _ := m.LiveGeneration()
	return g
}

// Retire deletes the ready generations past the retain newest (the
// previous one counts first, and goes only with retain 0), and saves;
// retain < 0 keeps them all.
func (m *Manifest) Retire(retain int) error {
	if retain < 0 {
		return nil
	}
	var ready []*Generation
	for i := range m.Generations {
		g := &m.Generations[i]
		if g.State == Ready && g.ID != m.Previous {
			ready = append(ready, g)
		}
	}
	// Newest first; the previous one counts against retain.
	slices.SortFunc(ready, func(a, b *Generation) int { return b.ID - a.ID })
	keep := retain
	if m.Previous != 0 {
		keep--
	}
	changed := false
	for i, g := range ready {
		if i < keep {
			continue
		}
		if err := m.remove(*g); err != nil {
			return err
		}
		g.State, g.Docs = Retired, nil
		changed = true
	}
	if m.Previous != 0 && retain == 0 {
		if prev, err := m.Get(m.Previous); err == nil {
			if err := m.remove(*prev); err != nil {
				return err
			}
			prev.State, prev.Docs = Retired, nil
			m.Previous = 0
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return m.Save()
}

// remove deletes g's index: its directory, or, for the generation the
// data directory itself holds, its shards and index manifest only.
func (m *Manifest) remove(g Generation) error {
	if g.Dir != "." {
		return os.RemoveAll(m.Path(g))
	}
	return index.RemoveFiles(m.dir)
}
