// Package cache wraps an index.Searcher with a bounded result cache and
// collapsed forwarding, for the query tier: a repeated search is answered
// from memory, and identical searches that arrive together share one
// search of the inner Searcher (one fan-out over the shards).
//
// It is a package of its own, not a part of index, because it is a policy
// of the query tier over any Searcher (the embedded Fanout, or a query
// server's fan-out over remote replicas) and needs nothing of the index's
// internals; index stays the engine.
//
// Keys. An entry is keyed by Options.Version() and the canonical JSON of
// the request: the request is one struct from the API down (GET and POST
// bind to it alike, so the order of fields in a body does not matter),
// and the cache also makes equal the spellings that cannot change a
// result: no size and the default size, and the order of the tags and
// format filters (both are sets). The query server's version is the live
// generation plus every shard's applied offsets, so a write makes every
// entry stale and a generation switch can never serve a result of the old
// generation. Version is read once per search, before the inner search
// starts: it must be cheap, and what the inner search sees must be at
// least as new as the version it returned.
//
// What is kept. Only complete successes: errors are never cached (request
// errors are found by validation before any shard works, so caching them
// would save little and would keep a message that names another
// spelling), nor are results with failed shards (a partial result must
// not outlive the failure), nor results larger than MaxEntryBytes. The
// cache is bounded by entries and by bytes (an estimate of the result's
// size in memory); the least recently used entry goes first.
//
// Collapsed forwarding. The first caller of a key starts the inner search
// in a flight that later identical callers join. The flight runs detached
// from its callers' cancellation, with the first caller's values (its
// client, for admission) and deadline: a caller whose context ends stops
// waiting at once without stopping the search for the others; the search
// is cancelled only when every caller has left. A caller that joined with
// a later deadline than the flight's, and finds the flight ended by its
// own deadline, runs the search again under its own. (Extending a running
// search to the longest deadline of its waiters would hide the deadline
// from the shards, which bound their work by it.)
//
// Results are the caller's: each caller gets its own deep copy (records,
// highlights, facets, failures), with took_ms its own time, so a caller
// may change what it got without touching the cache or another caller.
//
// Close drops the entries; the inner Searcher belongs to the caller.
package cache
