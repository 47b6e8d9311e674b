package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// FileName is the name of a File store's file in a data directory.
const FileName = "picdex-cluster.json"

// File is the Store of one machine: a JSON file, replaced atomically
// (written aside, then renamed) on every change. Writes through one File
// are serialised; two processes writing the same file at once may lose
// one's change, except for Claim, which is atomic across processes.
type File struct {
	path string
	mu   sync.Mutex
}

// NewFile returns the Store in dir (the data directory).
func NewFile(dir string) *File { return &File{path: filepath.Join(dir, FileName)} }

// Load implements Store. A missing file is an empty cluster.
func (f *File) Load(context.Context) (State, error) {
	st := State{Generations: map[int]Generation{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", f.path, err)
	}
	if st.Generations == nil {
		st.Generations = map[int]Generation{}
	}
	for id, g := range st.Generations {
		if err := g.Validate(); err != nil || g.ID != id {
			return st, fmt.Errorf("%s: generation %d: invalid (%v)", f.path, id, err)
		}
	}
	return st, nil
}

// update changes the state under the lock and stores it.
func (f *File) update(ctx context.Context, change func(State) (State, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.Load(ctx)
	if err != nil {
		return err
	}
	if st, err = change(st); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.path, b)
}

// writeAtomic writes b to a temporary file beside path, syncs it and
// renames it over path.
func writeAtomic(path string, b []byte) error {
	tmp, err := writeAside(path, b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Rename(tmp, path)
}

// writeAside writes b, synced, to a new file beside path and returns its
// name.
func writeAside(path string, b []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// Put implements Store.
func (f *File) Put(ctx context.Context, g Generation) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return f.update(ctx, func(st State) (State, error) {
		st.Generations[g.ID] = g
		return st, nil
	})
}

// SetLive implements Store.
func (f *File) SetLive(ctx context.Context, g int) error {
	return f.update(ctx, func(st State) (State, error) { return st.withLive(g) })
}

// Announce implements Store.
func (f *File) Announce(ctx context.Context, s Server) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return f.update(ctx, func(st State) (State, error) {
		if st.Servers == nil {
			st.Servers = map[string]Server{}
		}
		st.Servers[s.Name] = s
		return st, nil
	})
}

// Withdraw implements Store.
func (f *File) Withdraw(ctx context.Context, name string) error {
	return f.update(ctx, func(st State) (State, error) {
		delete(st.Servers, name)
		return st, nil
	})
}

// Claim implements Store: the first bid is the file that a hard link
// created first, which no later bid can replace.
func (f *File) Claim(_ context.Context, bid Generation) (Generation, error) {
	if err := bid.Validate(); err != nil {
		return Generation{}, err
	}
	b, err := json.Marshal(bid)
	if err != nil {
		return Generation{}, err
	}
	path := f.path + ".claim." + strconv.Itoa(bid.ID)
	tmp, err := writeAside(path, b)
	if err != nil {
		return Generation{}, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return Generation{}, err
	}
	won, err := os.ReadFile(path)
	if err != nil {
		return Generation{}, err
	}
	var g Generation
	if err := json.Unmarshal(won, &g); err != nil {
		return Generation{}, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}
