package record

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A search reads each record of its page twice after fetching it: for the
// three strings highlighting marks, and to check, before copying it into
// the answer, that it is valid JSON. encoding/json does both with a state
// machine called per byte (and reflection, for the strings), which was
// most of a highlight and of encoding a page. The scanner here checks
// the syntax as strictly as json.Valid in one plain loop. Texts hands back
// only records whose decoding it is sure of, and leaves any other (a key
// that differs from a wanted one by case alone, a wanted value that is
// not a string, a syntax error) to encoding/json, so the texts are always
// what json.Unmarshal gives; ValidJSON asks json.Valid whenever the
// scanner says no.

// Texts returns the title, caption and alt of a record's JSON, or ok false
// when encoding/json must decide.
func Texts(raw []byte) (title, caption, alt string, ok bool) {
	s := jsonScan{b: raw}
	s.space()
	if !s.byte('{') {
		return "", "", "", false
	}
	s.space()
	if !s.byte('}') {
		for {
			s.space()
			key, escaped, good := s.str()
			if !good || escaped {
				return "", "", "", false
			}
			var dst *string
			switch string(key) {
			case "title":
				dst = &title
			case "caption":
				dst = &caption
			case "alt":
				dst = &alt
			default:
				// encoding/json matches keys regardless of case, by a
				// folding of its own beyond ASCII.
				if !ascii(key) || bytes.EqualFold(key, []byte("title")) || bytes.EqualFold(key, []byte("caption")) || bytes.EqualFold(key, []byte("alt")) {
					return "", "", "", false
				}
			}
			s.space()
			if !s.byte(':') {
				return "", "", "", false
			}
			s.space()
			if dst == nil {
				if !s.value(0) {
					return "", "", "", false
				}
			} else {
				start := s.i
				val, escaped, good := s.str()
				if !good {
					return "", "", "", false
				}
				if escaped || !utf8.Valid(val) {
					if json.Unmarshal(raw[start:s.i], dst) != nil {
						return "", "", "", false
					}
				} else {
					*dst = string(val)
				}
			}
			s.space()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return "", "", "", false
			}
		}
	}
	s.space()
	return title, caption, alt, s.i == len(s.b)
}

// ValidJSON reports whether raw is valid JSON, as json.Valid does.
func ValidJSON(raw []byte) bool {
	s := jsonScan{b: raw}
	s.space()
	if s.value(0) {
		s.space()
		if s.i == len(s.b) {
			return true
		}
	}
	return json.Valid(raw)
}

// jsonScan checks JSON syntax as strictly as json.Valid, position by
// position.
type jsonScan struct {
	b []byte
	i int
}

// maxScanDepth is the nesting past which a record is left to
// encoding/json (stored records nest MaxDepth deep at most).
const maxScanDepth = 200

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (s *jsonScan) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns its raw contents (between the
// quotes) and whether it has escapes.
func (s *jsonScan) str() (raw []byte, escaped, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				s.i += 6
			default:
				return nil, false, false
			}
		default:
			s.i++
		}
	}
	return nil, false, false
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// value consumes any value.
func (s *jsonScan) value(depth int) bool {
	if s.i >= len(s.b) || depth > maxScanDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		s.i++
		s.space()
		if s.byte('}') {
			return true
		}
		for {
			s.space()
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if !s.byte(':') {
				return false
			}
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.byte('}') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.space()
		if s.byte(']') {
			return true
		}
		for {
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return false
}

func (s *jsonScan) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScan) number() bool {
	s.byte('-')
	switch {
	case s.byte('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.byte('.') && !s.digits() {
		return false
	}
	if s.byte('e') || s.byte('E') {
		if !s.byte('+') {
			s.byte('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits consumes one digit or more.
func (s *jsonScan) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
