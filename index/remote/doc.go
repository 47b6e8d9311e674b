// Package remote is the network form of index.Shard: a shard server
// serves the replicas it hosts over an internal HTTP API (NewHandler), and
// a query server reaches each of them through a Client, which implements
// index.Shard, so the unchanged index.Fanout searches shards in other
// processes as it searches local ones.
//
// The API, under /internal/v1:
//
//	POST generations/{g}/shards/{s}/termstats   phase 1: index.ShardRequest → index.TermStats
//	POST generations/{g}/shards/{s}/search      phase 2: index.ShardRequest → index.ShardResult
//	POST generations/{g}/shards/{s}/fetch       phase 3: ids → records
//	POST generations/{g}/batch/{termstats|search}
//	                                            one shard request on several shards → each one's answer
//	GET  generations/{g}/shards/{s}/images/{id} one stored record, 404 when absent
//	GET  info                                   Info (JSON)
//
// plus GET /healthz and /readyz. Shard calls carry the binary wire format
// of package index (index.WireContentType); info and errors are JSON,
// errors in the public API's shape {"error":{"code":..,"message":..}}.
//
// A query server reaches a shard server through one Server, whose
// Clients are its shards: the calls of one fan-out phase to several of
// them travel as one batch request (see Server), whose answer streams
// each shard's part (its offset, status and body, as its own call would
// have answered) as soon as that shard is done.
//
// Invariants:
//   - Every shard response carries X-Picdex-Offset (every part of a
//     batch, its offset field), the replica's applied shard-log offset
//     read before the call ran: the answer reflects at least that
//     offset, so a cache keyed by it is never fresher than its entry.
//   - In a batch, each call is answered as it would be alone: an error
//     is its shard's only, and a caller whose context ends stops waiting
//     at once; the shards of a batch work until the last caller's
//     context ends.
//   - The caller's remaining time travels in X-Picdex-Timeout-Ms and
//     bounds the shard's work; a server never works longer than its
//     MaxTimeout on one call.
//   - A remote error comes back as the error the shard returned, as far
//     as callers test it: errors.Is index.ErrBadRequest, a
//     *index.BudgetError with its fields, a *index.RequestError with its
//     param, index.ErrNotFound, index.ErrOverloaded, context deadline and
//     cancellation. A shard the server does not host is ErrUnknownShard.
//   - A decoded request carries no plan from the caller: the server
//     validates it (once for all the shards of a batch) and each shard
//     clamps its budget to its own index's, so a caller can never ask a
//     shard server for more work than that server allows.
//   - Bodies are bounded both ways (HandlerOptions.MaxBodyBytes,
//     ClientOptions.MaxResponseBytes); a panic in a shard is a logged 500.
//
// Authentication is not done here: a shard server wraps the handler with
// api.Guard, and a Client sends its ClientOptions.APIKey as a bearer key.
package remote
