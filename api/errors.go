package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/query"
	"github.com/picdex/picdex/index/record"
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Param names the offending request
// parameter; Position is the byte offset of a query syntax error.
type ErrorDetail struct {
	Code     string        `json:"code"`
	Message  string        `json:"message"`
	Param    string        `json:"param,omitempty"`
	Position *int          `json:"position,omitempty"`
	Limit    string        `json:"limit,omitempty"` // the budget limit a query_too_expensive query exceeds
	Records  []RecordError `json:"records,omitempty"`
}

// RecordError is one rejected record of a batch ingest, with every
// problem it has.
type RecordError struct {
	Index    int             `json:"index"`          // 0-based position in the batch
	Line     int             `json:"line,omitempty"` // 1-based line, for NDJSON bodies
	Reason   string          `json:"reason"`         // the problems, "field: reason" joined by "; "
	Problems []RecordProblem `json:"problems"`
}

// RecordProblem is one problem of a rejected record: the field at fault
// (a dotted path into an object, or "record" for the whole of it) and why.
type RecordProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func writeError(c *gin.Context, status int, code, msg string) {
	writeDetail(c, status, ErrorDetail{Code: code, Message: msg})
}

func writeDetail(c *gin.Context, status int, d ErrorDetail) {
	c.AbortWithStatusJSON(status, ErrorBody{Error: d})
}

// writeJSON encodes v before the status line goes out, so that a value
// that cannot be encoded (a score that is not finite, say) is a logged 500
// rather than a 200 with an empty body.
func (s *server) writeJSON(c *gin.Context, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encoding the response", "method", clip(c.Request.Method, 16), "path", clip(c.Request.URL.Path, maxLoggedPath), "err", err)
		writeError(c, http.StatusInternalServerError, "internal", "internal server error")
		return
	}
	c.Data(status, "application/json; charset=utf-8", body)
}

// statusClientClosed is the status logged and counted for a request whose
// client went away before its answer.
const statusClientClosed = 499

// ErrUnavailable is wrapped by backends whose own dependency is down (a
// Kafka broker, say): the answer is 503 with Retry-After, not a 500.
var ErrUnavailable = errors.New("temporarily unavailable")

// fail answers err with the status its kind calls for: 4xx for what the
// caller got wrong, 503/504 for overload and timeouts, 500 (logged, with a
// generic message) for everything else.
func (s *server) fail(c *gin.Context, err error) {
	var (
		pe *query.ParseError
		re *index.RequestError
		be *index.BudgetError
	)
	switch {
	case errors.As(err, &be):
		s.reject(RejectQueryTooExpensive)
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "query_too_expensive", Message: be.Error(), Param: be.Param, Limit: be.Limit})
	case errors.Is(err, index.ErrOverloaded):
		s.reject(RejectOverloaded)
		c.Header("Retry-After", "1")
		writeError(c, http.StatusTooManyRequests, "overloaded", err.Error())
	case errors.As(err, &pe):
		pos := pe.Pos
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "invalid_query", Message: pe.Error(), Param: "q", Position: &pos})
	case errors.As(err, &re):
		code := "bad_request"
		if re.Param == "q" {
			code = "invalid_query"
		}
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: code, Message: re.Error(), Param: re.Param})
	case errors.Is(err, index.ErrBadRequest):
		writeError(c, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, record.ErrInvalid):
		writeError(c, http.StatusBadRequest, "invalid_record", err.Error())
	case errors.Is(err, index.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(c, http.StatusGatewayTimeout, "timeout", "the request took too long")
	case errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil:
		// The client went away: nobody reads this answer, and it is not
		// a server fault to count or alert on. 499 is nginx's "client
		// closed request".
		writeError(c, statusClientClosed, "client_closed", "the client closed the request")
	case errors.Is(err, context.Canceled):
		// The server is shutting down: retry against another instance.
		writeError(c, http.StatusServiceUnavailable, "unavailable", "request canceled")
	case errors.Is(err, ErrUnavailable):
		c.Header("Retry-After", "5")
		writeError(c, http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, index.ErrPartial):
		c.Header("Retry-After", "5")
		writeError(c, http.StatusServiceUnavailable, "partial", err.Error())
	case errors.Is(err, index.ErrAllShardsFailed):
		s.log.Error("search failed on every shard", "path", clip(c.Request.URL.Path, maxLoggedPath), "err", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "no index shard could answer")
	default:
		s.log.Error("internal error", "method", clip(c.Request.Method, 16), "path", clip(c.Request.URL.Path, maxLoggedPath), "err", err)
		writeError(c, http.StatusInternalServerError, "internal", "internal server error")
	}
}
