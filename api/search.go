package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// searchParams is the set of query parameters GET /v1/search accepts: the
// form names of index.Request, read from its tags so they cannot drift.
var searchParams = formNames(reflect.TypeOf(index.Request{}))

func formNames(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k := range formNames(f.Type) {
				out[k] = true
			}
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("form"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// repeatableParams may be given more than once; every other parameter
// given twice is an error rather than one value silently winning.
var repeatableParams = map[string]bool{"sort": true, "facet": true, "tags": true, "format": true}

func (s *server) searchGET(c *gin.Context) {
	query, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		// url.Query would drop the pair it cannot decode, and the search
		// would run without it.
		writeError(c, http.StatusBadRequest, "bad_request", "malformed query string: "+err.Error())
		return
	}
	for k, vs := range query {
		// An empty value is no value: size= is the default size and
		// tags= no tag filter, for every parameter alike.
		vs = slices.DeleteFunc(vs, func(v string) bool { return v == "" })
		if len(vs) == 0 {
			delete(query, k)
		} else {
			query[k] = vs
		}
	}
	var unknown []string
	for k, vs := range query {
		if !searchParams[k] {
			unknown = append(unknown, k)
			continue
		}
		if len(vs) > 1 && !repeatableParams[k] {
			writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: k,
				Message: fmt.Sprintf("parameter %q is given %d times; it takes one value", k, len(vs))})
			return
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: unknown[0],
			Message: fmt.Sprintf("unknown parameter %q; see /openapi.json", unknown[0])})
		return
	}
	var req index.Request
	if err := binding.MapFormWithTag(&req, query, "form"); err != nil {
		param := badFormParam(query)
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: param,
			Message: fmt.Sprintf("%s: %s", param, bindReason(err))})
		return
	}
	s.search(c, &req)
}

// badFormParam finds the parameter gin could not bind, which its error
// does not name, by binding each parameter on its own.
func badFormParam(query map[string][]string) string {
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var probe index.Request
		if err := binding.MapFormWithTag(&probe, map[string][]string{k: query[k]}, "form"); err != nil {
			return k
		}
	}
	return "query"
}

// bindReason turns strconv's wording into something a caller can act on.
func bindReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "ParseInt"), strings.Contains(msg, "ParseUint"):
		return "not an integer"
	case strings.Contains(msg, "ParseBool"):
		return "not a boolean (true or false)"
	case strings.Contains(msg, "ParseFloat"):
		return "not a number"
	}
	return msg
}

func (s *server) searchPOST(c *gin.Context) {
	if !isJSON(c.GetHeader("Content-Type")) {
		s.reject(RejectUnsupportedMediaType)
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: POST /v1/search takes application/json, in UTF-8", c.GetHeader("Content-Type")))
		return
	}
	body, err := readBody(c, maxSearchBodyBytes)
	if err != nil {
		s.bodyError(c, err)
		return
	}
	if d := checkSearchBody(body); d != nil {
		writeDetail(c, http.StatusBadRequest, *d)
		return
	}
	var req index.Request
	if err := decodeStrict(body, &req); err != nil {
		writeDetail(c, http.StatusBadRequest, jsonErrorDetail(err))
		return
	}
	s.search(c, &req)
}

func (s *server) search(c *gin.Context, req *index.Request) {
	if s.opts.Searcher == nil {
		writeError(c, http.StatusNotImplemented, "not_implemented", "this server does not search")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.SearchTimeout)
	defer cancel()
	client := clientAddr(c.Request)
	if k, ok := KeyFromContext(c.Request.Context()); ok {
		client = k.ID
	}
	ctx = index.WithClient(ctx, client)
	start := time.Now()
	res, err := s.opts.Searcher.Search(ctx, req)
	s.searched(req, res, time.Since(start))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeResult(c, res)
}

// checkSearchBody holds a search body to what GET takes: an object whose
// member names are parameters, written exactly (encoding/json would take
// "Q" for q), each once.
func checkSearchBody(body []byte) *ErrorDetail {
	if !json.Valid(body) {
		return nil // decodeStrict says where
	}
	if !utf8.Valid(body) {
		// encoding/json would make U+FFFD of it and search for that; a
		// query string that is not UTF-8 is refused, and so is this.
		return &ErrorDetail{Code: "bad_request", Message: "body is not valid UTF-8"}
	}
	keys, _, _, err := record.ObjectKeys(body)
	if err != nil {
		return &ErrorDetail{Code: "bad_request", Message: "body must be a JSON object of search parameters"}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		switch {
		case seen[k]:
			return &ErrorDetail{Code: "bad_request", Param: k, Message: fmt.Sprintf("%q is given twice", k)}
		case !searchParams[k]:
			msg := fmt.Sprintf("unknown field %q; see /openapi.json", k)
			for p := range searchParams {
				if strings.EqualFold(p, k) {
					msg = fmt.Sprintf("unknown field %q: names are case-sensitive, did you mean %q?", k, p)
				}
			}
			return &ErrorDetail{Code: "bad_request", Param: k, Message: msg}
		}
		seen[k] = true
	}
	return nil
}

// isJSON accepts application/json, any +json type, and no type at all
// (curl --data-binary without -H), since the body is decoded strictly. A
// missing type is safe for a search, which changes nothing; writes refuse
// it (ingestFormat).
func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !utf8Charset(params) {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// utf8Charset reports whether a media type's parameters allow its body
// to be read as UTF-8, which is all JSON is (RFC 8259): no charset, or
// utf-8.
func utf8Charset(params map[string]string) bool {
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

var errEmptyBody = errors.New("request body is empty")

// readBody reads the whole body, at most limit bytes.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	if c.Request.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errEmptyBody
	}
	return body, nil
}

func (s *server) bodyError(c *gin.Context, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.reject(RejectPayloadTooLarge)
		writeError(c, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
	case errors.Is(err, ErrSlowBody), errors.Is(err, os.ErrDeadlineExceeded):
		// Too slow for the minimum rate, or, with none, for ReadTimeout.
		s.slowBody(c, err)
	case errors.Is(err, errEmptyBody):
		writeError(c, http.StatusBadRequest, "bad_request", err.Error())
	default:
		// A body that breaks off mid-read is the client's doing.
		writeError(c, http.StatusBadRequest, "bad_request", "reading request body: "+err.Error())
	}
}

// slowBody answers a body that fell below the minimum transfer rate. The
// connection is closed after the answer: the rest of the body is still on
// its way, and reading it is what the limit is there to avoid.
func (s *server) slowBody(c *gin.Context, err error) {
	s.reject(RejectRequestTimeout)
	c.Header("Connection", "close")
	writeError(c, http.StatusRequestTimeout, "request_timeout", err.Error())
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonErrorDetail explains a JSON decoding error, naming the field when
// encoding/json knows it.
func jsonErrorDetail(err error) ErrorDetail {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return ErrorDetail{Code: "bad_request", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return ErrorDetail{Code: "bad_request", Message: fmt.Sprintf("body must be a JSON object, not %s", typ.Value)}
		}
		return ErrorDetail{Code: "bad_request", Param: field,
			Message: fmt.Sprintf("%s: got JSON %s, want %s", field, typ.Value, jsonKind(typ.Type))}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrorDetail{Code: "bad_request", Message: "malformed JSON: unexpected end of body"}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		param := strings.Trim(name, `"`)
		return ErrorDetail{Code: "bad_request", Param: param, Message: fmt.Sprintf("unknown field %s; see /openapi.json", name)}
	}
	return ErrorDetail{Code: "bad_request", Message: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

// jsonPath drops the Go names of embedded structs (Filter) from the path
// encoding/json reports, leaving the JSON names the caller wrote.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && unicode.IsUpper([]rune(p)[0]) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}
