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
// data, in the order written and with their escapes resolved, how deeply
// its arrays and objects nest (the object itself is depth 1), and the
// first name given twice in one of its nested objects ("" for none; the
// top level's repeats are in keys). data must be valid JSON; a value that
// is not an object is errNotObject.
func ObjectKeys(data []byte) (keys []string, depth int, nestedDup string, err error) {
	type frame struct {
		object, expectKey bool
		seen              map[string]bool // names of a nested object so far
	}
	var (
		stack             []frame
		inString, escaped bool
		keyStart          = -1
		hasEscape         bool
	)
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped, hasEscape = true, true
			case c == '"':
				inString = false
				if keyStart < 0 {
					continue
				}
				k, err := unquoteKey(data[keyStart:i+1], hasEscape)
				if err != nil {
					return nil, 0, "", err
				}
				keyStart = -1
				if len(stack) == 1 {
					keys = append(keys, k)
					continue
				}
				top := &stack[len(stack)-1]
				if top.seen == nil {
					top.seen = map[string]bool{}
				}
				if top.seen[k] && nestedDup == "" {
					nestedDup = k
				}
				top.seen[k] = true
			}
			continue
		}
		if len(stack) == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '{' {
			return nil, 0, "", errNotObject
		}
		switch c {
		case '"':
			inString, hasEscape = true, false
			if top := len(stack) - 1; top >= 0 && stack[top].object && stack[top].expectKey {
				keyStart, stack[top].expectKey = i, false
			}
		case '{', '[':
			stack = append(stack, frame{object: c == '{', expectKey: c == '{'})
			depth = max(depth, len(stack))
		case '}', ']':
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return keys, depth, nestedDup, nil
			}
		case ',':
			if top := len(stack) - 1; stack[top].object {
				stack[top].expectKey = true
			}
		}
	}
	return nil, 0, "", errNotObject
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
