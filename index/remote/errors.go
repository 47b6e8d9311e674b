package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/query"
)

// ErrUnknownShard means the shard server does not host the generation and
// shard asked for (a 404 on a shard route): another replica may.
var ErrUnknownShard = errors.New("shard not hosted here")

// statusClientClosed is nginx's "client closed request".
const statusClientClosed = 499

// errorBody is the public API's error shape, with the fields that let a
// caller rebuild the shard's error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Param    string `json:"param,omitempty"`
	Position *int   `json:"position,omitempty"`
	Limit    string `json:"limit,omitempty"`
	// Beyond the public shape: a *index.BudgetError's counts, a
	// *index.RequestError's reason, a *query.ParseError's message.
	Max    int    `json:"max,omitempty"`
	Got    int    `json:"got,omitempty"`
	What   string `json:"what,omitempty"`
	Reason string `json:"reason,omitempty"`
	Syntax string `json:"syntax,omitempty"`
}

// describe maps a shard call's error to a status and body. ok is false
// for a real fault, which the caller logs and answers with a generic 500.
func describe(r *http.Request, err error) (status int, d errorDetail, ok bool) {
	var (
		be *index.BudgetError
		re *index.RequestError
		pe *query.ParseError
	)
	d.Message = err.Error()
	switch {
	case errors.As(err, &be):
		return http.StatusBadRequest, errorDetail{Code: "query_too_expensive", Message: be.Error(), Param: be.Param,
			Limit: be.Limit, Max: be.Max, Got: be.Got, What: be.What}, true
	case errors.As(err, &re):
		d.Code, d.Param, d.Reason = "bad_request", re.Param, re.Reason
		if errors.As(err, &pe) {
			pos := pe.Pos
			d.Code, d.Position, d.Syntax = "invalid_query", &pos, pe.Msg
		}
		return http.StatusBadRequest, d, true
	case errors.Is(err, index.ErrBadRequest):
		d.Code = "bad_request"
		return http.StatusBadRequest, d, true
	case errors.Is(err, index.ErrOverloaded):
		d.Code = "overloaded"
		return http.StatusTooManyRequests, d, true
	case errors.Is(err, index.ErrNotFound):
		d.Code = "not_found"
		return http.StatusNotFound, d, true
	case errors.Is(err, ErrUnknownShard):
		d.Code = "unknown_shard"
		return http.StatusNotFound, d, true
	case errors.Is(err, context.DeadlineExceeded):
		d.Code, d.Message = "timeout", "the shard call took too long"
		return http.StatusGatewayTimeout, d, true
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		d.Code, d.Message = "client_closed", "the client closed the request"
		return statusClientClosed, d, true
	case errors.Is(err, context.Canceled):
		d.Code, d.Message = "unavailable", "the shard server is shutting down"
		return http.StatusServiceUnavailable, d, true
	}
	return http.StatusInternalServerError, errorDetail{Code: "internal", Message: "internal server error"}, false
}

// remoteError is an error answered by a shard server: its message is the
// shard's, and it wraps what the status and code say it is.
type remoteError struct {
	msg  string
	kind []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.kind }

// rebuild turns an error response back into the error the shard returned.
// req, when known, gives a parse error its query.
func rebuild(status int, body []byte, req *index.Request, server string) error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		eb.Error = errorDetail{Message: strings.TrimSpace(string(body))}
	}
	d := eb.Error
	msg := d.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	wrap := func(kinds ...error) error { return &remoteError{msg: msg, kind: kinds} }
	switch {
	case d.Code == "query_too_expensive":
		return &index.BudgetError{Limit: d.Limit, Param: d.Param, Max: d.Max, Got: d.Got, What: d.What}
	case status == http.StatusBadRequest && d.Param != "":
		re := &index.RequestError{Param: d.Param, Reason: d.Reason}
		if d.Position != nil {
			q := ""
			if req != nil {
				q = req.Query
			}
			re.Err = &query.ParseError{Pos: *d.Position, Msg: d.Syntax, Query: q}
		}
		return re
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge:
		return wrap(index.ErrBadRequest)
	case status == http.StatusTooManyRequests:
		return wrap(index.ErrOverloaded)
	case d.Code == "unknown_shard":
		return fmt.Errorf("%s: %w", server, ErrUnknownShard)
	case status == http.StatusNotFound && d.Code == "not_found":
		return wrap(index.ErrNotFound)
	case status == http.StatusGatewayTimeout:
		return fmt.Errorf("%s: %s: %w", server, msg, context.DeadlineExceeded)
	case status == statusClientClosed:
		return fmt.Errorf("%s: %w", server, context.Canceled)
	}
	return fmt.Errorf("%s: %d %s", server, status, msg)
}
