package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// writeResult answers a search. The hits' records are the index's stored
// JSON: each is checked to be valid and copied as it is, where
// json.Marshal would compact and re-escape every byte of it again (the
// larger part of encoding a page). The hits' other members are written
// here, as encoding/json writes them; the rest is encoded by
// encoding/json, in the order and with the names of index.Result's tags.
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
	out  []byte
	keys []string // of a hit's highlights, sorted
}

var resultBuffers = sync.Pool{New: func() any { return &resultBuffer{} }}

// maxKeptBuffer is the largest buffer put back for reuse.
const maxKeptBuffer = 1 << 20

func (b *resultBuffer) release() {
	if cap(b.out) > maxKeptBuffer {
		return
	}
	b.out = b.out[:0]
	resultBuffers.Put(b)
}

var errInvalidRecord = errors.New("a stored record is not valid JSON")

func encodeResult(res *index.Result) ([]byte, error) {
	return (&resultBuffer{}).encode(res)
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
	out := slices.Grow(b.out[:0], size)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"hits":[`...)
	for i := range res.Hits {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = b.appendHit(out, &res.Hits[i]); err != nil {
			return nil, err
		}
	}
	out = append(out, "],"...)
	out = append(out, tail[1:]...)
	b.out = out
	return out, nil
}

// appendHit appends h as encoding/json would encode it, in the order of
// index.Hit's members, its record as it is stored.
func (b *resultBuffer) appendHit(out []byte, h *index.Hit) ([]byte, error) {
	if math.IsNaN(h.Score) || math.IsInf(h.Score, 0) {
		return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(h.Score, 'g', -1, 64)}
	}
	out = append(out, `{"id":`...)
	out = record.AppendJSONString(out, h.ID)
	out = append(out, `,"score":`...)
	out = record.AppendJSONFloat(out, h.Score)
	if h.Distance != nil {
		out = append(out, `,"distance":`...)
		out = strconv.AppendInt(out, int64(*h.Distance), 10)
	}
	out = append(out, `,"image":`...)
	switch {
	case h.Image == nil:
		out = append(out, "null"...)
	case !record.ValidJSON(h.Image):
		return nil, errInvalidRecord
	default:
		out = append(out, h.Image...)
	}
	if len(h.Highlights) > 0 {
		out = append(out, `,"highlights":{`...)
		b.keys = b.keys[:0]
		for k := range h.Highlights {
			b.keys = append(b.keys, k)
		}
		slices.Sort(b.keys)
		for i, k := range b.keys {
			if i > 0 {
				out = append(out, ',')
			}
			out = record.AppendJSONString(out, k)
			out = append(out, ':')
			frags := h.Highlights[k]
			if frags == nil {
				out = append(out, "null"...)
				continue
			}
			out = append(out, '[')
			for j, f := range frags {
				if j > 0 {
					out = append(out, ',')
				}
				out = record.AppendJSONString(out, f)
			}
			out = append(out, ']')
		}
		out = append(out, '}')
	}
	return append(out, '}'), nil
}
