// Package crawler turns the places image metadata lives — web pages, image
// files on disk, bulk feeds — into records (index/record.Record) and hands
// them to a Sink: a JSONL file, a running picdex server, or Kafka.
//
// The flow is Source → Sink. A Source (web.Crawler, files.Walker,
// feed.Reader) calls Emit once per record; a Sink batches and delivers them.
// Every input a source passes over is counted in a Tally with a short
// reason, so a crawl ends with a summary such as "412 images, 3 skipped:
// 2 not an image, 1 corrupt EXIF" instead of an error that stops it.
//
// Invariants:
//   - Bad input never stops a crawl: a source skips it, counts it and goes
//     on. Only a failing Sink or a cancelled context ends a crawl early.
//   - Extraction of untrusted bytes (HTML, images, EXIF) is bounded in the
//     bytes it reads and the time it takes, and recovers its own panics.
package crawler
