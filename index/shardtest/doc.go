// Package shardtest is the one test suite every index.Shard
// implementation passes: local bleve shards, remote shards behind the
// internal API (package index/remote), replica sets. Run builds a corpus,
// asks the implementation for shards holding it, and checks the unchanged
// index.Fanout over them against a single-shard local index: the same
// hits in the same order with the same scores, records, highlights,
// facets and cursors; and that the shards fetch, refuse bad requests and
// over-budget ones, and stop at deadlines as the interface says.
//
// It is a library for tests (it imports testing and testify); nothing
// outside _test files should import it.
package shardtest
