package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a single record may carry. They keep one hostile record
// from costing the indexer more than a bounded amount of memory and time.
const (
	MaxRecordBytes = 1 << 20 // one JSON record
	MaxTextBytes   = 64 << 10
	MaxTags        = 256
	MaxColors      = 32
	MaxIDBytes     = 512
)

// Op values.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Camera is the capture device as read from EXIF.
type Camera struct {
	Make          string   `json:"make,omitempty"`
	Model         string   `json:"model,omitempty"`
	Lens          string   `json:"lens,omitempty"`
	FocalLengthMM *float64 `json:"focal_length_mm,omitempty"`
	FNumber       *float64 `json:"f_number,omitempty"`
	ExposureS     *float64 `json:"exposure_s,omitempty"`
	ISO           *int     `json:"iso,omitempty"`
	Flash         *bool    `json:"flash,omitempty"`
}

// Location is a WGS84 point.
type Location struct {
	Lat float64  `json:"lat"`
	Lon float64  `json:"lon"`
	Alt *float64 `json:"alt,omitempty"`
}

// Record is one image's metadata. See ../shared/SPEC.md for the schema.
type Record struct {
	ID          string    `json:"id,omitempty"`
	URL         string    `json:"url"`
	PageURL     string    `json:"page_url,omitempty"`
	Source      string    `json:"source,omitempty"`
	Title       string    `json:"title,omitempty"`
	Alt         string    `json:"alt,omitempty"`
	Caption     string    `json:"caption,omitempty"`
	Description string    `json:"description,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Creator     string    `json:"creator,omitempty"`
	Copyright   string    `json:"copyright,omitempty"`
	License     string    `json:"license,omitempty"`
	Format      string    `json:"format,omitempty"`
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	Bytes       int64     `json:"bytes,omitempty"`
	Camera      *Camera   `json:"camera,omitempty"`
	TakenAt     string    `json:"taken_at,omitempty"`
	Location    *Location `json:"location,omitempty"`
	PHash       string    `json:"phash,omitempty"`
	Colors      []string  `json:"colors,omitempty"`
	Op          string    `json:"op,omitempty"`

	// Extra holds fields the schema does not define, kept verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// ErrInvalid is wrapped by every validation error, so callers can tell a bad
// record (dead-letter it, answer 400) from an I/O failure.
var ErrInvalid = errors.New("invalid record")

// FieldError says which field of a record is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "record" { // the record as a whole
		return "invalid record: " + e.Reason
	}
	return fmt.Sprintf("invalid record: %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var knownFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range []string{"id", "url", "page_url", "source", "title", "alt", "caption",
		"description", "tags", "creator", "copyright", "license", "format", "width", "height",
		"bytes", "camera", "taken_at", "location", "phash", "colors", "op"} {
		m[f] = true
	}
	return m
}()

// Parse decodes one JSON object into a Record and normalizes it.
// The error wraps ErrInvalid for anything the producer got wrong.
func Parse(data []byte) (Record, error) {
	var r Record
	if len(data) > MaxRecordBytes {
		return r, invalid("record", "%d bytes exceeds the %d byte limit", len(data), MaxRecordBytes)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		if !errors.Is(err, ErrInvalid) {
			err = invalid("record", "malformed JSON: %v", err)
		}
		return Record{}, err
	}
	if err := r.Normalize(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// UnmarshalJSON decodes the typed fields and keeps unknown ones in Extra.
// Type mismatches are reported as a FieldError naming the field (its dotted
// path, as encoding/json reports it).
func (r *Record) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return invalid("record", "malformed JSON at byte %d: %v", syn.Offset, err)
		}
		return invalid("record", "must be a JSON object: %v", err)
	}
	if raw == nil {
		return invalid("record", "must be a JSON object, not null")
	}
	for k, v := range raw {
		if !knownFields[k] {
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = append(json.RawMessage(nil), v...)
		}
	}
	type plain Record
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "wrong type: %s", typeErrorText(err))
		}
		return invalid("record", "%v", err)
	}
	extra := r.Extra
	*r = Record(p)
	r.Extra = extra
	return nil
}

func typeErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("got JSON %s, want %s", te.Value, te.Type)
	}
	return err.Error()
}

// MarshalJSON writes the typed fields followed by the unknown ones, with
// keys in a stable order so the same record always serializes identically.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	base, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	if len(r.Extra) == 0 {
		return base, nil
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if !knownFields[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Write(base[:len(base)-1])
	first := len(base) == 2
	for _, k := range keys {
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(r.Extra[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DeriveID returns the stable id for an image URL: the first 16 bytes of
// its SHA-256, hex encoded. Same URL, same id, on every machine.
func DeriveID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:16])
}

var (
	phashRe = regexp.MustCompile(`^[0-9a-f]{16}$`)
	colorRe = regexp.MustCompile(`^#[0-9a-f]{6}$`)
)

// Normalize validates the record, fills the derived id and canonicalizes
// values (lower-case format, phash and colours; trimmed, de-duplicated tags;
// taken_at in RFC 3339). It is idempotent.
func (r *Record) Normalize() error {
	r.Op = strings.ToLower(strings.TrimSpace(r.Op))
	switch r.Op {
	case "", OpUpsert:
		r.Op = ""
	case OpDelete:
	default:
		return invalid("op", "%q is not one of upsert, delete", r.Op)
	}
	r.ID = strings.TrimSpace(r.ID)
	r.URL = strings.TrimSpace(r.URL)
	if r.ID == "" {
		if r.URL == "" {
			return invalid("url", "required (or an id)")
		}
		r.ID = DeriveID(r.URL)
	}
	if len(r.ID) > MaxIDBytes {
		return invalid("id", "longer than %d bytes", MaxIDBytes)
	}
	if !utf8.ValidString(r.ID) {
		return invalid("id", "not valid UTF-8")
	}
	if r.Op == OpDelete {
		return nil
	}
	if r.URL == "" {
		return invalid("url", "required")
	}
	for name, s := range map[string]*string{"url": &r.URL, "page_url": &r.PageURL, "title": &r.Title,
		"alt": &r.Alt, "caption": &r.Caption, "description": &r.Description, "creator": &r.Creator,
		"copyright": &r.Copyright, "license": &r.License} {
		if len(*s) > MaxTextBytes {
			return invalid(name, "longer than %d bytes", MaxTextBytes)
		}
		if !utf8.ValidString(*s) {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
	}
	r.Source = strings.ToLower(strings.TrimSpace(r.Source))
	r.Format = strings.ToLower(strings.TrimSpace(r.Format))
	if r.Format == "jpg" {
		r.Format = "jpeg"
	}
	if len(r.Tags) > MaxTags {
		return invalid("tags", "%d tags exceeds the limit of %d", len(r.Tags), MaxTags)
	}
	r.Tags = cleanTags(r.Tags)
	if r.Width < 0 || r.Height < 0 || r.Bytes < 0 {
		return invalid("width", "width, height and bytes must not be negative")
	}
	if r.TakenAt != "" {
		t, err := ParseTime(r.TakenAt)
		if err != nil {
			return invalid("taken_at", "%q is not an RFC 3339 time", r.TakenAt)
		}
		r.TakenAt = t.Format(time.RFC3339Nano)
	}
	if l := r.Location; l != nil {
		if !(l.Lat >= -90 && l.Lat <= 90) || !(l.Lon >= -180 && l.Lon <= 180) {
			return invalid("location", "lat %v, lon %v outside WGS84 range", l.Lat, l.Lon)
		}
		if l.Alt != nil && (math.IsNaN(*l.Alt) || math.IsInf(*l.Alt, 0)) {
			return invalid("location", "alt is not a number")
		}
	}
	if r.PHash != "" {
		r.PHash = strings.ToLower(strings.TrimSpace(r.PHash))
		if !phashRe.MatchString(r.PHash) {
			return invalid("phash", "%q is not 16 hex digits", r.PHash)
		}
	}
	if len(r.Colors) > MaxColors {
		return invalid("colors", "%d colours exceeds the limit of %d", len(r.Colors), MaxColors)
	}
	for i, c := range r.Colors {
		c = strings.ToLower(strings.TrimSpace(c))
		if !colorRe.MatchString(c) {
			return invalid("colors", "%q is not #rrggbb", c)
		}
		r.Colors[i] = c
	}
	if c := r.Camera; c != nil {
		c.Make = strings.TrimSpace(c.Make)
		c.Model = strings.TrimSpace(c.Model)
		if c.ISO != nil && *c.ISO < 0 {
			return invalid("camera.iso", "must not be negative")
		}
	}
	return nil
}

// ParseTime accepts RFC 3339 with or without fractional seconds, and a bare
// date (YYYY-MM-DD, taken as midnight UTC).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func cleanTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(tags))
	out := tags[:0]
	for _, t := range tags {
		t = strings.TrimSpace(strings.ToValidUTF8(t, "\uFFFD"))
		if t == "" || len(t) > 256 || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// IsDelete reports whether the record asks for its image to be removed.
func (r *Record) IsDelete() bool { return r.Op == OpDelete }

// PHashValue returns the perceptual hash as a number; ok is false when the
// record has none.
func (r *Record) PHashValue() (v uint64, ok bool) {
	if len(r.PHash) != 16 {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(r.PHash)); err != nil {
		return 0, false
	}
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, true
}
