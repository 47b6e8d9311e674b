// Package record defines the image metadata record that flows through picdex:
// crawler → queue → indexer → index shards → query fan-out → API.
//
// A Record is parsed from one JSON object (one JSONL line, one Kafka message
// value or one element of a POST /v1/images batch). Parsing is strict about
// the fields the contract defines and lenient about everything else:
// unknown fields are kept verbatim and written back when the record is
// marshalled, so a stored record round-trips what the producer sent.
//
// Invariants after Normalize:
//   - ID is non-empty; when the producer gave none it is derived from URL
//     with DeriveID, so the same URL always yields the same id.
//   - Every typed field holds a value that validated (ranges, formats), so
//     the index never sees a latitude of 200 or a phash of 15 digits.
package record
