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
	"slices"
	"sort"
	"strconv"
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
	MaxTagBytes    = 256 // one tag, after trimming
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

// FieldError is one problem of an invalid record: which field is wrong and
// why. Field is a JSON field name, a dotted path into an object
// ("camera.iso"), or "record" for the record as a whole (malformed JSON,
// too large).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "invalid record: " + e.problem() }

func (e *FieldError) problem() string {
	if e.Field == "record" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Errors is every problem of one invalid record, in the order of the
// fields in the schema. Parse, Normalize and UnmarshalJSON report an
// invalid record as an Errors, even one with a single problem, so a
// caller has one type to range over; errors.Is(err, ErrInvalid) holds,
// and errors.As(err, &fieldErr) finds the first problem.
type Errors []*FieldError

func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.problem()
	}
	return "invalid record: " + strings.Join(parts, "; ")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, fe := range e {
		out[i] = fe
	}
	return out
}

func (e *Errors) add(field, format string, args ...any) {
	*e = append(*e, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// err is e as an error: nil, not an empty Errors, when there is no problem.
func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// sort orders the problems by the schema position of their top-level
// field, keeping the order of problems of one field.
func (e Errors) sort() {
	sort.SliceStable(e, func(i, j int) bool { return fieldRank(e[i].Field) < fieldRank(e[j].Field) })
}

func invalid(field, format string, args ...any) Errors {
	var e Errors
	e.add(field, format, args...)
	return e
}

// fieldOrder is the schema's field order, in which problems are listed.
var fieldOrder = []string{"id", "url", "page_url", "source", "title", "alt", "caption",
	"description", "tags", "creator", "copyright", "license", "format", "width", "height",
	"bytes", "camera", "taken_at", "location", "phash", "colors", "op"}

var knownFields = func() map[string]int {
	m := map[string]int{}
	for i, f := range fieldOrder {
		m[f] = i
	}
	return m
}()

func isKnown(field string) bool {
	_, ok := knownFields[field]
	return ok
}

func topField(field string) string {
	top, _, _ := strings.Cut(field, ".")
	return top
}

func fieldRank(field string) int {
	if field == "record" {
		return -1
	}
	if i, ok := knownFields[topField(field)]; ok {
		return i
	}
	return len(fieldOrder)
}

// Parse decodes one JSON object into a Record and normalizes it. An
// invalid record's error is an Errors listing every problem: all wrong
// types, and every value Normalize refuses in the fields that decoded.
func Parse(data []byte) (Record, error) {
	if len(data) > MaxRecordBytes {
		return Record{}, invalid("record", "%d bytes exceeds the %d byte limit", len(data), MaxRecordBytes)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		var errs Errors
		if !errors.As(err, &errs) {
			return Record{}, invalid("record", "malformed JSON: %v", err)
		}
		if !slices.ContainsFunc(errs, func(fe *FieldError) bool { return fe.Field != "record" }) {
			return Record{}, errs // about the record as a whole: nothing decoded
		}
		// Wrong types: the record holds the fields that did decode, and
		// their problems are listed too. A field whose type was wrong is
		// reported once, not again as missing.
		if nerr := r.Normalize(); nerr != nil {
			typed := map[string]bool{}
			for _, fe := range errs {
				typed[topField(fe.Field)] = true
			}
			for _, fe := range nerr.(Errors) {
				if !typed[topField(fe.Field)] {
					errs = append(errs, fe)
				}
			}
		}
		errs.sort()
		return Record{}, errs
	}
	if err := r.Normalize(); err != nil {
		return Record{}, err
	}
	// The limit holds for the record as it is stored and sent on, not
	// only as it came: an escaped character can take six bytes where it
	// took one, so a large record is measured once encoded too.
	if len(data) > MaxRecordBytes/6 {
		enc, err := Encode(&r)
		if err != nil {
			return Record{}, invalid("record", "%v", err)
		}
		if len(enc) > MaxRecordBytes {
			return Record{}, invalid("record", "%d bytes once encoded exceeds the %d byte limit", len(enc), MaxRecordBytes)
		}
	}
	return r, nil
}

// Encode is a record's canonical JSON, as it is stored and queued: its
// MarshalJSON, without the HTML escaping that json.Marshal adds (which
// would write each < as six bytes).
func Encode(r *Record) ([]byte, error) { return r.MarshalJSON() }

// UnmarshalJSON decodes the typed fields and keeps unknown ones in Extra.
// Every type mismatch is reported, as a FieldError naming the field (its
// dotted path, as encoding/json reports it); the fields that decoded are
// set even then.
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
	keys, depth, nestedDup, err := ObjectKeys(data)
	if err != nil {
		return invalid("record", "must be a JSON object")
	}
	if depth > MaxDepth {
		return invalid("record", "JSON nested %d levels deep; at most %d", depth, MaxDepth)
	}
	if nestedDup != "" {
		return invalid("record", "%q given twice in one object", nestedDup)
	}
	count := make(map[string]int, len(keys))
	for _, k := range keys {
		count[k]++
	}
	var dups Errors
	for _, k := range keys {
		if count[k] > 1 {
			dups.add("record", "%q given twice", k)
			count[k] = 0 // once per name
		}
	}
	if len(dups) > 0 {
		return dups
	}
	// encoding/json matches member names to fields regardless of case:
	// decode only the members named exactly as the schema names them, so
	// that "Title" is an unknown field kept as it is, not the title.
	var extra map[string]json.RawMessage
	known := make(map[string]json.RawMessage, len(raw))
	folded := false // some member name differs from a field's only in case
	for k, v := range raw {
		if !isKnown(k) {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[k] = append(json.RawMessage(nil), v...)
			folded = folded || foldsToField(k, knownFields)
			continue
		}
		if names := nestedFields[k]; names != nil {
			if nk, _, _, err := ObjectKeys(v); err == nil && slices.ContainsFunc(nk, func(n string) bool {
				return !names[n] && foldsToField(n, names)
			}) {
				folded, v = true, exactMembers(names, v)
			}
		}
		known[k] = v
	}
	doc := data
	if folded {
		if doc, err = json.Marshal(known); err != nil {
			return invalid("record", "%v", err)
		}
	}
	type plain Record
	var p plain
	err = json.Unmarshal(doc, &p)
	*r = Record(p)
	r.Extra = extra
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return invalid("record", "%v", err)
	}
	// encoding/json reports the first mismatch only: decode each member
	// alone to find them all. Each is wrapped in an object of its own so
	// the field is matched, and its path reported, exactly as above.
	var errs Errors
	for k, v := range known {
		key, _ := json.Marshal(k)
		var one plain
		err := json.Unmarshal(slices.Concat([]byte("{"), key, []byte(":"), v, []byte("}")), &one)
		if errors.As(err, &te) && te.Field != "" {
			errs.add(te.Field, "wrong type: got JSON %s, want %s", te.Value, te.Type)
		}
	}
	if len(errs) == 0 { // a repeated key whose earlier value had the wrong type
		errs.add(te.Field, "wrong type: got JSON %s, want %s", te.Value, te.Type)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	errs.sort()
	return errs
}

// nestedFields are the members of the schema's nested objects.
var nestedFields = map[string]map[string]bool{
	"camera": {"make": true, "model": true, "lens": true, "focal_length_mm": true, "f_number": true,
		"exposure_s": true, "iso": true, "flash": true},
	"location": {"lat": true, "lon": true, "alt": true},
}

// foldsToField reports whether name is one of names but for case.
func foldsToField[V any](name string, names map[string]V) bool {
	for f := range names {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// exactMembers keeps, of a nested object of the schema, the members named
// exactly as the schema names them (the others were never fields of it).
func exactMembers(names map[string]bool, v json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil || m == nil {
		return v
	}
	for k := range m {
		if !names[k] {
			delete(m, k)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return v
	}
	return out
}

// MarshalJSON writes the typed fields followed by the unknown ones, with
// keys in a stable order so the same record always serializes identically.
// Unknown fields are written as RepairJSON leaves them, so the output is
// valid UTF-8 even for a record that was never normalized.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	if err := e.Encode(plain(r)); err != nil {
		return nil, err
	}
	base := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
	if len(r.Extra) == 0 {
		return base, nil
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if !isKnown(k) {
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
		b.Write(RepairJSON(r.Extra[k]))
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

// NormalizeID is the id rule of every path that names an image (a
// record's id, GET and DELETE /v1/images/{id}): surrounding white space is
// trimmed, and what remains must be non-empty, valid UTF-8 and at most
// MaxIDBytes long. An id that breaks the rule is refused, never repaired:
// repairing would make two different ids name one image. The error is a
// *FieldError for the field "id".
func NormalizeID(id string) (string, error) {
	id = strings.TrimSpace(id)
	switch {
	case id == "":
		return "", &FieldError{Field: "id", Reason: "empty"}
	case !utf8.ValidString(id):
		return "", &FieldError{Field: "id", Reason: "not valid UTF-8"}
	case len(id) > MaxIDBytes:
		return "", &FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d bytes", MaxIDBytes)}
	}
	return id, nil
}

var (
	phashRe = regexp.MustCompile(`^[0-9a-f]{16}$`)
	colorRe = regexp.MustCompile(`^#[0-9a-f]{6}$`)
)

// Normalize validates the record, fills the derived id and canonicalizes
// values (lower-case format, phash and colours; trimmed, de-duplicated tags;
// taken_at in RFC 3339; invalid UTF-8 in text and in unknown fields
// replaced). It checks every field and reports every problem in one Errors.
// It is idempotent: on a valid record a second call changes nothing, and
// on an invalid one it reports the same problems again.
func (r *Record) Normalize() error {
	var errs Errors
	r.Op = strings.ToLower(strings.TrimSpace(r.Op))
	switch r.Op {
	case "", OpUpsert:
		r.Op = ""
	case OpDelete:
	default:
		errs.add("op", "%q is not one of upsert, delete", r.Op)
	}
	r.URL = validUTF8(strings.TrimSpace(r.URL))
	r.ID = strings.TrimSpace(r.ID)
	hadID := r.ID != ""
	if !hadID && r.URL != "" {
		r.ID = DeriveID(r.URL)
	}
	if r.ID == "" {
		errs.add("url", "required (or an id)")
	} else if id, err := NormalizeID(r.ID); err != nil {
		errs = append(errs, err.(*FieldError))
	} else {
		r.ID = id
	}
	r.repairExtra()
	if r.Op == OpDelete {
		errs.sort()
		return errs.err()
	}
	if r.URL == "" && hadID {
		errs.add("url", "required")
	}
	for _, f := range []struct {
		name string
		s    *string
	}{{"url", &r.URL}, {"page_url", &r.PageURL}, {"title", &r.Title}, {"alt", &r.Alt}, {"caption", &r.Caption},
		{"description", &r.Description}, {"creator", &r.Creator}, {"copyright", &r.Copyright}, {"license", &r.License}} {
		if len(*f.s) > MaxTextBytes {
			errs.add(f.name, "longer than %d bytes", MaxTextBytes)
			continue
		}
		*f.s = validUTF8(*f.s)
	}
	r.Source = strings.ToLower(strings.TrimSpace(r.Source))
	if len(r.Tags) > MaxTags {
		errs.add("tags", "%d tags exceeds the limit of %d", len(r.Tags), MaxTags)
	}
	r.Tags = cleanTags(r.Tags)
	var long []string
	for _, t := range r.Tags {
		if len(t) > MaxTagBytes {
			long = append(long, quotePrefix(t))
		}
	}
	switch {
	case len(long) == 1:
		errs.add("tags", "tag %s is longer than %d bytes", long[0], MaxTagBytes)
	case len(long) > 1:
		errs.add("tags", "%d tags are longer than %d bytes: %s", len(long), MaxTagBytes, listSome(long))
	}
	r.Format = strings.ToLower(strings.TrimSpace(r.Format))
	if r.Format == "jpg" {
		r.Format = "jpeg"
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"width", int64(r.Width)}, {"height", int64(r.Height)}, {"bytes", r.Bytes}} {
		if f.v < 0 {
			errs.add(f.name, "%d must not be negative", f.v)
		}
	}
	if c := r.Camera; c != nil {
		c.Make = strings.TrimSpace(c.Make)
		c.Model = strings.TrimSpace(c.Model)
		if c.ISO != nil && *c.ISO < 0 {
			errs.add("camera.iso", "must not be negative")
		}
	}
	if r.TakenAt != "" {
		if t, err := ParseTime(r.TakenAt); err != nil {
			errs.add("taken_at", "%q is not an RFC 3339 time", r.TakenAt)
		} else {
			r.TakenAt = t.Format(time.RFC3339Nano)
		}
	}
	if l := r.Location; l != nil {
		if !(l.Lat >= -90 && l.Lat <= 90) {
			errs.add("location", "lat %v outside the WGS84 range -90..90", l.Lat)
		}
		if !(l.Lon >= -180 && l.Lon <= 180) {
			errs.add("location", "lon %v outside the WGS84 range -180..180", l.Lon)
		}
		if l.Alt != nil && (math.IsNaN(*l.Alt) || math.IsInf(*l.Alt, 0)) {
			errs.add("location", "alt is not a number")
		}
	}
	if r.PHash != "" {
		r.PHash = strings.ToLower(strings.TrimSpace(r.PHash))
		if !phashRe.MatchString(r.PHash) {
			errs.add("phash", "%q is not 16 hex digits", r.PHash)
		}
	}
	if len(r.Colors) > MaxColors {
		errs.add("colors", "%d colours exceeds the limit of %d", len(r.Colors), MaxColors)
	}
	var badColors []string
	for i, c := range r.Colors {
		c = strings.ToLower(strings.TrimSpace(c))
		if !colorRe.MatchString(c) {
			badColors = append(badColors, quotePrefix(c))
		}
		r.Colors[i] = c
	}
	switch {
	case len(badColors) == 1:
		errs.add("colors", "%s is not #rrggbb", badColors[0])
	case len(badColors) > 1:
		errs.add("colors", "%d colours are not #rrggbb: %s", len(badColors), listSome(badColors))
	}
	errs.sort()
	return errs.err()
}

// repairExtra makes the unknown fields valid UTF-8, names and values, as
// the known ones are. A name repaired into one that is taken already, or
// into a known field's, is dropped; names are repaired in byte order so
// the survivor never depends on map order.
func (r *Record) repairExtra() {
	var badNames []string
	for k, v := range r.Extra {
		if !utf8.ValidString(k) {
			badNames = append(badNames, k)
		} else {
			r.Extra[k] = RepairJSON(v)
		}
	}
	sort.Strings(badNames)
	for _, k := range badNames {
		v := RepairJSON(r.Extra[k])
		delete(r.Extra, k)
		name := validUTF8(k)
		if _, taken := r.Extra[name]; !taken && !isKnown(name) {
			r.Extra[name] = v
		}
	}
}

// RepairJSON returns raw itself when it is valid UTF-8. Otherwise it
// returns a copy in which each byte that is not part of a valid UTF-8
// sequence becomes the escape \ufffd inside a JSON string (where, in
// valid JSON, all such bytes are) and U+FFFD outside one; every other byte
// is kept as it was, so key order and number formatting survive. That is
// the replacement encoding/json makes when it decodes a string.
func RepairJSON(raw []byte) []byte {
	if utf8.Valid(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw)+32)
	inString, escaped := false, false
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			switch {
			case escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case c == '"':
				inString = !inString
			}
			out = append(out, c)
			i++
			continue
		}
		escaped = false
		r, n := utf8.DecodeRune(raw[i:])
		switch {
		case r != utf8.RuneError || n > 1:
			out = append(out, raw[i:i+n]...)
		case inString:
			out = append(out, `\ufffd`...)
		default:
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		i += n
	}
	return out
}

// validUTF8 replaces each byte of s that is not part of a valid UTF-8
// sequence with U+FFFD, as encoding/json does when it decodes a string
// (strings.ToValidUTF8 would merge a run of them into one).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, c := range s { // a bad byte ranges as U+FFFD
		b.WriteRune(c)
	}
	return b.String()
}

// quotePrefix quotes s for an error message, cut to its first 40 bytes
// (at a rune boundary) and "…" when it is longer.
func quotePrefix(s string) string {
	const n = 40
	if len(s) <= n {
		return strconv.Quote(s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut] + "…")
}

// listSome joins the first three of items and says how many more there are.
func listSome(items []string) string {
	const show = 3
	if len(items) <= show {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:show], ", "), len(items)-show)
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

// cleanTags trims tags, repairs their UTF-8 and drops empty and repeated
// ones. Tags over MaxTagBytes are kept, for Normalize to refuse.
func cleanTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(tags))
	out := tags[:0]
	for _, t := range tags {
		t = strings.TrimSpace(validUTF8(t))
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// FitTags keeps the keywords a record can hold — at most MaxTags, each at
// most MaxTagBytes — for sources whose keywords are someone else's
// (page meta keywords, EXIF and XMP subjects): there a keyword that is too
// long is dropped rather than making the whole image invalid, as it does
// in a record a client sends.
func FitTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if len(out) == MaxTags {
			break
		}
		if len(strings.TrimSpace(t)) <= MaxTagBytes {
			out = append(out, t)
		}
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
