package index

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// A cursor is the sort values of the last hit of a page plus the sort it
// belongs to, so the next page starts strictly after that hit on every
// shard (search_after). It is opaque to callers.
type cursor struct {
	Sort   string   `json:"s"`
	Values [][]byte `json:"v"` // raw engine sort values; not always UTF-8
}

func sortSignature(keys []sortKey) string {
	var b strings.Builder
	for _, k := range keys {
		if k.desc {
			b.WriteByte('-')
		}
		b.WriteString(k.field)
		b.WriteByte(',')
	}
	return b.String()
}

func encodeCursor(keys []sortKey, values []string) string {
	raw := make([][]byte, len(values))
	for i, v := range values {
		raw[i] = []byte(v)
	}
	data, _ := json.Marshal(cursor{Sort: sortSignature(keys), Values: raw})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeCursor(s string, keys []sortKey) ([]string, error) {
	if len(s) > 8192 {
		return nil, badParam("cursor", "malformed")
	}
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, badParam("cursor", "malformed")
	}
	var c cursor
	if err := json.Unmarshal(data, &c); err != nil || len(c.Values) != len(keys) {
		return nil, badParam("cursor", "malformed")
	}
	if c.Sort != sortSignature(keys) {
		return nil, badParam("cursor", "belongs to another sort order")
	}
	out := make([]string, len(c.Values))
	for i, v := range c.Values {
		out[i] = string(v)
		switch keys[i].field {
		case "_score":
			if _, err := strconv.ParseFloat(out[i], 64); err != nil {
				return nil, badParam("cursor", "malformed")
			}
		case distanceKey:
			if _, err := strconv.Atoi(out[i]); err != nil {
				return nil, badParam("cursor", "malformed")
			}
		}
	}
	return out, nil
}
