// Package synth generates a deterministic, realistic synthetic corpus of
// image metadata records (record.Record) for benchmarks, load tests and the
// bundled demo corpus (testdata/demo.jsonl, served by `picdex serve` on an
// empty data directory, and `picdex gen` on the command line).
//
// Realism is what makes benchmarks mean something: caption, title, alt and
// description words follow a Zipf law over a ~2,000-word English vocabulary
// built from templates ("a red bus parked near the old bridge at sunset");
// about 8% of records are Korean and 2% Japanese or Chinese; tags overlap
// the caption vocabulary so tag and text queries correlate; cameras, lenses
// and exposure settings are real models and real stops; capture times carry
// the local offset of where the photo was taken; GPS points cluster around
// real cities and landmarks; and about 10% of hashed records are
// near-duplicates of an earlier one (1–8 flipped phash bits, the same text),
// so similarity search has real clusters to find.
//
// Invariants:
//   - Same Options, same bytes. Record i depends only on (Seed, i): a
//     prefix of a larger corpus equals the smaller corpus, and any index
//     range can be generated independently. Nothing iterates a map.
//   - Generation streams in O(1) memory: a near-duplicate regenerates its
//     original from that record's index instead of remembering it.
//   - Every record passes record.Normalize unchanged except for the id,
//     which is left empty to be derived from the (unique) URL.
//
// Changing a vocabulary list or a distribution changes the corpus; refresh
// the golden demo file with
//
//	go test ./crawler/synth -run TestDemoCorpus -update
package synth
