package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index"
)

// writeResult answers a search. The hits' records are the index's stored
// JSON: each is checked to be valid and copied as it is, where
// json.Marshal would compact and re-escape every byte of it again (the
// larger part of encoding a page). The rest is encoded by encoding/json,
// in the order and with the names of index.Result's tags.
func (s *server) writeResult(c *gin.Context, res *index.Result) {
	body, err := encodeResult(res)
	if err != nil {
		s.writeJSON(c, http.StatusOK, res) // reports the error as writeJSON does
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

var errInvalidRecord = errors.New("a stored record is not valid JSON")

func encodeResult(res *index.Result) ([]byte, error) {
	head, err := json.Marshal(struct {
		Total  uint64 `json:"total"`
		TookMS int64  `json:"took_ms"`
	}{res.Total, res.TookMS})
	if err != nil {
		return nil, err
	}
	tail, err := json.Marshal(struct {
		Facets     map[string][]index.FacetValue `json:"facets,omitempty"`
		Shards     index.ShardStatus             `json:"shards"`
		NextCursor string                        `json:"next_cursor,omitempty"`
	}{res.Facets, res.Shards, res.NextCursor})
	if err != nil {
		return nil, err
	}
	size := len(head) + len(tail) + 16
	for i := range res.Hits {
		size += len(res.Hits[i].Image) + len(res.Hits[i].ID) + 64
	}
	var b bytes.Buffer
	b.Grow(size)
	b.Write(head[:len(head)-1])
	b.WriteString(`,"hits":[`)
	for i := range res.Hits {
		h := &res.Hits[i]
		if i > 0 {
			b.WriteByte(',')
		}
		image := h.Image
		if image == nil {
			image = json.RawMessage("null")
		} else if !json.Valid(image) {
			return nil, errInvalidRecord
		}
		// The hit without its record, whose place is marked by a
		// null that is replaced: Image is the only RawMessage field.
		h.Image = nil
		fields, err := json.Marshal(h)
		h.Image = image
		if err != nil {
			return nil, err
		}
		at := bytes.Index(fields, []byte(`"image":null`))
		if at < 0 {
			return nil, errInvalidRecord
		}
		at += len(`"image":`)
		b.Write(fields[:at])
		b.Write(image)
		b.Write(fields[at+len("null"):])
	}
	b.WriteString("],")
	b.Write(tail[1:])
	return b.Bytes(), nil
}
