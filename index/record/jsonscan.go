package record

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// MaxDepth bounds how deeply the arrays and objects of a record nest: a
// record of ten thousand nested arrays is valid JSON, stored and served
// back, and then breaks every client parser with a depth limit (jq stops
// at 10,000, Python's json at its recursion limit).
const MaxDepth = 64

var errNotObject = errors.New("not a JSON object")

// ObjectKeys returns the member names of the top level of the JSON object
// data, in the order written and with their escapes resolved, and how
// deeply its arrays and objects nest (the object itself is depth 1). data
// must be valid JSON; a value that is not an object is errNotObject.
func ObjectKeys(data []byte) (keys []string, depth int, err error) {
	var (
		level             int
		inString, escaped bool
		expectKey         bool
		keyStart          = -1
		hasEscape         bool
	)
	started := false
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped, hasEscape = true, true
			case c == '"':
				inString = false
				if keyStart >= 0 {
					k, err := unquoteKey(data[keyStart:i+1], hasEscape)
					if err != nil {
						return nil, 0, err
					}
					keys = append(keys, k)
					keyStart = -1
				}
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			if !started {
				return nil, 0, errNotObject
			}
			inString, hasEscape = true, false
			if level == 1 && expectKey {
				keyStart, expectKey = i, false
			}
		case '{', '[':
			if !started && c != '{' {
				return nil, 0, errNotObject
			}
			level++
			depth = max(depth, level)
			expectKey = c == '{' && level == 1
		case '}', ']':
			level--
		case ',':
			expectKey = level == 1
		default:
			if !started {
				return nil, 0, errNotObject
			}
		}
		started = true
	}
	if !started {
		return nil, 0, errNotObject
	}
	return keys, depth, nil
}

// unquoteKey resolves a key as encoding/json does: escapes, and invalid
// UTF-8 as U+FFFD.
func unquoteKey(quoted []byte, escaped bool) (string, error) {
	if !escaped && utf8.Valid(quoted) {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var k string
	err := json.Unmarshal(quoted, &k)
	return k, err
}
