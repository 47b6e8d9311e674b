package query

import (
	"errors"
	"fmt"
)

// ErrSyntax is the sentinel every *ParseError unwraps to, so callers can
// map any parse failure to a "bad request" with errors.Is.
var ErrSyntax = errors.New("query syntax error")

// ParseError reports where and why a query could not be parsed.
type ParseError struct {
	Pos   int    // byte offset in Query
	Msg   string // what is wrong, without the position
	Query string // the query as given to Parse
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%v at position %d: %s", ErrSyntax, e.Pos, e.Msg)
}

func (e *ParseError) Unwrap() error { return ErrSyntax }
