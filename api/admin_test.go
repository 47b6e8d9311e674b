package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index/generation"
)

// fakeAdmin runs one job at a time, which never ends, and rolls back
// once.
type fakeAdmin struct {
	mu      sync.Mutex
	got     []generation.ReindexRequest
	running bool
	rolled  bool
}

func (f *fakeAdmin) StartReindex(_ context.Context, req generation.ReindexRequest) (generation.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return generation.JobStatus{}, generation.ErrJobRunning
	}
	f.running = true
	f.got = append(f.got, req)
	return f.status(), nil
}

func (f *fakeAdmin) status() generation.JobStatus {
	return generation.JobStatus{ID: "job-1", Kind: "reindex", State: generation.JobRunning, Phase: "build", Generation: 2, Shards: 16,
		Source: "a.jsonl", Started: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeAdmin) Job(id string) (generation.JobStatus, bool) {
	return f.status(), id == "job-1"
}

func (f *fakeAdmin) Rollback(context.Context) (generation.Generation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rolled {
		return generation.Generation{}, generation.ErrNoPrevious
	}
	f.rolled = true
	return generation.Generation{ID: 1, Shards: 4, State: generation.Live}, nil
}

// TestAdminRoutes: a reindex takes one source or a list, answers 202
// with the job and its Location, a second gets 409; bad bodies are 400;
// the job is read back; rollback answers the live generation, and 409
// when there is none to go back to. Without an Admin there are no such
// routes.
func TestAdminRoutes(t *testing.T) {
	fa := &fakeAdmin{}
	s := newServer(t, func(o *api.Options) { o.Admin = fa })
	do := func(method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		return w
	}
	for _, body := range []string{``, `{}`, `{"from":""}`, `{"from":3}`, `{"from":"a","shard":2}`, `{"from":"a"} {}`} {
		w := do("POST", "/v1/admin/reindex", body)
		assert.Equal(t, http.StatusBadRequest, w.Code, "%s: %s", body, w.Body)
	}
	// What a web page can send without asking the server first is refused.
	for _, h := range [][2]string{{"Content-Type", "text/plain"}, {"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Type", ""}} {
		for _, path := range []string{"/v1/admin/reindex", "/v1/admin/rollback"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(`{"from":"a.jsonl"}`))
			req.Header.Set(h[0], h[1])
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, req)
			assert.Equal(t, http.StatusUnsupportedMediaType, w.Code, "%s %q", path, h[1])
		}
	}
	req := httptest.NewRequest("POST", "/v1/admin/rollback", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	cw := httptest.NewRecorder()
	s.h.ServeHTTP(cw, req)
	assert.Equal(t, http.StatusForbidden, cw.Code, "a cross-site page")
	fa.mu.Lock()
	assert.False(t, fa.rolled, "no rollback was made")
	assert.Empty(t, fa.got, "no job was started")
	fa.mu.Unlock()

	w := do("POST", "/v1/admin/reindex", `{"from":"a.jsonl, b.jsonl","shards":16}`)
	require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
	assert.Equal(t, "/v1/admin/jobs/job-1", w.Header().Get("Location"))
	var st generation.JobStatus
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, "job-1", st.ID)
	assert.Equal(t, []generation.ReindexRequest{{From: []string{"a.jsonl", "b.jsonl"}, Shards: 16}}, fa.got)
	w = do("POST", "/v1/admin/reindex", `{"from":["c.jsonl"]}`)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), `"code":"conflict"`)

	assert.Equal(t, http.StatusOK, do("GET", "/v1/admin/jobs/job-1", "").Code)
	assert.Equal(t, http.StatusNotFound, do("GET", "/v1/admin/jobs/nope", "").Code)
	w = do("POST", "/v1/admin/rollback", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"live":1`)
	assert.Equal(t, http.StatusConflict, do("POST", "/v1/admin/rollback", "").Code)

	plain := newServer(t)
	req = httptest.NewRequest("POST", "/v1/admin/rollback", nil)
	rec := httptest.NewRecorder()
	plain.h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}
