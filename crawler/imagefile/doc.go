// Package imagefile reads what an image file says about itself: its real
// format, its size, its EXIF, XMP and IPTC metadata, and on request a
// perceptual hash and dominant colours of its pixels.
//
// # Untrusted input
//
// Extract takes the whole file as bytes, refused beyond Options.MaxBytes.
// The format comes from the bytes, never the name: JPEG, PNG, GIF, WebP,
// TIFF, BMP, HEIC/HEIF and AVIF (size and metadata only: there is no
// decoder for their pixels), and SVG (size from its root element). The
// size is read from the header without decoding pixels, and a size over
// Options.MaxPixels is refused (ErrBomb) before any decode. JPEG segments
// are walked here with every length checked; the metadata library reads
// only TIFF structures, and its panics become ErrCorrupt. FuzzExtract
// found an endless loop in the library's JPEG scanner, which is why it is
// not used.
//
// A file whose header does not decode but whose EXIF does (EXIF-only
// JPEGs, truncated files) is kept with its metadata and no size; one with
// nothing readable is ErrCorrupt. Unreadable metadata is left out, not an
// error.
//
// # Values
//
//   - Width and Height are as displayed: EXIF orientations 5–8 swap them,
//     and the perceptual hash is taken of the image turned upright.
//   - taken_at is DateTimeOriginal (else CreateDate) in RFC 3339: with
//     OffsetTimeOriginal when recorded (2021-04-11T15:47:53-05:00);
//     without it, the camera's local time is written with "Z", because the
//     zone is unknown. Dates before 1826 or in the future are dropped.
//   - GPS is decimal degrees, south and west negative, altitude below sea
//     level negative; 0,0 and out-of-range positions are dropped.
//   - Make is as the metadata library normalises it ("NIKON CORPORATION"
//     becomes "Nikon"), so that facets group one brand.
//   - Title, description, creator, copyright and keywords come from EXIF,
//     then XMP (dc:title, dc:description, dc:creator, dc:rights,
//     dc:subject), then IPTC-IIM (object name, caption, by-line, copyright,
//     keywords), the first non-empty value winning; keywords are merged.
//
// Checked against exiftool on the shared samples (testdata/samples.golden.json
// holds the results; TestSharedSamples compares them): make 83 of 96
// files exactly, most of the rest differing only by the normalisation
// above; model 91/96, DateTimeOriginal 90/99, GPS 23/26, f-number 86/90,
// ISO 70/85. The misses are values exiftool reads from maker notes or a
// second EXIF block, and files the library cannot parse.
//
// # Perceptual hash
//
// PHash is a DCT hash: 32×32 grey levels by area averaging, a 2-D DCT, and
// one bit per coefficient of the 8×8 lowest frequencies, set when above
// their median; 16 hex digits in records. A resized or re-encoded copy
// differs in a few bits (TestPHashNearDuplicates: at most 6), another
// picture in many more.
package imagefile
