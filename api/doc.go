// Package api is picdex's HTTP surface: the versioned JSON API under /v1,
// health and readiness probes, the OpenAPI document and the web UI, served
// with gin.
//
// The package knows nothing about shards or bleve. It depends on three small
// interfaces — Searcher, Store and Ingester — so the same handlers serve a
// local index (see IndexBackend), a remote query tier or a queue-backed
// ingester, and tests use tiny fakes.
//
// Invariants:
//   - Every error response has the shape {"error":{"code":…,"message":…}}.
//     A 4xx means the caller got something wrong; a 5xx is a server fault
//     and is logged. A panic in a handler becomes a 500 JSON answer, never a
//     stack trace sent to the client.
//   - A search response body is index.Result encoded with encoding/json,
//     byte for byte what `picdex search --json` prints.
//   - A batch ingest is all or nothing: when any record is invalid, none is
//     handed to the Ingester.
package api
