//go:build !unix

package generation

import (
	"errors"
	"os"
)

// LockName is the lock file's name in the data directory.
const LockName = "picdex.lock"

// ErrInUse means another process holds the data directory.
var ErrInUse = errors.New("data directory is in use by another picdex process")

// Lock takes the data directory on systems with flock; elsewhere it only
// makes sure the directory exists, and the shards' own locks are all
// that keep two processes apart.
func Lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return func() {}, nil
}
