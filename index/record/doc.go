// Package record defines the image metadata record that flows through picdex:
// crawler → queue → indexer → index shards → query fan-out → API.
//
// A Record is parsed from one JSON object (one JSONL line, one Kafka message
// value or one element of a POST /v1/images batch). Parsing is strict about
// the fields the contract defines and lenient about everything else:
// unknown fields are kept verbatim and written back when the record is
// marshalled, so a stored record round-trips what the producer sent — with
// one repair: a byte that is not valid UTF-8, in a known field or anywhere
// in an unknown one (name or value), becomes U+FFFD (the escape \ufffd
// inside a JSON string), as encoding/json decodes it. Stored JSON is
// therefore always valid UTF-8; RepairJSON applies the same repair to
// records stored by versions that kept such bytes. Texts and ValidJSON read
// stored records on the query path in one plain pass, and always agree
// with json.Unmarshal and json.Valid (they ask them when unsure).
//
// An invalid record is reported whole: Parse and Normalize check every
// field and return an Errors holding one FieldError per problem, in schema
// order, each wrapping ErrInvalid. A tag longer than MaxTagBytes is such a
// problem (it used to be dropped).
//
// Invariants after Normalize:
//   - ID is non-empty and obeys NormalizeID (trimmed, valid UTF-8, at most
//     MaxIDBytes); when the producer gave none it is derived from URL with
//     DeriveID, so the same URL always yields the same id. NormalizeID is
//     also the rule by which the API finds an image by id.
//   - Every typed field holds a value that validated (ranges, formats), so
//     the index never sees a latitude of 200 or a phash of 15 digits.
//   - Every string, and all of Extra, is valid UTF-8.
//   - Normalize is idempotent.
package record
