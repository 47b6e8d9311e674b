package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// accessLog records one line per request. Lines of refusals a client can
// send as fast as it likes (404, 405, 401, 403, 429) are sampled, at most
// refusalLines a second with a count of those left out, and every logged
// path is cut to maxLoggedPath bytes: a flood of 60 KB paths must not
// write gigabytes of log.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	var skipped int64
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		var ok bool
		if ok, skipped = s.refusals.allow(time.Now()); !ok {
			return
		}
	}
	attrs := []slog.Attr{
		slog.String("method", clip(c.Request.Method, 16)),
		slog.String("path", clip(c.Request.URL.Path, maxLoggedPath)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int("bytes", c.Writer.Size()),
		slog.String("remote", c.ClientIP()),
	}
	if k, ok := KeyFromContext(c.Request.Context()); ok {
		attrs = append(attrs, slog.String("key", k.ID)) // the id, never the key
	}
	if skipped > 0 {
		attrs = append(attrs, slog.Int64("refusals_not_logged", skipped))
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// maxLoggedPath bounds a path in a log line or an error message.
const maxLoggedPath = 256

// refusalLines is how many refusal lines a second the access log keeps.
const refusalLines = 20

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// lineSampler lets through at most refusalLines lines a second and counts
// the others, reporting the count with the next line it lets through.
type lineSampler struct {
	mu      sync.Mutex
	second  int64
	lines   int
	skipped int64
}

func (l *lineSampler) allow(now time.Time) (ok bool, skippedBefore int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.lines = sec, 0
	}
	if l.lines >= refusalLines {
		l.skipped++
		return false, 0
	}
	l.lines++
	skippedBefore, l.skipped = l.skipped, 0
	return true, skippedBefore
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
		s.log.Error("panic in handler", "method", clip(c.Request.Method, 16), "path", clip(c.Request.URL.Path, maxLoggedPath),
			"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		writeError(c, http.StatusInternalServerError, "internal", "internal server error")
	}()
	c.Next()
}
