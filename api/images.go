package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index/record"
)

// maxReportedRecords caps the per-record reasons in a rejected batch.
const maxReportedRecords = 100

// imageID is the {id} of the image endpoints under record.NormalizeID,
// the rule a record's id obeys: GET and DELETE of " id " both mean "id",
// and an id that is not valid UTF-8 is a 400 (no image can have it).
func imageID(c *gin.Context) (string, bool) {
	id, err := record.NormalizeID(strings.TrimPrefix(c.Param("id"), "/"))
	if err != nil {
		var fe *record.FieldError
		errors.As(err, &fe)
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: "id", Message: "image id: " + fe.Reason})
		return "", false
	}
	return id, true
}

// storedImageID is the prologue of the image endpoints: a store to ask and
// a valid id; it has answered the request when ok is false.
func (s *server) storedImageID(c *gin.Context) (id string, ok bool) {
	if s.opts.Store == nil {
		writeError(c, http.StatusNotImplemented, "not_implemented", "this server does not store images")
		return "", false
	}
	return imageID(c)
}

func (s *server) getImage(c *gin.Context) {
	id, ok := s.storedImageID(c)
	if !ok {
		return
	}
	raw, err := s.opts.Store.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
}

func (s *server) deleteImage(c *gin.Context) {
	id, ok := s.storedImageID(c)
	if !ok {
		return
	}
	if err := s.opts.Store.Delete(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": id})
}

// ingest accepts a JSON array of records, a single record object, or
// NDJSON. Every record is parsed before any is handed on, so a batch is
// accepted whole or not at all.
func (s *server) ingest(c *gin.Context) {
	if s.opts.Ingester == nil {
		writeError(c, http.StatusNotImplemented, "not_implemented", "this server does not ingest")
		return
	}
	ndjson, ok := ingestFormat(c.GetHeader("Content-Type"))
	if !ok {
		s.reject(RejectUnsupportedMediaType)
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: POST /v1/images takes application/json (an array or one record) or application/x-ndjson, in UTF-8", c.GetHeader("Content-Type")))
		return
	}
	recs, bad, done := s.readRecords(c, ndjson)
	if done {
		return
	}
	if bad.tooMany {
		writeDetail(c, http.StatusRequestEntityTooLarge, ErrorDetail{Code: "payload_too_large",
			Message: fmt.Sprintf("more than %d records in one request; send them in several", s.opts.MaxIngestRecords)})
		return
	}
	if bad.n > 0 {
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "invalid_record", Records: bad.first,
			Message: fmt.Sprintf("%d of %d records are invalid; nothing was ingested (first: record %d: %s)",
				bad.n, len(recs)+bad.n, bad.first[0].Index, bad.first[0].Reason)})
		return
	}
	if len(recs) == 0 {
		writeError(c, http.StatusBadRequest, "bad_request", "the body holds no records")
		return
	}
	n, err := s.opts.Ingester.Ingest(c.Request.Context(), recs)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": n})
}

// ingestFormat reports whether ct is NDJSON, and whether it is accepted at
// all. A missing type is not: a cross-site page can send a body without
// one, or as text/plain, with no CORS preflight, and ingests can delete.
func ingestFormat(ct string) (ndjson, ok bool) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !utf8Charset(params) {
		return false, false
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return true, true
	}
	return false, isJSON(mt)
}

// readRecords reads and parses an ingest body within an ingest turn. done
// is true when it has answered the request itself.
func (s *server) readRecords(c *gin.Context, ndjson bool) (recs []record.Record, bad badRecords, done bool) {
	if !s.ingestTurn(c) {
		return nil, bad, true
	}
	defer func() { <-s.ingests }()
	body, err := readBody(c, s.opts.MaxIngestBytes)
	if err != nil {
		s.bodyError(c, err)
		return nil, bad, true
	}
	if ndjson {
		recs, bad = parseNDJSON(body, s.opts.MaxIngestRecords)
		return recs, bad, false
	}
	recs, bad, detail := parseJSONBatch(body, s.opts.MaxIngestRecords)
	if detail != nil {
		writeDetail(c, http.StatusBadRequest, *detail)
		return nil, bad, true
	}
	return recs, bad, false
}

// ingestTurn waits for a turn to read and parse an ingest body, up to
// IngestWait; false when it has answered instead (503, or the client
// left). The caller gives the turn back with <-s.ingests.
func (s *server) ingestTurn(c *gin.Context) bool {
	t := time.NewTimer(s.opts.IngestWait)
	defer t.Stop()
	select {
	case s.ingests <- struct{}{}:
		return true
	case <-t.C:
		c.Header("Retry-After", "5")
		writeError(c, http.StatusServiceUnavailable, "unavailable", "too many ingest requests at once; retry later")
	case <-c.Request.Context().Done():
		writeError(c, statusClientClosed, "client_closed", "the client closed the request")
	}
	return false
}

// badRecords are the rejected records of a batch: the first
// maxReportedRecords described, all of them counted; tooMany when the
// batch holds more records than a request may.
type badRecords struct {
	first   []RecordError
	n       int
	tooMany bool
}

func (b *badRecords) add(i, line int, err error) {
	if b.n++; len(b.first) < maxReportedRecords {
		b.first = append(b.first, recordError(i, line, err))
	}
}

func parseJSONBatch(body []byte, maxRecs int) ([]record.Record, badRecords, *ErrorDetail) {
	var bad badRecords
	trimmed := bytes.TrimSpace(body)
	if trimmed[0] == '{' {
		rec, err := record.Parse(trimmed)
		if err != nil {
			bad.add(0, 0, err)
			return nil, bad, nil
		}
		return []record.Record{rec}, bad, nil
	}
	if trimmed[0] != '[' {
		return nil, bad, &ErrorDetail{Code: "bad_request", Message: "body must be a JSON array of records or one record object"}
	}
	var raws []json.RawMessage
	if err := decodeStrict(trimmed, &raws); err != nil {
		d := jsonErrorDetail(err)
		return nil, bad, &d
	}
	if len(raws) > maxRecs {
		return nil, badRecords{tooMany: true}, nil
	}
	recs := make([]record.Record, 0, len(raws))
	for i, raw := range raws {
		rec, err := record.Parse(raw)
		if err != nil {
			bad.add(i, 0, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

func parseNDJSON(body []byte, maxRecs int) ([]record.Record, badRecords) {
	var recs []record.Record
	var bad badRecords
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1) // the body is bounded already; lines are bounded by record.Parse
	line, i := 0, 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if i >= maxRecs {
			return nil, badRecords{tooMany: true}
		}
		rec, err := record.Parse(text)
		if err != nil {
			bad.add(i, line, err)
		} else {
			recs = append(recs, rec)
		}
		i++
	}
	return recs, bad
}

// recordError describes the rejected record at index i of a batch: every
// problem, listed and joined into one reason.
func recordError(i, line int, err error) RecordError {
	var errs record.Errors
	if !errors.As(err, &errs) {
		errs = record.Errors{{Field: "record", Reason: err.Error()}}
	}
	re := RecordError{Index: i, Line: line, Problems: make([]RecordProblem, len(errs))}
	reasons := make([]string, len(errs))
	for j, fe := range errs {
		re.Problems[j] = RecordProblem{Field: fe.Field, Reason: fe.Reason}
		reasons[j] = fe.Field + ": " + fe.Reason
	}
	re.Reason = strings.Join(reasons, "; ")
	return re
}
