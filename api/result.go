package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// writeResult answers a search. The hits' records are the index's stored
// JSON: each is checked to be valid and copied as it is, where
// json.Marshal would compact and re-escape every byte of it again (the
// larger part of encoding a page). The rest is encoded by encoding/json,
// in the order and with the names of index.Result's tags.
func (s *server) writeResult(c *gin.Context, res *index.Result) {
	b := resultBuffers.Get().(*resultBuffer)
	defer b.release()
	body, err := b.encode(res)
	if err != nil {
		s.writeJSON(c, http.StatusOK, res) // reports the error as writeJSON does
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// resultBuffer holds what encoding one result needs, reused search after
// search: a page of records is tens of kilobytes.
type resultBuffer struct {
	out, hit bytes.Buffer
	enc      *json.Encoder // into hit
}

var resultBuffers = sync.Pool{New: func() any {
	b := &resultBuffer{}
	b.enc = json.NewEncoder(&b.hit)
	return b
}}

// maxKeptBuffer is the largest buffer put back for reuse.
const maxKeptBuffer = 1 << 20

func (b *resultBuffer) release() {
	if b.out.Cap() > maxKeptBuffer || b.hit.Cap() > maxKeptBuffer {
		return
	}
	b.out.Reset()
	b.hit.Reset()
	resultBuffers.Put(b)
}

var errInvalidRecord = errors.New("a stored record is not valid JSON")

func encodeResult(res *index.Result) ([]byte, error) {
	b := &resultBuffer{}
	b.enc = json.NewEncoder(&b.hit)
	return b.encode(res)
}

// encode returns res's JSON, valid until the buffer is released.
func (b *resultBuffer) encode(res *index.Result) ([]byte, error) {
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
		for _, frags := range res.Hits[i].Highlights {
			for _, f := range frags {
				size += len(f) + 48 // and its key, escapes of <mark>
			}
		}
	}
	out := &b.out
	out.Grow(size)
	out.Write(head[:len(head)-1])
	out.WriteString(`,"hits":[`)
	for i := range res.Hits {
		h := &res.Hits[i]
		if i > 0 {
			out.WriteByte(',')
		}
		image := h.Image
		if image == nil {
			image = json.RawMessage("null")
		} else if !record.ValidJSON(image) {
			return nil, errInvalidRecord
		}
		// The hit without its record, whose place is marked by a
		// null that is replaced: Image is the only RawMessage field.
		// The encoder escapes as json.Marshal does, and ends with a
		// newline.
		h.Image = nil
		b.hit.Reset()
		err := b.enc.Encode(h)
		h.Image = image
		if err != nil {
			return nil, err
		}
		fields := bytes.TrimSuffix(b.hit.Bytes(), []byte("\n"))
		at := bytes.Index(fields, []byte(`"image":null`))
		if at < 0 {
			return nil, errInvalidRecord
		}
		at += len(`"image":`)
		out.Write(fields[:at])
		out.Write(image)
		out.Write(fields[at+len("null"):])
	}
	out.WriteString("],")
	out.Write(tail[1:])
	return out.Bytes(), nil
}
