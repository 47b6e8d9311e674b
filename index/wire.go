package index

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// The shard wire format carries the three shard calls between processes
// (see package index/remote). It is a compact binary encoding: every
// message starts with wireVersion and a kind byte; integers are varints,
// strings and byte strings are length-prefixed, scores are the 8 bytes of
// their float64, so a score and a sort value cross the wire bit for bit
// (JSON would not: sort values are binary terms, not UTF-8). The search
// request itself is JSON inside the frame: it is small, and it is the one
// type the API binds too.
//
// Decoding never trusts a length: every count is checked against the
// bytes left before anything is allocated for it, so a message of n bytes
// allocates O(n) at most, whatever it claims.
//
// Changelog of wireVersion:
//
//	1: first version.
//	2: a shard request carries how many of its best hits' records the
//	   shard sends with them (ShardRequest.Records).
const wireVersion = 2

// WireContentType is the media type of a shard wire message.
const WireContentType = "application/x-picdex-shard"

// Message kinds, the second byte of a message.
const (
	wireShardRequest byte = 'Q'
	wireTermStats    byte = 'T'
	wireShardResult  byte = 'R'
	wireIDs          byte = 'I'
	wireRecords      byte = 'D'
)

// ErrWireFormat is returned for a shard wire message that cannot be
// decoded: truncated, of another version or kind, or inconsistent.
var ErrWireFormat = errors.New("malformed shard wire message")

// EncodeShardRequest encodes a shard request (phase 1 or 2). The plan the
// fan-out validated does not travel: the receiving shard validates the
// request itself. A request the fan-out made is encoded once for all its
// shards; the bytes returned must not be changed.
func EncodeShardRequest(sr *ShardRequest) ([]byte, error) {
	if sr == nil || sr.Request == nil {
		return nil, fmt.Errorf("%w: a shard request needs a request", ErrBadRequest)
	}
	if sr.plan == nil {
		return encodeShardRequest(sr)
	}
	if b := sr.wire.Load(); b != nil {
		return *b, nil
	}
	b, err := encodeShardRequest(sr)
	if err == nil {
		sr.wire.Store(&b)
	}
	return b, err
}

func encodeShardRequest(sr *ShardRequest) ([]byte, error) {
	req, err := json.Marshal(sr.Request)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	w := newWireWriter(wireShardRequest, len(req)+64)
	var flags byte
	if sr.LowPriority {
		flags |= 1
	}
	if sr.Stats != nil {
		flags |= 2
	}
	w.byte(flags)
	for _, v := range [...]int{sr.Budget.MaxTerms, sr.Budget.MaxPatterns, sr.Budget.MaxPatternStates, sr.Budget.ExpensiveTerms, sr.Budget.MaxPageBytes} {
		w.varint(int64(v))
	}
	w.varint(int64(sr.Records))
	w.bytes(req)
	if sr.Stats != nil {
		w.termStats(sr.Stats)
	}
	return w.b, nil
}

// DecodeShardRequest decodes what EncodeShardRequest encoded. Errors wrap
// ErrWireFormat and ErrBadRequest: the sender got it wrong.
func DecodeShardRequest(data []byte) (*ShardRequest, error) {
	r := newWireReader(data, wireShardRequest)
	flags := r.byte()
	var budget [5]int
	for i := range budget {
		budget[i] = r.int()
	}
	records := r.int()
	raw := r.bytes()
	var stats *TermStats
	if flags&2 != 0 {
		stats = r.termStats()
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if records < 0 || records > MaxWindow {
		return nil, fmt.Errorf("%w: %w: %d records asked for", ErrBadRequest, ErrWireFormat, records)
	}
	if flags&^3 != 0 {
		return nil, fmt.Errorf("%w: %w: unknown flags %#x", ErrBadRequest, ErrWireFormat, flags)
	}
	var req *Request
	if err := json.Unmarshal(raw, &req); err != nil || req == nil {
		return nil, fmt.Errorf("%w: %w: the request is not a JSON object", ErrBadRequest, ErrWireFormat)
	}
	return &ShardRequest{
		Request: req, Stats: stats, LowPriority: flags&1 != 0, Records: records,
		Budget: Budget{MaxTerms: budget[0], MaxPatterns: budget[1], MaxPatternStates: budget[2], ExpensiveTerms: budget[3], MaxPageBytes: budget[4]},
	}, nil
}

// EncodeTermStats encodes a shard's phase-1 answer.
func EncodeTermStats(st *TermStats) []byte {
	w := newWireWriter(wireTermStats, 256)
	w.termStats(st)
	return w.b
}

// DecodeTermStats decodes what EncodeTermStats encoded; its maps are never
// nil.
func DecodeTermStats(data []byte) (*TermStats, error) {
	r := newWireReader(data, wireTermStats)
	st := r.termStats()
	return st, r.done()
}

// Bits of a hit's flags byte.
const (
	hitDistance byte = 1 << iota
	hitImage
	hitHighlights
)

// EncodeShardResult encodes a shard's phase-2 answer.
func EncodeShardResult(res *ShardResult) []byte {
	w := newWireWriter(wireShardResult, 64+len(res.Hits)*64)
	w.uvarint(res.Total)
	w.uvarint(uint64(len(res.Hits)))
	for i := range res.Hits {
		h := &res.Hits[i]
		w.string(h.ID)
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(h.Score))
		var flags byte
		if h.Distance != nil {
			flags |= hitDistance
		}
		if h.Image != nil {
			flags |= hitImage
		}
		if h.Highlights != nil {
			flags |= hitHighlights
		}
		w.byte(flags)
		if h.Distance != nil {
			w.varint(int64(*h.Distance))
		}
		w.strings(h.Sort)
		if h.Image != nil {
			w.bytes(h.Image)
		}
		if h.Highlights != nil {
			putMap(w, h.Highlights, w.strings)
		}
	}
	putMap(w, res.Facets, func(vals []FacetValue) {
		w.uvarint(uint64(len(vals)))
		for _, v := range vals {
			w.string(v.Value)
			w.varint(int64(v.Count))
		}
	})
	return w.b
}

// minHitBytes is the fewest bytes an encoded hit takes: an empty id's
// length, the score, the flags, an empty sort list's length.
const minHitBytes = 1 + 8 + 1 + 1

// DecodeShardResult decodes what EncodeShardResult encoded. Records in the
// hits share data's memory. Facets are nil when there are none.
func DecodeShardResult(data []byte) (*ShardResult, error) {
	r := newWireReader(data, wireShardResult)
	res := &ShardResult{Total: r.uvarint()}
	n := r.count(minHitBytes)
	res.Hits = make([]ShardHit, n)
	for i := range res.Hits {
		h := &res.Hits[i]
		h.ID = r.string()
		h.Score = math.Float64frombits(r.uint64())
		flags := r.byte()
		if flags&^(hitDistance|hitImage|hitHighlights) != 0 {
			r.fail("unknown hit flags %#x", flags)
		}
		if flags&hitDistance != 0 {
			d := r.int()
			h.Distance = &d
		}
		h.Sort = r.strings()
		if flags&hitImage != 0 {
			h.Image = r.bytes()
		}
		if flags&hitHighlights != 0 {
			m := r.count(2)
			h.Highlights = make(map[string][]string, m)
			for range m {
				f := r.string()
				h.Highlights[f] = r.strings()
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if m := r.count(2); m > 0 {
		res.Facets = make(map[string][]FacetValue, m)
		for range m {
			name := r.string()
			vals := make([]FacetValue, r.count(2))
			for j := range vals {
				vals[j] = FacetValue{Value: r.string(), Count: r.int()}
			}
			res.Facets[name] = vals
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return res, nil
}

// EncodeIDs encodes the ids of a fetch (phase 3).
func EncodeIDs(ids []string) []byte {
	w := newWireWriter(wireIDs, 16*len(ids)+8)
	w.strings(ids)
	return w.b
}

// DecodeIDs decodes what EncodeIDs encoded. Errors wrap ErrWireFormat and
// ErrBadRequest.
func DecodeIDs(data []byte) ([]string, error) {
	r := newWireReader(data, wireIDs)
	ids := r.strings()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return ids, nil
}

// EncodeRecords encodes the answer of a fetch: the records, nil for an id
// the shard does not hold. Records cross byte for byte.
func EncodeRecords(recs []json.RawMessage) []byte {
	size := 8
	for _, r := range recs {
		size += len(r) + binary.MaxVarintLen32
	}
	w := newWireWriter(wireRecords, size)
	w.uvarint(uint64(len(recs)))
	for _, r := range recs {
		// Length plus one, so that zero is an absent record.
		if r == nil {
			w.uvarint(0)
			continue
		}
		w.uvarint(uint64(len(r)) + 1)
		w.b = append(w.b, r...)
	}
	return w.b
}

// DecodeRecords decodes what EncodeRecords encoded; the records share
// data's memory.
func DecodeRecords(data []byte) ([]json.RawMessage, error) {
	r := newWireReader(data, wireRecords)
	out := make([]json.RawMessage, r.count(1))
	for i := range out {
		n := r.uvarint()
		if n == 0 {
			continue
		}
		out[i] = r.take(n - 1)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return out, nil
}

type wireWriter struct{ b []byte }

func newWireWriter(kind byte, size int) *wireWriter {
	w := &wireWriter{b: make([]byte, 0, size)}
	w.b = append(w.b, wireVersion, kind)
	return w
}

func (w *wireWriter) byte(c byte)      { w.b = append(w.b, c) }
func (w *wireWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wireWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *wireWriter) string(s string)  { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *wireWriter) bytes(b []byte)   { w.uvarint(uint64(len(b))); w.b = append(w.b, b...) }
func (w *wireWriter) strings(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.string(s)
	}
}

// putMap writes a map's length, then each key and its value.
func putMap[V any](w *wireWriter, m map[string]V, put func(V)) {
	w.uvarint(uint64(len(m)))
	for k, v := range m {
		w.string(k)
		put(v)
	}
}

func (w *wireWriter) termStats(st *TermStats) {
	w.uvarint(st.DocCount)
	putMap(w, st.FieldLength, w.uvarint)
	putMap(w, st.DocFreq, func(terms map[string]uint64) { putMap(w, terms, w.uvarint) })
	putMap(w, st.Expansions, w.strings)
}

// wireReader reads a message; the first error sticks, and every read
// after it returns a zero value, so a decoder checks once at the end (and
// inside loops whose length it trusts only because of the checks).
type wireReader struct {
	b   []byte
	s   string // b as one string: decoded strings are substrings of it
	off int
	err error
}

func newWireReader(data []byte, kind byte) *wireReader {
	r := &wireReader{b: data, s: string(data)}
	switch {
	case len(data) < 2:
		r.fail("%d bytes", len(data))
	case data[0] != wireVersion:
		r.fail("version %d, want %d", data[0], wireVersion)
	case data[1] != kind:
		r.fail("message kind %q, want %q", data[1], kind)
	default:
		r.off = 2
	}
	return r
}

func (r *wireReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrWireFormat, fmt.Sprintf(format, args...))
	}
	r.off = len(r.b)
}

func (r *wireReader) left() int { return len(r.b) - r.off }

// done reports the first error, or trailing bytes.
func (r *wireReader) done() error {
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes after the end", r.left())
	}
	return r.err
}

func (r *wireReader) byte() byte {
	if r.left() < 1 {
		r.fail("truncated")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *wireReader) uint64() uint64 {
	if r.left() < 8 {
		r.fail("truncated")
		return 0
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:])
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// int reads a signed varint that must fit an int.
func (r *wireReader) int() int {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 || v < math.MinInt || v > math.MaxInt {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return int(v)
}

// count reads a number of elements of at least minBytes each, which the
// bytes left must be able to hold.
func (r *wireReader) count(minBytes int) int {
	n := r.uvarint()
	if n > uint64(r.left()/minBytes) {
		r.fail("%d elements in %d bytes", n, r.left())
		return 0
	}
	return int(n)
}

// take returns the next n bytes, sharing the message's memory.
func (r *wireReader) take(n uint64) []byte {
	if n > uint64(r.left()) {
		r.fail("%d bytes wanted, %d left", n, r.left())
		return nil
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off : r.off]
}

func (r *wireReader) bytes() []byte { return r.take(r.uvarint()) }

func (r *wireReader) string() string {
	n := r.uvarint()
	if n > uint64(r.left()) {
		r.fail("%d bytes wanted, %d left", n, r.left())
		return ""
	}
	r.off += int(n)
	return r.s[r.off-int(n) : r.off]
}

// strings reads a list; nil when empty.
func (r *wireReader) strings() []string {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string()
	}
	return out
}

func (r *wireReader) termStats() *TermStats {
	st := newTermStats()
	st.DocCount = r.uvarint()
	for range r.count(2) {
		f := r.string()
		st.FieldLength[f] = r.uvarint()
	}
	for range r.count(2) {
		f := r.string()
		n := r.count(2)
		terms := make(map[string]uint64, n)
		for range n {
			t := r.string()
			terms[t] = r.uvarint()
		}
		st.DocFreq[f] = terms
	}
	for range r.count(2) {
		sig := r.string()
		st.Expansions[sig] = r.strings()
	}
	if r.err != nil {
		return nil
	}
	return st
}
