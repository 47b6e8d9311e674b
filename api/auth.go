package api

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Scope is a set of permissions an API key carries.
type Scope uint8

const (
	// ScopeSearch allows searches and reading single images.
	ScopeSearch Scope = 1 << iota
	// ScopeWrite allows ingesting and deleting images.
	ScopeWrite
	// ScopeAdmin allows everything, the admin routes included.
	ScopeAdmin
)

var scopeNames = []struct {
	s    Scope
	name string
}{{ScopeSearch, "search"}, {ScopeWrite, "write"}, {ScopeAdmin, "admin"}}

// String lists the scopes of s, comma-separated, as a key file spells them.
func (s Scope) String() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Allows reports whether a caller holding s may make a call that needs
// need. Admin allows every call.
func (s Scope) Allows(need Scope) bool {
	return s&ScopeAdmin != 0 || s&need == need
}

// ParseScope reads a comma list of scope names. Its errors never quote
// the list: a key typed after a comma instead of a space would land in a
// log.
func ParseScope(list string) (Scope, error) {
	var s Scope
	i := 0
	for name := range strings.SplitSeq(list, ",") {
		i++
		found := false
		for _, n := range scopeNames {
			if name == n.name {
				s |= n.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("scope %d of the list is not search, write or admin", i)
		}
	}
	return s, nil
}

// Key is what the server knows of a caller's key besides its digest. ID is
// not secret: logs and rate limits use it in place of the key.
type Key struct {
	ID     string
	Scopes Scope
}

// Keys is a set of API keys held as SHA-256 digests: the server never
// keeps a key itself, so a memory dump or a key file with only sha256:
// entries reveals nothing a caller could present.
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	digest [sha256.Size]byte
	key    Key
	line   int // where it was read, for duplicate reports
}

// MinKeyLength is the shortest key ParseKeys takes in plain text: short
// keys can be guessed, hashed or not.
const MinKeyLength = 16

// ErrNoKeys is returned for key input that holds no key: a server started
// with an empty key file is more likely misconfigured than meant to lock
// every write.
var ErrNoKeys = errors.New("no API keys")

// KeyLineError is a line of key input ParseKeys cannot use.
type KeyLineError struct {
	Line   int // 1-based
	Reason string
}

func (e *KeyLineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ParseKeys reads API keys, one a line: SCOPES KEY, where SCOPES is a comma
// list of search, write and admin and KEY is the key itself (at least
// MinKeyLength visible ASCII characters) or sha256:HEX, its SHA-256 digest
// in hex. Blank lines and lines starting with # are skipped, and so is
// anything after the key that starts with #.
func ParseKeys(r io.Reader) (*Keys, error) {
	ks := &Keys{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 2 || (len(fields) > 2 && !strings.HasPrefix(fields[2], "#")) {
			return nil, &KeyLineError{line, "want SCOPES KEY, e.g. search,write 3f9c…"}
		}
		scopes, err := ParseScope(fields[0])
		if err != nil {
			return nil, &KeyLineError{line, err.Error()}
		}
		digest, err := keyDigest(fields[1])
		if err != nil {
			return nil, &KeyLineError{line, err.Error()}
		}
		if err := ks.add(keyEntry{digest: digest, key: Key{ID: keyID(digest), Scopes: scopes}, line: line}); err != nil {
			return nil, &KeyLineError{line, err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	if len(ks.entries) == 0 {
		return nil, ErrNoKeys
	}
	return ks, nil
}

// LoadKeys reads the key file at path (see ParseKeys).
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ks, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// MergeKeys joins key sets read from several places (a file and the
// environment, say), skipping nil ones; it returns nil when all are nil. A
// key given in two sets is an error: the scopes it should have are
// ambiguous.
func MergeKeys(sets ...*Keys) (*Keys, error) {
	var out *Keys
	for _, ks := range sets {
		if ks == nil {
			continue
		}
		if out == nil {
			out = &Keys{}
		}
		for _, e := range ks.entries {
			if err := out.add(e); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (ks *Keys) add(e keyEntry) error {
	for _, o := range ks.entries {
		// Digests are public here (they are what a key file may hold), so
		// comparing them with == leaks nothing.
		if o.digest == e.digest {
			return fmt.Errorf("key %s is given twice (line %d)", e.key.ID, o.line)
		}
		if o.key.ID == e.key.ID {
			return fmt.Errorf("key %s shares its id with the key of line %d; generate another key", e.key.ID, o.line)
		}
	}
	ks.entries = append(ks.entries, e)
	return nil
}

// Len is the number of keys.
func (ks *Keys) Len() int { return len(ks.entries) }

// Lookup finds the key a caller presented. It compares the token's digest
// with every stored digest in constant time and never stops early, so the
// time it takes says nothing about which key, if any, is close.
func (ks *Keys) Lookup(token string) (Key, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range ks.entries {
		eq := subtle.ConstantTimeCompare(d[:], ks.entries[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Key{}, false
	}
	return ks.entries[found].key, true
}

// keyDigest is the SHA-256 of a key given in plain text, or the digest a
// sha256:HEX entry spells out.
func keyDigest(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	if h, ok := strings.CutPrefix(s, "sha256:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return d, errors.New("sha256: wants 64 hex digits")
		}
		copy(d[:], b)
		return d, nil
	}
	if len(s) < MinKeyLength {
		return d, fmt.Errorf("key shorter than %d characters", MinKeyLength)
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return d, errors.New("key holds a character other than visible ASCII")
		}
	}
	return sha256.Sum256([]byte(s)), nil
}

func keyID(d [sha256.Size]byte) string { return "key-" + hex.EncodeToString(d[:4]) }
