package index

import "unsafe"

// stringArena copies strings into shared blocks of 64 KiB, so that the
// millions of small strings an index keeps in memory (the ids and terms
// of columns, the ids of the near-duplicate index) are a few thousand
// objects for the garbage collector to trace instead of millions; every
// cycle of it marks each live object. A block lives while any of its
// strings does.
type stringArena struct{ block []byte }

const arenaBlock = 64 << 10

// add returns a copy of s in the arena.
func (a *stringArena) add(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, max(arenaBlock, len(s)))
	}
	off := len(a.block)
	a.block = append(a.block, s...)
	// The bytes are never written again: later strings are appended
	// after them, and a full block is replaced, not grown.
	return unsafe.String(&a.block[off], len(s))
}
