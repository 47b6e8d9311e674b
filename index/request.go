package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/picdex/picdex/index/query"
	"github.com/picdex/picdex/index/record"
)

// Limits on a search request. Deep paging past MaxWindow goes through
// cursors, which cost the same on page 1 and page 1,000.
const (
	DefaultSize      = 10
	MaxSize          = 1000
	MaxWindow        = 10000 // from + size
	MaxFacets        = 16
	DefaultFacetLen  = 10
	MaxFacetLen      = 1000
	MaxPHashDist     = 10
	DefaultPHashDist = 6
	maxFilterValues  = 256
)

// ErrBadRequest is wrapped by every error caused by the request itself, so
// the API can answer 400 instead of 500.
var ErrBadRequest = errors.New("bad request")

// RequestError names the request parameter that is wrong.
type RequestError struct {
	Param  string
	Reason string
	Err    error // the underlying error, e.g. a *query.ParseError with its position
}

func (e *RequestError) Error() string { return fmt.Sprintf("%s: %s", e.Param, e.Reason) }

// Unwrap makes errors.Is(err, ErrBadRequest) true.
func (e *RequestError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadRequest, e.Err}
	}
	return []error{ErrBadRequest}
}

func badParam(param, format string, args ...any) error {
	return &RequestError{Param: param, Reason: fmt.Sprintf(format, args...)}
}

// Request is a search. The HTTP API binds both the GET query string and
// the POST body to it (the `form` and `json` names are the same), so there
// is exactly one request type from the API down to a shard.
type Request struct {
	// Query in the query string syntax of package index/query. Empty
	// matches everything (filters still apply).
	Query string `json:"q,omitempty" form:"q"`

	// Size is the number of hits to return: nil means DefaultSize, 0
	// none (for totals and facets only).
	Size   *int   `json:"size,omitempty" form:"size"`
	From   int    `json:"from,omitempty" form:"from"`
	Cursor string `json:"cursor,omitempty" form:"cursor"`
	// Sort keys, best first: "_score" (the default, descending), or a
	// field name (width, height, bytes, taken_at, camera.iso, …); a
	// leading "-" sorts descending. Ties are broken by id.
	Sort []string `json:"sort,omitempty" form:"sort"`
	// Facets to count: a field name, optionally ":N" for the number of
	// values (tags, format, camera.make, taken_at, width, …).
	Facets []string `json:"facet,omitempty" form:"facet"`

	Filter

	// Highlight asks for <mark>ed fragments of title, caption and alt.
	// Nil means yes when there is a text query.
	Highlight *bool `json:"highlight,omitempty" form:"highlight"`

	// AllowPartial, when false, fails a search that some shards could not
	// answer with ErrPartial instead of answering from the others (nil:
	// allowed; the failed shards are listed in Result.Shards).
	AllowPartial *bool `json:"allow_partial,omitempty" form:"allow_partial"`
}

// Filter narrows a search without changing scores.
type Filter struct {
	Tags      []string `json:"tags,omitempty" form:"tags"`     // every tag must be present
	Format    []string `json:"format,omitempty" form:"format"` // any of these formats
	Make      string   `json:"make,omitempty" form:"make"`     // camera make, case-insensitive
	Model     string   `json:"model,omitempty" form:"model"`   // camera model, case-insensitive
	WidthMin  *int     `json:"width_min,omitempty" form:"width_min"`
	WidthMax  *int     `json:"width_max,omitempty" form:"width_max"`
	HeightMin *int     `json:"height_min,omitempty" form:"height_min"`
	HeightMax *int     `json:"height_max,omitempty" form:"height_max"`
	// TakenFrom and TakenTo bound taken_at, both inclusive; RFC 3339 or
	// YYYY-MM-DD.
	TakenFrom string `json:"taken_from,omitempty" form:"taken_from"`
	TakenTo   string `json:"taken_to,omitempty" form:"taken_to"`
	// Near is "lat,lon,km": within km kilometres of the point.
	Near string `json:"near,omitempty" form:"near"`
	// BBox is "top_lat,left_lon,bottom_lat,right_lon".
	BBox string `json:"bbox,omitempty" form:"bbox"`
	// Similar is a 16-hex-digit phash: only images within Distance bits
	// (default 6, at most 10), nearest first unless Sort says otherwise.
	Similar  string `json:"similar,omitempty" form:"similar"`
	Distance *int   `json:"distance,omitempty" form:"distance"`
}

// Result is a search response, as the HTTP API returns it.
type Result struct {
	Total      uint64                  `json:"total"`
	TookMS     int64                   `json:"took_ms"`
	Hits       []Hit                   `json:"hits"`
	Facets     map[string][]FacetValue `json:"facets,omitempty"`
	Shards     ShardStatus             `json:"shards"`
	NextCursor string                  `json:"next_cursor,omitempty"`

	// Cost is what the search was admitted as, for metrics; not part of
	// the response.
	Cost Cost `json:"-"`
}

// Hit is one matching image.
type Hit struct {
	ID         string              `json:"id"`
	Score      float64             `json:"score"`
	Distance   *int                `json:"distance,omitempty"` // Hamming distance for similar searches
	Image      json.RawMessage     `json:"image"`
	Highlights map[string][]string `json:"highlights,omitempty"`

	// sortKeys and decoded are the engine's sort values, used to merge
	// shards and to build cursors; not part of the response.
	sortKeys []string
	decoded  []string
}

// FacetValue is one bucket of a facet.
type FacetValue struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// ShardStatus says how many shards answered.
type ShardStatus struct {
	Total      int            `json:"total"`
	Successful int            `json:"successful"`
	Failed     int            `json:"failed"`
	Failures   []ShardFailure `json:"failures"`
}

// ShardFailure says which shard failed and why.
type ShardFailure struct {
	Shard  string `json:"shard"`
	Reason string `json:"reason"`
}

// facetSpec is a parsed facet request.
type facetSpec struct {
	name  string // as requested, the key in the response
	field string
	size  int
	kind  fieldKind
}

// isTerms reports whether the facet counts terms, every value each shard
// has, rather than fixed numeric or date buckets.
func (fs facetSpec) isTerms() bool { return fs.kind != kindNumber && fs.kind != kindDate }

// plan is a validated request: everything a shard needs, parsed once.
type plan struct {
	req       *Request
	tree      *query.Bool // the parsed query
	size      int
	from      int
	sort      []sortKey
	after     []string // search_after values from the cursor
	facets    []facetSpec
	similar   *similarSpec
	highlight bool

	// text is the scored query as the text analyzer translates it, when
	// it is a term-at-a-time tree (see plainText); made once.
	textOnce sync.Once
	text     bq.Query
}

// distanceKey orders near-duplicate searches by Hamming distance.
const distanceKey = "_distance"

type sortKey struct {
	field string // "_score", "_id" or a schema field
	desc  bool
	kind  fieldKind
}

type similarSpec struct {
	hash uint64
	dist int
}

// Validate checks a request and fills defaults. Every error wraps
// ErrBadRequest.
func (r *Request) validate() (*plan, error) {
	p := &plan{req: r, size: DefaultSize, from: r.From}
	if r.Size != nil {
		p.size = *r.Size
	}
	if p.size < 0 || p.size > MaxSize {
		return nil, badParam("size", "must be between 0 and %d", MaxSize)
	}
	if p.from < 0 {
		return nil, badParam("from", "must not be negative")
	}
	if p.from > MaxWindow-p.size { // not from+size, which can overflow
		return nil, badParam("from", "from+size must not exceed %d; page deeper with cursor", MaxWindow)
	}
	tree, err := parseQuery(r.Query)
	if err != nil {
		return nil, err
	}
	p.tree = tree
	sorts, err := parseSort(r.Sort, r.Similar != "")
	if err != nil {
		return nil, err
	}
	p.sort = sorts
	if r.Cursor != "" {
		if p.from != 0 {
			return nil, badParam("cursor", "cannot be combined with from")
		}
		after, err := decodeCursor(r.Cursor, p.sort)
		if err != nil {
			return nil, err
		}
		p.after = after
	}
	if len(r.Facets) > MaxFacets {
		return nil, badParam("facet", "at most %d facets", MaxFacets)
	}
	seen := map[string]bool{}
	for _, f := range r.Facets {
		fs, err := parseFacet(f)
		if err != nil {
			return nil, err
		}
		if !seen[fs.name] {
			seen[fs.name] = true
			p.facets = append(p.facets, fs)
		}
	}
	if err := r.Filter.check(); err != nil {
		return nil, err
	}
	if r.Similar != "" {
		rec := record.Record{PHash: strings.ToLower(strings.TrimSpace(r.Similar))}
		h, ok := rec.PHashValue()
		if !ok || len(rec.PHash) != 16 {
			return nil, badParam("similar", "%q is not a 16-hex-digit phash", r.Similar)
		}
		d := DefaultPHashDist
		if r.Distance != nil {
			d = *r.Distance
		}
		if d < 0 || d > MaxPHashDist {
			return nil, badParam("distance", "must be between 0 and %d", MaxPHashDist)
		}
		p.similar = &similarSpec{hash: h, dist: d}
	} else if r.Distance != nil {
		return nil, badParam("distance", "needs similar")
	}
	if r.Highlight != nil {
		p.highlight = *r.Highlight
	} else {
		p.highlight = strings.TrimSpace(r.Query) != ""
	}
	return p, nil
}

func parseSort(keys []string, similar bool) ([]sortKey, error) {
	var out []sortKey
	for _, k := range keys {
		for _, part := range strings.Split(k, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			desc := strings.HasPrefix(part, "-")
			name := strings.TrimPrefix(strings.TrimPrefix(part, "-"), "+")
			switch name {
			case "_score", "score":
				// score sorts best first; "-_score" is accepted as the same
				out = append(out, sortKey{field: "_score", desc: true})
				continue
			case "_id", "id":
				out = append(out, sortKey{field: "_id", desc: desc})
				continue
			}
			field, spec, ok := resolveOrderField(name)
			if !ok || spec.options&optFacet != optFacet || spec.kind == kindGeo {
				return nil, badParam("sort", "cannot sort by %q; sortable: _score, _id, width, height, bytes, taken_at, format, camera.make, camera.iso, …", name)
			}
			out = append(out, sortKey{field: field, desc: desc, kind: spec.kind})
		}
	}
	if len(out) > 8 {
		return nil, badParam("sort", "at most 8 sort keys")
	}
	if len(out) == 0 {
		if similar {
			out = append(out, sortKey{field: distanceKey})
		} else {
			out = append(out, sortKey{field: "_score", desc: true})
		}
	}
	if len(out) == 0 || out[len(out)-1].field != "_id" {
		out = append(out, sortKey{field: "_id"})
	}
	return out, nil
}

func parseFacet(s string) (facetSpec, error) {
	name, sizeText, hasSize := strings.Cut(strings.TrimSpace(s), ":")
	fs := facetSpec{name: name, size: DefaultFacetLen}
	if hasSize {
		n, err := strconv.Atoi(sizeText)
		if err != nil || n < 1 || n > MaxFacetLen {
			return fs, badParam("facet", "%q: size must be 1..%d", s, MaxFacetLen)
		}
		fs.size = n
	}
	field, spec, ok := resolveOrderField(name)
	if !ok || spec.options&optFacet != optFacet {
		return fs, badParam("facet", "cannot facet on %q; facetable: tags, format, source, license, colors, camera.make, camera.model, camera.iso, width, height, bytes, taken_at", name)
	}
	if spec.kind == kindGeo {
		return fs, badParam("facet", "cannot facet on %q", name)
	}
	fs.field, fs.kind = field, spec.kind
	return fs, nil
}

func (f *Filter) isZero() bool { return reflect.ValueOf(*f).IsZero() }

func (f *Filter) check() error {
	for _, l := range []struct {
		name string
		vs   []string
	}{{"tags", f.Tags}, {"format", f.Format}, {"make", []string{f.Make}}, {"model", []string{f.Model}}} {
		if len(l.vs) > maxFilterValues {
			return badParam(l.name, "at most %d values", maxFilterValues)
		}
		for _, v := range l.vs {
			if !utf8.ValidString(v) {
				return badParam(l.name, "not valid UTF-8")
			}
		}
	}
	for _, r := range []struct {
		name     string
		min, max *int
	}{{"width", f.WidthMin, f.WidthMax}, {"height", f.HeightMin, f.HeightMax}} {
		if r.min != nil && r.max != nil && *r.min > *r.max {
			return badParam(r.name+"_min", "greater than %s_max", r.name)
		}
	}
	var taken [2]time.Time
	for i, t := range []struct{ name, v string }{{"taken_from", f.TakenFrom}, {"taken_to", f.TakenTo}} {
		if t.v != "" {
			var err error
			if taken[i], err = record.ParseTime(t.v); err != nil {
				return badParam(t.name, "%q is not an RFC 3339 time or YYYY-MM-DD date", t.v)
			}
		}
	}
	if !taken[0].IsZero() && !taken[1].IsZero() && taken[0].After(taken[1]) {
		return badParam("taken_from", "later than taken_to")
	}
	if f.Near != "" {
		if _, err := parseNear(f.Near); err != nil {
			return err
		}
	}
	if f.BBox != "" {
		if _, err := parseBBox(f.BBox); err != nil {
			return err
		}
	}
	return nil
}

type near struct{ lat, lon, km float64 }

// decimal is a plain decimal number: strconv also takes hexadecimal
// floats and underscores, which no caller means by a coordinate.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func parseFloats(param, s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, badParam(param, "%q: want %d comma-separated numbers", s, n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		p = strings.TrimSpace(p)
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || !decimal.MatchString(p) {
			return nil, badParam(param, "%q: %q is not a number", s, p)
		}
		out[i] = v
	}
	return out, nil
}

func validLatLon(param string, lat, lon float64) error {
	if lat < -90 || lat > 90 {
		return badParam(param, "latitude %v outside -90..90", lat)
	}
	if lon < -180 || lon > 180 {
		return badParam(param, "longitude %v outside -180..180", lon)
	}
	return nil
}

func parseNear(s string) (near, error) {
	v, err := parseFloats("near", s, 3)
	if err != nil {
		return near{}, err
	}
	if err := validLatLon("near", v[0], v[1]); err != nil {
		return near{}, err
	}
	if v[2] <= 0 || v[2] > 20040 {
		return near{}, badParam("near", "distance %v km must be in (0, 20040]", v[2])
	}
	return near{v[0], v[1], v[2]}, nil
}

type bbox struct{ top, left, bottom, right float64 }

func parseBBox(s string) (bbox, error) {
	v, err := parseFloats("bbox", s, 4)
	if err != nil {
		return bbox{}, err
	}
	if err := validLatLon("bbox", v[0], v[1]); err != nil {
		return bbox{}, err
	}
	if err := validLatLon("bbox", v[2], v[3]); err != nil {
		return bbox{}, err
	}
	if v[0] < v[2] {
		return bbox{}, badParam("bbox", "top latitude %v is south of bottom %v", v[0], v[2])
	}
	return bbox{v[0], v[1], v[2], v[3]}, nil
}
