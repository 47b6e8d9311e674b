// Package indexbench is the benchmark harness behind `picdex bench`: it
// measures the index library against its performance targets, each time
// side by side with a baseline in the same process and run, so that a
// slower or faster machine moves both numbers and the ratio stays
// meaningful.
//
// Three suites:
//
//   - load: bulk-loads N synthetic records into picdex (index.Open with
//     Options.Shards, Apply in batches of 5,000) and into a plain bleve v2
//     index with the default mapping (dynamic fields, _all, term vectors;
//     batches of 1,000 records indexed as the record struct), alternating
//     which goes first. It reports records/s, allocated bytes per record and
//     size on disk, the medians, and the ratio picdex/bleve against the
//     target of 3x.
//   - query: latency of single-term, filter+facet (with and without a text
//     term), phrase, near-duplicate (phash distance 8) and cursor page-2
//     searches on an N-record picdex index, sequentially and in process,
//     after a warm-up and after background segment merges have settled.
//     Targets: single-term p99 < 2 ms, filter+facet p99 < 10 ms.
//   - relevance: known-item ranking quality (MRR@10, success@1, success@10)
//     of caption-style queries on picdex and on SQLite FTS5 with the same
//     field weights, over the synthetic corpus and the Tate collection when
//     it is present.
//
// Invariants: every corpus is generated into memory before any clock
// starts, both engines of a comparison get the very same records and
// queries, and the same Options (including Seed) give the same records and
// queries on every machine. A target that is missed prints FAIL but does
// not make Run return an error: Run fails only when the benchmark itself
// cannot run. Everything Run creates on disk lives under one scratch
// directory that is removed before Run returns.
//
// Latency targets are absolute, so every suite (and every load run) also
// reports how many CPUs other processes kept busy meanwhile, read from
// Linux's /proc: a FAIL on a shared machine can be told from a regression.
//
// Run writes only to the io.Writer it is given; the Go benchmarks in this
// package are the CI-sized versions of the load and query suites.
package indexbench
