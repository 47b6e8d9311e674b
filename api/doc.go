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
//   - Writes take only JSON and NDJSON content types, never a missing one:
//     a cross-site page can send a body without a type, or as text/plain,
//     with no CORS preflight.
//   - Every answer with a body under /v1 is JSON: the router's HTML
//     redirects between paths with and without a trailing slash are off.
//
// Access control (Guard, in front of the public API's routes when keys or
// a rate limit are configured):
//   - API keys (Keys) are held only as SHA-256 digests; a presented key is
//     compared with every digest in constant time and is never logged or
//     echoed; logs and rate limits name a key by its non-secret id.
//   - With keys configured, a route under /v1 needs the scope its path
//     prefix calls for, and one that no rule names needs admin, so a new
//     route is closed until opened. Probes, /metrics, /openapi.json and
//     the UI never need a key, and probes and /metrics are never rate
//     limited.
//   - Rate limits are per key, or per TCP peer address (an IPv6 /64) for
//     requests without a valid key, never per a header a client sets; the
//     table of clients is bounded.
//   - CORS is off unless origins are configured, and credentials are never
//     allowed.
//   - The package registers no global metrics: with Options.Registerer nil
//     it records none.
//
// NewServer and LimitListener bound what one client can hold of a server:
// connections, header size and time, and the rate at which a body must
// arrive.
package api
