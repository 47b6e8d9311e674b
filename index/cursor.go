package index

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// A cursor is the sort values of the last hit of a page plus the sort it
// belongs to, so the next page starts strictly after that hit on every
// shard (search_after). It is opaque to callers.
type cursor struct {
	Sort   string   `json:"s"`
	Values []string `json:"v"`
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
	data, _ := json.Marshal(cursor{Sort: sortSignature(keys), Values: values})
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
	return c.Values, nil
}
