package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// accessLog records one line per request.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int("bytes", c.Writer.Size()),
		slog.String("remote", c.ClientIP()),
	}
	if k, ok := KeyFromContext(c.Request.Context()); ok {
		attrs = append(attrs, slog.String("key", k.ID)) // the id, never the key
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// recovery turns a handler panic into a logged 500 JSON answer. The stack
// goes to the log, never to the client.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec) // net/http's way to abort a response; let it through
		}
		s.log.Error("panic in handler", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		writeError(c, http.StatusInternalServerError, "internal", "internal server error")
	}()
	c.Next()
}
