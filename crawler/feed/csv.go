package feed

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

// csvFields are the record fields a CSV column can fill. Lists (tags,
// colors) are split on ';' or '|'.
var csvFields = []string{
	"id", "url", "page_url", "source", "title", "alt", "caption", "description", "tags",
	"creator", "copyright", "license", "format", "width", "height", "bytes", "taken_at",
	"phash", "colors", "op",
	"camera.make", "camera.model", "camera.lens", "camera.focal_length_mm", "camera.f_number",
	"camera.exposure_s", "camera.iso", "camera.flash",
	"location.lat", "location.lon", "location.alt",
}

// ParseColumns reads a column mapping: "url=image_url,alt=caption_text".
// Each key must be a record field (dotted for camera and location).
func ParseColumns(spec string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		field, col, ok := strings.Cut(pair, "=")
		field, col = strings.TrimSpace(field), strings.TrimSpace(col)
		if !ok || field == "" || col == "" {
			return nil, fmt.Errorf("%q: want field=column", pair)
		}
		if !slices.Contains(csvFields, field) {
			return nil, fmt.Errorf("%q is not a record field (one of %s)", field, strings.Join(csvFields, ", "))
		}
		m[field] = col
	}
	if len(m) == 0 {
		return nil, errors.New("empty column mapping")
	}
	return m, nil
}

// maxCSVLine bounds one physical line of a CSV feed, so that a field with
// no end cannot take all memory.
const maxCSVLine = record.MaxRecordBytes

func (r *Reader) csv(ctx context.Context, name string, br *bufio.Reader, emit crawler.Emit) error {
	cr := csv.NewReader(&lineLimit{r: br, max: maxCSVLine})
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("feed %s: reading the header: %w", name, err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	// field -> column index
	cols := map[string]int{}
	for _, f := range csvFields {
		if i, ok := index[f]; ok {
			cols[f] = i
		}
	}
	for f, h := range r.Columns {
		i, ok := index[h]
		if !ok {
			return fmt.Errorf("feed %s: column %q (for %s) is not in the header %v", name, h, f, header)
		}
		cols[f] = i
	}
	if _, ok := cols["url"]; !ok {
		return fmt.Errorf("feed %s: no url column in the header %v (map one with url=COLUMN)", name, header)
	}
	fields := make([]string, 0, len(cols))
	for f := range cols {
		fields = append(fields, f)
	}
	sort.Strings(fields)

	var pos int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var tooLong *lineTooLong
		if errors.As(err, &tooLong) {
			return fmt.Errorf("feed %s: row %d: %w", name, pos+1, err)
		}
		pos++
		where := fmt.Sprintf("%s:row %d", name, pos)
		if pos <= r.Skip {
			continue
		}
		if err != nil {
			r.Tally.Skip(where, "malformed CSV", err)
			r.progress(pos)
			continue
		}
		var rec record.Record
		var bad error
		for _, f := range fields {
			i := cols[f]
			if i >= len(row) {
				continue
			}
			if err := setField(&rec, f, strings.TrimSpace(row[i])); err != nil {
				bad = fmt.Errorf("column %s: %w", header[i], err)
				break
			}
		}
		if bad != nil {
			r.Tally.Skip(where, "bad value", bad)
			r.progress(pos)
			continue
		}
		if err := r.emitOne(ctx, emit, where, rec, pos); err != nil {
			return err
		}
	}
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '|' })
}

// setField sets one record field from its CSV text; empty text sets
// nothing.
func setField(r *record.Record, field, v string) error {
	if v == "" {
		return nil
	}
	num := func() (float64, error) { return strconv.ParseFloat(v, 64) }
	integer := func() (int, error) { return strconv.Atoi(v) }
	cam := func() *record.Camera {
		if r.Camera == nil {
			r.Camera = &record.Camera{}
		}
		return r.Camera
	}
	loc := func() *record.Location {
		if r.Location == nil {
			r.Location = &record.Location{}
		}
		return r.Location
	}
	var err error
	switch field {
	case "id":
		r.ID = v
	case "url":
		r.URL = v
	case "page_url":
		r.PageURL = v
	case "source":
		r.Source = v
	case "title":
		r.Title = v
	case "alt":
		r.Alt = v
	case "caption":
		r.Caption = v
	case "description":
		r.Description = v
	case "tags":
		r.Tags = splitList(v)
	case "creator":
		r.Creator = v
	case "copyright":
		r.Copyright = v
	case "license":
		r.License = v
	case "format":
		r.Format = v
	case "width":
		r.Width, err = integer()
	case "height":
		r.Height, err = integer()
	case "bytes":
		var n int
		n, err = integer()
		r.Bytes = int64(n)
	case "taken_at":
		r.TakenAt = v
	case "phash":
		r.PHash = v
	case "colors":
		r.Colors = splitList(v)
	case "op":
		r.Op = v
	case "camera.make":
		cam().Make = v
	case "camera.model":
		cam().Model = v
	case "camera.lens":
		cam().Lens = v
	case "camera.focal_length_mm", "camera.f_number", "camera.exposure_s":
		var f float64
		if f, err = num(); err == nil {
			switch field {
			case "camera.focal_length_mm":
				cam().FocalLengthMM = &f
			case "camera.f_number":
				cam().FNumber = &f
			default:
				cam().ExposureS = &f
			}
		}
	case "camera.iso":
		var n int
		if n, err = integer(); err == nil {
			cam().ISO = &n
		}
	case "camera.flash":
		var b bool
		if b, err = strconv.ParseBool(v); err == nil {
			cam().Flash = &b
		}
	case "location.lat":
		loc().Lat, err = num()
	case "location.lon":
		loc().Lon, err = num()
	case "location.alt":
		var f float64
		if f, err = num(); err == nil {
			loc().Alt = &f
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a valid %s", v, field)
	}
	return nil
}

// lineLimit fails a read once a physical line passes max bytes.
type lineLimit struct {
	r   io.Reader
	max int
	run int // bytes since the last newline
}

type lineTooLong struct{ max int }

func (e *lineTooLong) Error() string { return fmt.Sprintf("a line longer than %d bytes", e.max) }

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else if l.run++; l.run > l.max {
			return 0, &lineTooLong{l.max}
		}
	}
	return n, err
}
