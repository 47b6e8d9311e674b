package synth

import (
	"encoding/json"
	"strconv"

	"github.com/picdex/picdex/index/record"
)

// appendRecord appends rec as JSON, byte for byte what json.Marshal(rec)
// produces (the tests hold it to that). It exists for speed: encoding/json
// reflection costs several times more than generating the record, and the
// corpus is meant to be produced by the million. Records with Extra fields,
// which the generator never makes, go through json.Marshal.
func appendRecord(b []byte, rec *record.Record) ([]byte, error) {
	if len(rec.Extra) > 0 {
		j, err := json.Marshal(rec)
		return append(b, j...), err
	}
	e := objEncoder{b: b}
	e.open()
	e.str("id", rec.ID, true)
	e.str("url", rec.URL, false)
	e.str("page_url", rec.PageURL, true)
	e.str("source", rec.Source, true)
	e.str("title", rec.Title, true)
	e.str("alt", rec.Alt, true)
	e.str("caption", rec.Caption, true)
	e.str("description", rec.Description, true)
	e.strs("tags", rec.Tags)
	e.str("creator", rec.Creator, true)
	e.str("copyright", rec.Copyright, true)
	e.str("license", rec.License, true)
	e.str("format", rec.Format, true)
	e.int("width", int64(rec.Width))
	e.int("height", int64(rec.Height))
	e.int("bytes", rec.Bytes)
	if c := rec.Camera; c != nil {
		e.key("camera")
		ce := objEncoder{b: e.b}
		ce.open()
		ce.str("make", c.Make, true)
		ce.str("model", c.Model, true)
		ce.str("lens", c.Lens, true)
		ce.floatPtr("focal_length_mm", c.FocalLengthMM)
		ce.floatPtr("f_number", c.FNumber)
		ce.floatPtr("exposure_s", c.ExposureS)
		if c.ISO != nil {
			ce.key("iso")
			ce.b = strconv.AppendInt(ce.b, int64(*c.ISO), 10)
		}
		if c.Flash != nil {
			ce.key("flash")
			ce.b = strconv.AppendBool(ce.b, *c.Flash)
		}
		e.b = ce.close()
	}
	e.str("taken_at", rec.TakenAt, true)
	if l := rec.Location; l != nil {
		e.key("location")
		le := objEncoder{b: e.b}
		le.open()
		le.float("lat", l.Lat)
		le.float("lon", l.Lon)
		le.floatPtr("alt", l.Alt)
		e.b = le.close()
	}
	e.str("phash", rec.PHash, true)
	e.strs("colors", rec.Colors)
	e.str("op", rec.Op, true)
	return e.close(), nil
}

type objEncoder struct {
	b     []byte
	first bool
}

func (e *objEncoder) open() { e.b = append(e.b, '{'); e.first = true }

func (e *objEncoder) close() []byte { return append(e.b, '}') }

func (e *objEncoder) key(k string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *objEncoder) str(k, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	e.key(k)
	e.b = record.AppendJSONString(e.b, v)
}

func (e *objEncoder) strs(k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, v := range vs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = record.AppendJSONString(e.b, v)
	}
	e.b = append(e.b, ']')
}

func (e *objEncoder) int(k string, v int64) {
	if v == 0 {
		return
	}
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *objEncoder) float(k string, v float64) {
	e.key(k)
	e.b = record.AppendJSONFloat(e.b, v)
}

func (e *objEncoder) floatPtr(k string, v *float64) {
	if v != nil {
		e.float(k, *v)
	}
}
