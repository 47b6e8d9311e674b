package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/picdex/picdex/index/generation"
)

// Admin runs the admin calls: reindex jobs and rollback (picdex serve;
// see indexer.Generations). Without one the routes are not served.
type Admin interface {
	// StartReindex starts a job and returns its status at once; the job
	// runs on whatever the request does. generation.ErrJobRunning when
	// one runs already.
	StartReindex(ctx context.Context, req generation.ReindexRequest) (generation.JobStatus, error)
	Job(id string) (generation.JobStatus, bool)
	// Rollback makes the previous generation live again;
	// generation.ErrNoPrevious when there is none.
	Rollback(ctx context.Context) (generation.Generation, error)
}

// maxAdminBodyBytes bounds an admin call's body.
const maxAdminBodyBytes = 64 << 10

// reindexBody is POST /v1/admin/reindex's body: "from" a source or a
// list of them.
type reindexBody struct {
	From   json.RawMessage `json:"from"`
	Shards int             `json:"shards"`
}

// adminRequest refuses an admin call a web page could have made: a POST
// that is not JSON (a form, or text/plain: what a browser sends from any
// page without asking the server first), or one the browser says came
// from another site.
func (s *server) adminRequest(c *gin.Context) bool {
	if c.GetHeader("Sec-Fetch-Site") == "cross-site" {
		writeError(c, http.StatusForbidden, "forbidden", "admin calls are not taken from another site's page")
		return false
	}
	if ct := c.GetHeader("Content-Type"); ct == "" || !isJSON(ct) {
		s.reject(RejectUnsupportedMediaType)
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: admin calls take application/json (-H 'Content-Type: application/json'), even with no body", ct))
		return false
	}
	return true
}

func (s *server) adminReindex(c *gin.Context) {
	if !s.adminRequest(c) {
		return
	}
	body, err := readBody(c, maxAdminBodyBytes)
	if err != nil {
		s.bodyError(c, err)
		return
	}
	var rb reindexBody
	if err := decodeStrict(body, &rb); err != nil {
		writeDetail(c, http.StatusBadRequest, jsonErrorDetail(err))
		return
	}
	req := generation.ReindexRequest{Shards: rb.Shards}
	var one string
	switch {
	case len(rb.From) == 0:
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: "from", Message: `"from" is required: a JSONL file or a directory of them on the server, or a list of them`})
		return
	case json.Unmarshal(rb.From, &one) == nil:
		for part := range strings.SplitSeq(one, ",") {
			if part = strings.TrimSpace(part); part != "" {
				req.From = append(req.From, part)
			}
		}
	case json.Unmarshal(rb.From, &req.From) != nil:
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: "from", Message: `"from" must be a string or a list of strings`})
		return
	}
	if len(req.From) == 0 {
		writeDetail(c, http.StatusBadRequest, ErrorDetail{Code: "bad_request", Param: "from", Message: `"from" names no source`})
		return
	}
	st, err := s.opts.Admin.StartReindex(c.Request.Context(), req)
	if err != nil {
		s.adminFail(c, err)
		return
	}
	c.Header("Location", "/v1/admin/jobs/"+st.ID)
	c.JSON(http.StatusAccepted, st)
}

func (s *server) adminJob(c *gin.Context) {
	st, ok := s.opts.Admin.Job(c.Param("id"))
	if !ok {
		writeError(c, http.StatusNotFound, "not_found", fmt.Sprintf("no job %q (jobs are kept while the server runs)", clip(c.Param("id"), 64)))
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *server) adminRollback(c *gin.Context) {
	if !s.adminRequest(c) {
		return
	}
	g, err := s.opts.Admin.Rollback(c.Request.Context())
	if err != nil {
		s.adminFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"live": g.ID, "shards": g.Shards, "generation": g})
}

func (s *server) adminFail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, generation.ErrJobRunning), errors.Is(err, generation.ErrNoPrevious):
		writeError(c, http.StatusConflict, "conflict", err.Error())
	default:
		s.fail(c, err)
	}
}
