package web

import (
	"net/url"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// seenSet remembers URLs by a 64-bit fingerprint in a roaring bitmap.
//
// The fingerprint's high 32 bits hash the scheme and host, the low 32 bits
// the whole URL. Roaring keys its containers on the high half, so the URLs
// of one host share one 32-bit bitmap, where a million random values take
// about 2 bytes each; a plain 64-bit hash would give every URL a bitmap of
// its own. The price is that two URLs of one host collide with probability
// n/2³² once n of its URLs are known: one wrongly skipped URL in about
// 4,300 at a million URLs on one host.
//
// The hash is FNV-1a, fixed here because crawl state files store
// fingerprints: changing it would make a resumed crawl refetch everything.
type seenSet struct {
	bm *roaring64.Bitmap
}

func newSeenSet() *seenSet { return &seenSet{bm: roaring64.New()} }

// add records u and reports whether it was new.
func (s *seenSet) add(u *url.URL) bool { return s.bm.CheckedAdd(fingerprint(u)) }

func (s *seenSet) has(u *url.URL) bool { return s.bm.Contains(fingerprint(u)) }

func (s *seenSet) len() uint64 { return s.bm.GetCardinality() }

func (s *seenSet) marshal() ([]byte, error) {
	s.bm.RunOptimize()
	return s.bm.MarshalBinary()
}

func (s *seenSet) unmarshal(data []byte) error {
	bm := roaring64.New()
	if err := bm.UnmarshalBinary(data); err != nil {
		return err
	}
	s.bm = bm
	return nil
}

// fingerprint is the seen-set key of a normalised URL.
func fingerprint(u *url.URL) uint64 {
	host := fnv32(fnv32(offset32, u.Scheme+"://"), u.Host)
	return uint64(host)<<32 | uint64(fnv32(offset32, u.String()))
}

const (
	offset32 = 2166136261
	prime32  = 16777619
)

func fnv32(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= prime32
	}
	return h
}
