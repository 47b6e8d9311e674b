package imagefile

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
)

// sniff names the format of data from its first bytes; "" when it is not
// an image this package reads.
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "gif"
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		return "webp"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "tiff"
	case len(data) >= 26 && bytes.HasPrefix(data, []byte("BM")) && data[14] >= 12 && data[15] == 0:
		return "bmp"
	case len(data) >= 12 && bytes.Equal(data[4:8], []byte("ftyp")):
		switch string(data[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "heic"
		case "avif", "avis":
			return "avif"
		}
	}
	if isSVG(data) {
		return "svg"
	}
	return ""
}

var svgStart = regexp.MustCompile(`(?is)^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]`)

func isSVG(data []byte) bool {
	if len(data) > 4096 {
		data = data[:4096]
	}
	return svgStart.Match(data)
}

var (
	svgTag     = regexp.MustCompile(`(?is)<svg\b[^>]*>`)
	svgWidth   = regexp.MustCompile(`(?is)\swidth\s*=\s*["']\s*([0-9.]+)\s*(px)?\s*["']`)
	svgHeight  = regexp.MustCompile(`(?is)\sheight\s*=\s*["']\s*([0-9.]+)\s*(px)?\s*["']`)
	svgViewBox = regexp.MustCompile(`(?is)\sviewBox\s*=\s*["']\s*[-0-9.]+[\s,]+[-0-9.]+[\s,]+([0-9.]+)[\s,]+([0-9.]+)\s*["']`)
)

// svgSize reads an SVG's size from its root element's width and height,
// else its viewBox; zero when neither says.
func svgSize(data []byte) (w, h int) {
	if len(data) > 4096 {
		data = data[:4096]
	}
	tag := svgTag.Find(data)
	num := func(re *regexp.Regexp, i int) int {
		m := re.FindSubmatch(tag)
		if m == nil {
			return 0
		}
		f, err := strconv.ParseFloat(string(m[i]), 64)
		if err != nil || f <= 0 || f > 1e6 {
			return 0
		}
		return int(f + 0.5)
	}
	w, h = num(svgWidth, 1), num(svgHeight, 1)
	if w == 0 || h == 0 {
		w, h = num(svgViewBox, 1), num(svgViewBox, 2)
	}
	return w, h
}

// heicSize finds the largest image spatial extent ('ispe') property of a
// HEIF file: the primary image's size (tiles and thumbnails are smaller).
func heicSize(data []byte) (w, h int) {
	limit := min(len(data), 1<<20) // the meta box comes first
	rest := data[:limit]
	for {
		i := bytes.Index(rest, []byte("ispe"))
		if i < 0 || i+16 > len(rest) {
			return w, h
		}
		pw := binary.BigEndian.Uint32(rest[i+8:])
		ph := binary.BigEndian.Uint32(rest[i+12:])
		if uint64(pw)*uint64(ph) > uint64(w)*uint64(h) && pw < 1<<20 && ph < 1<<20 {
			w, h = int(pw), int(ph)
		}
		rest = rest[i+4:]
	}
}

// exifBlob finds the TIFF-structured EXIF block of a JPEG (its APP1
// segment), WebP (its EXIF chunk) or HEIF file (the item after
// "Exif\0\0"); nil when there is none. A JPEG segment longer than the
// file (truncated, or EXIF alone) gives what there is.
func exifBlob(data []byte, format string) []byte {
	if format == "jpeg" {
		for off := 2; off+4 <= len(data) && data[off] == 0xff; {
			marker := data[off+1]
			if marker == 0xda || marker == 0xd9 {
				return nil
			}
			size := int(binary.BigEndian.Uint16(data[off+2:]))
			if size < 2 {
				return nil
			}
			end := min(off+2+size, len(data))
			if seg := data[off+4 : end]; marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				return seg[6:]
			}
			off += 2 + size
		}
		return nil
	}
	if format == "webp" {
		for off := 12; off+8 <= len(data); {
			size := int(binary.LittleEndian.Uint32(data[off+4:]))
			if size < 0 || off+8+size > len(data) {
				return nil
			}
			if string(data[off:off+4]) == "EXIF" {
				return bytes.TrimPrefix(data[off+8:off+8+size], []byte("Exif\x00\x00"))
			}
			off += 8 + size + size&1
		}
		return nil
	}
	// The first "Exif" is usually the item type in the item list; the
	// payload is the one a TIFF header follows.
	for rest := data; ; {
		i := bytes.Index(rest, []byte("Exif\x00\x00"))
		if i < 0 {
			return nil
		}
		blob := rest[i+6:]
		if bytes.HasPrefix(blob, []byte("II*\x00")) || bytes.HasPrefix(blob, []byte("MM\x00*")) {
			return blob
		}
		rest = blob
	}
}
