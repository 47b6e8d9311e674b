package index

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wirePayloads are real shard answers: phase 1 and phase 2 of a sorted,
// faceted search with 10 and 100 hits, from one shard of a 4-shard index.
type wirePayload struct {
	req    *ShardRequest
	stats  *TermStats
	result *ShardResult
}

var (
	wireOnce     sync.Once
	wireData     map[int]wirePayload
	wireFailures error
)

func wirePayloads(t testing.TB) map[int]wirePayload {
	wireOnce.Do(func() {
		dir := t.TempDir()
		if b, ok := t.(*testing.B); ok {
			b.StopTimer()
			defer b.StartTimer()
		}
		ix, err := Open(dir, Options{Shards: 4})
		if err != nil {
			wireFailures = err
			return
		}
		defer ix.Close()
		ctx := context.Background()
		if wireFailures = ix.Apply(ctx, skewedCorpus(4000, 3)); wireFailures != nil {
			return
		}
		wireData = map[int]wirePayload{}
		for _, n := range []int{10, 100} {
			req := &Request{Query: "bus river zeph*", Size: &n, Sort: []string{"-taken_at"}, Facets: []string{"tags", "format"}}
			sr := &ShardRequest{Request: req}
			st, err := ix.shards[0].TermStats(ctx, sr)
			if err != nil {
				wireFailures = err
				return
			}
			sr2 := &ShardRequest{Request: req, Stats: st}
			res, err := ix.shards[0].SearchShard(ctx, sr2)
			if err != nil {
				wireFailures = err
				return
			}
			wireData[n] = wirePayload{req: sr2, stats: st, result: res}
		}
	})
	if wireFailures != nil {
		t.Fatal(wireFailures)
	}
	return wireData
}

func TestWireRoundTrip(t *testing.T) {
	for n, p := range wirePayloads(t) {
		require.Len(t, p.result.Hits, n)
		require.NotEmpty(t, p.result.Facets["tags"])

		res, err := DecodeShardResult(EncodeShardResult(p.result))
		require.NoError(t, err)
		require.Equal(t, p.result, res, "%d hits", n)

		st, err := DecodeTermStats(EncodeTermStats(p.stats))
		require.NoError(t, err)
		require.Equal(t, p.stats, st)

		data, err := EncodeShardRequest(p.req)
		require.NoError(t, err)
		sr, err := DecodeShardRequest(data)
		require.NoError(t, err)
		require.Nil(t, sr.plan, "a decoded request is validated by the shard")
		require.Equal(t, p.req.Request, sr.Request)
		require.Equal(t, p.req.Stats, sr.Stats)
	}

	// Everything a hit can carry, and values JSON would lose.
	d := 3
	res := &ShardResult{Total: math.MaxUint64, Hits: []ShardHit{
		{Hit: Hit{ID: "a", Score: math.Inf(1), Distance: &d, Image: json.RawMessage(`{"a":"<b>"}`),
			Highlights: map[string][]string{"title": {"<mark>x</mark>"}}}, Sort: []string{"\x00\xff\x80", ""}},
		{Hit: Hit{ID: "", Score: -0.0, Image: json.RawMessage{}}},
	}}
	got, err := DecodeShardResult(EncodeShardResult(res))
	require.NoError(t, err)
	require.Equal(t, res.Hits[0], got.Hits[0])
	require.Equal(t, math.Float64bits(res.Hits[1].Score), math.Float64bits(got.Hits[1].Score))
	require.NotNil(t, got.Hits[1].Image, "an empty record is not an absent one")

	recs := []json.RawMessage{json.RawMessage(`{"id":"x","title":"<&>"}`), nil, json.RawMessage(`{}`)}
	gotRecs, err := DecodeRecords(EncodeRecords(recs))
	require.NoError(t, err)
	require.Equal(t, recs, gotRecs)

	ids, err := DecodeIDs(EncodeIDs([]string{"a", "b/c", ""}))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b/c", ""}, ids)

	sr := &ShardRequest{Request: &Request{Query: "x"}, Budget: Budget{MaxTerms: -5, MaxPageBytes: math.MaxInt}, LowPriority: true, Records: 30}
	data, err := EncodeShardRequest(sr)
	require.NoError(t, err)
	back, err := DecodeShardRequest(data)
	require.NoError(t, err)
	require.Equal(t, sr, back)
	_, err = EncodeShardRequest(&ShardRequest{})
	require.ErrorIs(t, err, ErrBadRequest)
}

func TestWireRejects(t *testing.T) {
	valid := EncodeShardResult(&ShardResult{Total: 1, Hits: []ShardHit{{Hit: Hit{ID: "a"}, Sort: []string{"x"}}}})
	for name, data := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, valid[1:]...),
		"kind":           append([]byte{wireVersion, wireTermStats}, valid[2:]...),
		"truncated":      valid[:len(valid)-1],
		"trailing":       append(append([]byte{}, valid...), 0),
		"huge count":     {wireVersion, wireShardResult, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge string":    {wireVersion, wireShardResult, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":     {wireVersion, wireShardResult, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"unknown flags ": {wireVersion, wireShardResult, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0},
	} {
		_, err := DecodeShardResult(data)
		require.ErrorIs(t, err, ErrWireFormat, name)
	}
	_, err := DecodeShardRequest([]byte{wireVersion, wireShardRequest, 0, 0, 0, 0, 0, 0, 0, 4, 'n', 'u', 'l', 'l'})
	require.ErrorIs(t, err, ErrBadRequest, "a request must be an object")
	_, err = DecodeShardRequest([]byte{wireVersion, wireShardRequest, 0x80, 0, 0, 0, 0, 0, 0, 2, '{', '}'})
	require.ErrorIs(t, err, ErrWireFormat, "unknown flags")
	_, err = DecodeShardRequest([]byte{wireVersion, wireShardRequest, 0, 0, 0, 0, 0, 0, 1, 2, '{', '}'})
	require.ErrorIs(t, err, ErrBadRequest, "a negative number of records")
}

// FuzzWireDecode feeds arbitrary bytes to every decoder: they may refuse
// them, but never panic, and never allocate much more than the input
// (lengths are checked against the bytes left). What decodes re-encodes
// to the same value.
func FuzzWireDecode(f *testing.F) {
	f.Add(EncodeShardResult(&ShardResult{Total: 2, Hits: []ShardHit{{Hit: Hit{ID: "a", Score: 1.5}, Sort: []string{"\xff", "a"}}},
		Facets: map[string][]FacetValue{"tags": {{"bus", 3}}}}))
	f.Add(EncodeTermStats(&TermStats{DocCount: 9, FieldLength: map[string]uint64{"title": 20},
		DocFreq: map[string]map[string]uint64{"title": {"bus": 2}}, Expansions: map[string][]string{"p:title:b": {"bus"}}}))
	req, _ := EncodeShardRequest(&ShardRequest{Request: &Request{Query: "bus"}, Stats: newTermStats(), LowPriority: true})
	f.Add(req)
	f.Add(EncodeIDs([]string{"a", "b"}))
	f.Add(EncodeRecords([]json.RawMessage{json.RawMessage(`{}`), nil}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, resErr := DecodeShardResult(data)
		st, stErr := DecodeTermStats(data)
		sr, srErr := DecodeShardRequest(data)
		ids, idsErr := DecodeIDs(data)
		recs, recsErr := DecodeRecords(data)
		runtime.ReadMemStats(&after)
		// Five decoders, each at most a few dozen bytes per input byte
		// (a hit struct for every 11 bytes, a map entry for every 2),
		// plus the JSON decoder's and the runtime's own.
		if grown := after.TotalAlloc - before.TotalAlloc; grown > uint64(200*len(data)+256<<10) {
			t.Fatalf("decoding %d bytes allocated %d", len(data), grown)
		}
		if resErr == nil {
			again, err := DecodeShardResult(EncodeShardResult(res))
			require.NoError(t, err)
			// Scores cross bit for bit; NaN is not equal to itself, so
			// they are compared as bits and then left out.
			for i := range res.Hits {
				require.Equal(t, math.Float64bits(res.Hits[i].Score), math.Float64bits(again.Hits[i].Score))
				res.Hits[i].Score, again.Hits[i].Score = 0, 0
			}
			require.Equal(t, res, again)
		}
		if stErr == nil {
			again, err := DecodeTermStats(EncodeTermStats(st))
			require.NoError(t, err)
			require.Equal(t, st, again)
		}
		if srErr == nil {
			enc, err := EncodeShardRequest(sr)
			require.NoError(t, err)
			again, err := DecodeShardRequest(enc)
			require.NoError(t, err)
			require.Equal(t, sr.Stats, again.Stats)
			require.Equal(t, sr.Budget, again.Budget)
			// A decoded request is validated by the shard: it may be
			// wrong, but only as a bad request.
			if _, err := sr.validated(); err != nil {
				require.ErrorIs(t, err, ErrBadRequest)
			}
		}
		if idsErr == nil {
			again, err := DecodeIDs(EncodeIDs(ids))
			require.NoError(t, err)
			require.Equal(t, ids, again)
		}
		if recsErr == nil {
			again, err := DecodeRecords(EncodeRecords(recs))
			require.NoError(t, err)
			require.Equal(t, recs, again)
		}
	})
}

// wireCodec encodes and decodes one phase-2 answer (the shard's side and
// the caller's side of a call).
type wireCodec struct {
	name string
	run  func(*ShardResult) (*ShardResult, int, error)
}

var wireCodecs = []wireCodec{
	{"json", func(r *ShardResult) (*ShardResult, int, error) {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, 0, err
		}
		var out ShardResult
		return &out, len(data), json.Unmarshal(data, &out)
	}},
	{"gob", func(r *ShardResult) (*ShardResult, int, error) {
		// A fresh encoder per message, as one HTTP call would need.
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(r); err != nil {
			return nil, 0, err
		}
		n := buf.Len()
		var out ShardResult
		return &out, n, gob.NewDecoder(&buf).Decode(&out)
	}},
	{"binary", func(r *ShardResult) (*ShardResult, int, error) {
		data := EncodeShardResult(r)
		out, err := DecodeShardResult(data)
		return out, len(data), err
	}},
}

// BenchmarkWire encodes and decodes a real phase-2 answer (10 and 100
// hits sorted by date, with the tags and format facets: every tag value
// the shard has) with JSON, gob and the binary wire format, side by side
// in one run, and prints each one's time against JSON's. Run with
// -count 5 and take the medians of the ratios.
func BenchmarkWire(b *testing.B) {
	payloads := wirePayloads(b)
	for _, n := range []int{10, 100} {
		p := payloads[n]
		perOp := map[string]time.Duration{}
		for _, c := range wireCodecs {
			b.Run(fmt.Sprintf("hits=%d/%s", n, c.name), func(b *testing.B) {
				var size int
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if _, size, err = c.run(p.result); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(size), "bytes/msg")
				perOp[c.name] = b.Elapsed() / time.Duration(b.N)
			})
		}
		if perOp["json"] > 0 {
			fmt.Printf("BenchmarkWire hits=%d: gob/json %.2f, binary/json %.2f (time per encode+decode; lower is faster)\n",
				n, float64(perOp["gob"])/float64(perOp["json"]), float64(perOp["binary"])/float64(perOp["json"]))
		}
	}
	// Phase 1's answer, the other hot message.
	st := payloads[10].stats
	perOp := map[string]time.Duration{}
	for name, run := range map[string]func() error{
		"json": func() error {
			data, err := json.Marshal(st)
			if err != nil {
				return err
			}
			var out TermStats
			return json.Unmarshal(data, &out)
		},
		"binary": func() error { _, err := DecodeTermStats(EncodeTermStats(st)); return err },
	} {
		b.Run("termstats/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
			perOp[name] = b.Elapsed() / time.Duration(b.N)
		})
	}
	if perOp["json"] > 0 {
		fmt.Printf("BenchmarkWire termstats: binary/json %.2f\n", float64(perOp["binary"])/float64(perOp["json"]))
	}
}

// TestPreparedRequestIsShared: a decoded request prepared once (as a
// shard server does for a batch) gives every shard its plan and query
// tree and answers as unprepared; one in error stays unprepared, so each
// shard still answers it with the request's error.
func TestPreparedRequestIsShared(t *testing.T) {
	ix := openWith(t, 2, skewedCorpus(1000, 5))
	ctx := context.Background()
	req := &Request{Query: "red bus", Facets: []string{"tags"}}
	direct, err := ix.Search(ctx, req)
	require.NoError(t, err)

	stats := newTermStats()
	for _, sh := range ix.Shards() {
		st, err := sh.TermStats(ctx, &ShardRequest{Request: req})
		require.NoError(t, err)
		stats.Add(st)
	}
	data, err := EncodeShardRequest(&ShardRequest{Request: req, Stats: stats, Records: 10})
	require.NoError(t, err)
	sr, err := DecodeShardRequest(data)
	require.NoError(t, err)
	require.NoError(t, sr.Prepare())
	p := sr.plan
	require.NotNil(t, p)
	require.NoError(t, sr.Prepare())
	require.Same(t, p, sr.plan, "prepared once")
	total := uint64(0)
	for _, sh := range ix.Shards() {
		res, err := sh.SearchShard(ctx, sr)
		require.NoError(t, err)
		total += res.Total
		for _, h := range res.Hits[:min(10, len(res.Hits))] {
			require.NotEmpty(t, h.Image, "inline record of %s", h.ID)
		}
	}
	require.Equal(t, direct.Total, total)
	require.NotNil(t, sr.tree, "the shards shared one query tree")

	bad, err := DecodeShardRequest(mustEncode(t, &ShardRequest{Request: &Request{Query: "x", From: -1}}))
	require.NoError(t, err)
	require.Error(t, bad.Prepare())
	require.Nil(t, bad.plan)
	_, err = ix.Shards()[0].SearchShard(ctx, bad)
	require.ErrorIs(t, err, ErrBadRequest)
}

func mustEncode(t *testing.T, sr *ShardRequest) []byte {
	t.Helper()
	data, err := EncodeShardRequest(sr)
	require.NoError(t, err)
	return data
}
