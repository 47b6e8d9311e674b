// Package index is picdex's embeddable, sharded image-metadata index.
//
// An Index is N bleve shards in one directory. Records are routed to a
// shard by jump consistent hashing of their id, so the same id always lands
// on the same shard and a future reshard moves as few documents as
// possible. Apply writes each shard's part of a call as one atomic bleve
// batch and returns once it is persisted.
//
// Searches go through a Searcher. The local Fanout runs two phases: every
// shard first reports the statistics of the terms the query touches
// (document frequencies, field lengths, and the terms a fuzzy, prefix,
// wildcard or regexp clause expands to); the sums are then handed to every
// shard, which scores with them. A document's score is therefore the same
// whichever shard holds it and however many shards there are. Each shard
// returns its best from+size hits with exact facet counts; the fan-out
// merge-sorts, pages and trims.
//
// Query strings use the syntax of package index/query. A bare word searches
// title, caption and alt (boost 3, 3, 2.5), tags (1.5) and description (1)
// with BM25. Text is analyzed by one analyzer for every language: Unicode
// word segmentation, CJK width folding, lower case, overlapping bigrams for
// Han, kana and Hangul runs (so Chinese, Japanese and Korean words match
// inside longer runs and regardless of Korean particles), English
// possessives, stop words and snowball stemming.
//
// Invariants:
//   - A shard refuses to open if it was built with another MappingVersion;
//     the fix is a reindex, never a silent misread.
//   - The manifest fixes the shard count and routing of a directory.
//   - Filters never change scores; filter-only searches score 0.
//   - Near-duplicate search (Filter.Similar) reports every image within the
//     distance and no other (every hash compared, distances exact).
//   - Every error caused by the request wraps ErrBadRequest.
//   - No search costs more than its Budget allows: the patterns and terms
//     of the query are counted before any shard works, expansions while
//     shards list them (each shard stops at its own count) and over their
//     union, and a page's records by their bytes; past a limit the error is
//     a *BudgetError. A shard takes a request's budget only up to its
//     index's own.
//   - Every walk over a dictionary, a collection, a facet count and the
//     highlighting checks the search's context; the fan-out answers at the
//     deadline without waiting for shards, and never reads what a shard
//     call still running writes.
//   - Expensive searches (Cost.Expensive, or a facet on a field seen with
//     many values) go through Admission and run at low priority; cheap
//     ones are never queued.
package index
