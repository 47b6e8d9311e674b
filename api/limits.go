package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// slowBody answers a body that fell below the minimum transfer rate. The
// connection is closed after the answer: the rest of the body is still on
// its way, and reading it is what the limit is there to avoid.
func (s *server) slowBody(c *gin.Context, err error) {
	s.reject(RejectRequestTimeout)
	c.Header("Connection", "close")
	writeError(c, http.StatusRequestTimeout, "request_timeout", err.Error())
}
