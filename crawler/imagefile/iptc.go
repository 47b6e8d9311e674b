package imagefile

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// iptc is what picdex reads from IPTC-IIM (the Photoshop APP13 block of a
// JPEG): object name, caption, keywords, by-line and copyright.
type iptc struct {
	title, caption, creator, copyright string
	keywords                           []string
}

// readIPTC walks a JPEG's segments up to the image data for an APP13
// "Photoshop 3.0" block and reads its IPTC-IIM resource (0x0404). Every
// length is checked against what is left, so bogus ones end the walk.
func readIPTC(data []byte) (out iptc) {
	for off := 2; off+4 <= len(data); {
		if data[off] != 0xff {
			return out
		}
		marker := data[off+1]
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return out
		}
		size := int(binary.BigEndian.Uint16(data[off+2:]))
		if size < 2 || off+2+size > len(data) {
			return out
		}
		seg := data[off+4 : off+2+size]
		if marker == 0xed && bytes.HasPrefix(seg, []byte("Photoshop 3.0\x00")) {
			if iim := photoshopResource(seg[14:], 0x0404); iim != nil {
				return parseIIM(iim)
			}
		}
		off += 2 + size
	}
	return out
}

// photoshopResource finds resource id in a list of 8BIM image resources.
func photoshopResource(b []byte, id uint16) []byte {
	for len(b) >= 12 && bytes.HasPrefix(b, []byte("8BIM")) {
		rid := binary.BigEndian.Uint16(b[4:])
		nameLen := int(b[6])
		p := 7 + nameLen
		if p%2 == 1 { // the Pascal name is padded to even length
			p++
		}
		if p+4 > len(b) {
			return nil
		}
		size := int(binary.BigEndian.Uint32(b[p:]))
		p += 4
		if size < 0 || p+size > len(b) {
			return nil
		}
		if rid == id {
			return b[p : p+size]
		}
		p += size + size&1
		if p > len(b) {
			return nil
		}
		b = b[p:]
	}
	return nil
}

// parseIIM reads the dataset records of IPTC-IIM record 2. Text is UTF-8
// when the file says so (1:90 ESC % G) or is valid UTF-8, else Latin-1.
func parseIIM(b []byte) (out iptc) {
	utf8Declared := false
	var fields [][2][]byte // tag and value, decoded at the end
	for len(b) >= 5 && b[0] == 0x1c {
		rec, ds := b[1], b[2]
		size := int(binary.BigEndian.Uint16(b[3:]))
		if size&0x8000 != 0 { // extended length: not used for text
			return out
		}
		if 5+size > len(b) {
			break
		}
		v := b[5 : 5+size]
		if rec == 1 && ds == 90 && bytes.Equal(v, []byte("\x1b%G")) {
			utf8Declared = true
		}
		if rec == 2 {
			fields = append(fields, [2][]byte{{ds}, v})
		}
		b = b[5+size:]
	}
	text := func(v []byte) string {
		v = bytes.TrimRight(v, "\x00 ")
		if utf8Declared || utf8.Valid(v) {
			return string(bytes.ToValidUTF8(v, nil))
		}
		s, _ := charmap.ISO8859_1.NewDecoder().Bytes(v)
		return string(s)
	}
	for _, f := range fields {
		v := text(f[1])
		switch f[0][0] {
		case 5:
			out.title = v
		case 25:
			if len(out.keywords) < maxKeywords {
				out.keywords = append(out.keywords, v)
			}
		case 80:
			if out.creator == "" {
				out.creator = v
			}
		case 116:
			out.copyright = v
		case 120:
			out.caption = v
		}
	}
	return out
}
