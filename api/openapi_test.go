package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
)

// openAPIDoc is /openapi.json as served.
type openAPIDoc struct {
	raw   any
	Paths map[string]map[string]json.RawMessage
}

func loadOpenAPI(t *testing.T, h http.Handler) *openAPIDoc {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc openAPIDoc
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	doc.raw = raw
	return &doc
}

// template maps a gin route to its OpenAPI path.
func template(route string) string {
	route = strings.ReplaceAll(strings.ReplaceAll(route, "*id", "{id}"), ":id", "{id}")
	return strings.ReplaceAll(route, "*file", "{file}")
}

// TestOpenAPIListsEveryRoute: every route the handler serves is in the
// document, with the same methods, and the document has no route the
// handler lacks.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	s := newServer(t, func(o *api.Options) { o.Metrics = http.NotFoundHandler(); o.Admin = &fakeAdmin{} })
	doc := loadOpenAPI(t, s.h)
	served := map[string]bool{}
	for _, r := range s.h.(*gin.Engine).Routes() {
		path, method := template(r.Path), strings.ToLower(r.Method)
		served[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("%s %s is served but not in openapi.json", r.Method, path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if !served[method+" "+path] {
				t.Errorf("openapi.json lists %s %s, which is not served", method, path)
			}
		}
	}
}

// slowSearcher answers after the caller's deadline.
type slowSearcher struct{}

func (slowSearcher) Search(ctx context.Context, _ *index.Request) (*index.Result, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestOpenAPIResponses sends real requests to every route, reaching every
// status the server answers with, and validates each answer against the
// document: the status must be documented for the operation, the content
// type must be one it lists, and a JSON body must match its schema.
func TestOpenAPIResponses(t *testing.T) {
	keys := testKeys(t)
	plain := newServer(t, func(o *api.Options) { o.Metrics = http.NotFoundHandler() })
	keyed := newServer(t, func(o *api.Options) { o.Keys = keys })
	limited := newServer(t, func(o *api.Options) { o.RateLimit = 0.5 })
	fixed := func(res *index.Result, err error) http.Handler {
		return newServer(t, func(o *api.Options) { o.Searcher = fixedSearcher{res: res, err: err} }).h
	}
	slow := newServer(t, func(o *api.Options) { o.Searcher = slowSearcher{}; o.SearchTimeout = 20 * time.Millisecond }).h
	down := newServer(t, func(o *api.Options) {
		o.Ingester = downIngester{}
		o.Store = downStore{o.Store}
	}).h
	notReady := newServer(t, func(o *api.Options) {
		o.Ready = func(context.Context) error { return fmt.Errorf("no broker") }
	}).h
	admin := newServer(t, func(o *api.Options) { o.Admin = &fakeAdmin{} }).h
	id := corpus()[0].ID
	doc := loadOpenAPI(t, plain.h)
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", doc.raw); err != nil {
		t.Fatal(err)
	}

	type call struct {
		h                        http.Handler
		method, target, ct, body string
		auth                     string
		want                     int
	}
	ndjson := `{"url":"https://example.com/a.jpg","title":"a"}` + "\n"
	calls := []call{
		{plain.h, "GET", "/v1/search?q=red&facet=tags", "", "", "", 200},
		{plain.h, "GET", "/v1/search?q=(", "", "", "", 400},
		{plain.h, "GET", "/v1/search?q=" + url.QueryEscape(manyPatterns(20)), "", "", "", 400},
		{fixed(nil, index.ErrOverloaded), "GET", "/v1/search?q=a*", "", "", "", 429},
		{fixed(nil, fmt.Errorf("%w: shard down", index.ErrAllShardsFailed)), "GET", "/v1/search?q=a", "", "", "", 503},
		{fixed(&index.Result{Hits: []index.Hit{{ID: "x", Score: math.Inf(1), Image: []byte(`{}`)}}}, nil), "GET", "/v1/search?q=a", "", "", "", 500},
		{slow, "GET", "/v1/search?q=a", "", "", "", 504},
		{plain.h, "POST", "/v1/search", "application/json", `{"q":"red","size":0,"facet":["format"]}`, "", 200},
		{plain.h, "POST", "/v1/search", "application/json", `{"tags":"x"}`, "", 400},
		{plain.h, "POST", "/v1/search", "text/csv", `q`, "", 415},
		{plain.h, "POST", "/v1/search", "application/json", strings.Repeat(" ", 2<<20), "", 413},
		{plain.h, "POST", "/v1/images", "application/x-ndjson", ndjson, "", 202},
		{plain.h, "POST", "/v1/images", "application/json", `[{"title":"no url"}]`, "", 400},
		{plain.h, "POST", "/v1/images", "", `[]`, "", 415},
		{plain.h, "GET", "/v1/images/" + id, "", "", "", 200},
		{plain.h, "GET", "/v1/images/absent", "", "", "", 404},
		{plain.h, "GET", "/v1/images/%ff", "", "", "", 400},
		{plain.h, "DELETE", "/v1/images/absent", "", "", "", 200},
		{plain.h, "DELETE", "/v1/images/%ff", "", "", "", 400},
		{down, "POST", "/v1/images", "application/x-ndjson", ndjson, "", 503},
		{down, "DELETE", "/v1/images/x", "", "", "", 503},
		{keyed.h, "POST", "/v1/images", "application/json", `[]`, "", 401},
		{keyed.h, "DELETE", "/v1/images/x", "", "", bearerOf(searchKey), 403},
		{limited.h, "GET", "/v1/search?q=a", "", "", "", 200},
		{limited.h, "GET", "/v1/search?q=a", "", "", "", 429},
		{plain.h, "GET", "/healthz", "", "", "", 200},
		{plain.h, "GET", "/readyz", "", "", "", 200},
		{notReady, "GET", "/readyz", "", "", "", 503},
		{plain.h, "GET", "/openapi.json", "", "", "", 200},
		{plain.h, "GET", "/", "", "", "", 200},
		{plain.h, "GET", "/ui/app.js", "", "", "", 200},
		{admin, "POST", "/v1/admin/reindex", "application/json", `{"from":"a.jsonl"}`, "", 202},
		{admin, "POST", "/v1/admin/reindex", "application/json", `{"from":"a.jsonl"}`, "", 409},
		{admin, "POST", "/v1/admin/reindex", "application/json", `{}`, "", 400},
		{admin, "GET", "/v1/admin/jobs/job-1", "", "", "", 200},
		{admin, "GET", "/v1/admin/jobs/absent", "", "", "", 404},
		{admin, "POST", "/v1/admin/rollback", "application/json", "", "", 200},
		{admin, "POST", "/v1/admin/rollback", "application/json", "", "", 409},
		{admin, "POST", "/v1/admin/rollback", "text/plain", "", "", 415},
	}
	reg := prometheus.NewRegistry()
	withMetrics := newServer(t, func(o *api.Options) { o.Registerer = reg; o.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) })
	calls = append(calls, call{withMetrics.h, "GET", "/metrics", "", "", "", 200})

	seen := map[string]bool{}
	for _, cl := range calls {
		req := httptest.NewRequest(cl.method, cl.target, strings.NewReader(cl.body))
		if cl.ct != "" {
			req.Header.Set("Content-Type", cl.ct)
		}
		if cl.auth != "" {
			req.Header.Set("Authorization", cl.auth)
		}
		w := httptest.NewRecorder()
		cl.h.ServeHTTP(w, req)
		name := fmt.Sprintf("%s %s", cl.method, cl.target)
		if len(name) > 80 {
			name = name[:80]
		}
		if w.Code != cl.want {
			t.Errorf("%s: status %d, want %d: %.200s", name, w.Code, cl.want, w.Body)
			continue
		}
		path := routeOf(req)
		seen[path] = true
		op, ok := doc.Paths[path][strings.ToLower(cl.method)]
		if !ok {
			t.Errorf("%s: %s %s is not in openapi.json", name, cl.method, path)
			continue
		}
		var o struct {
			Responses map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(op, &o); err != nil {
			t.Fatal(err)
		}
		status := fmt.Sprint(w.Code)
		if _, ok := o.Responses[status]; !ok {
			t.Errorf("%s: status %s is not documented for %s %s", name, status, cl.method, path)
			continue
		}
		ct, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
		ptr := responsePointer(path, strings.ToLower(cl.method), status, o.Responses[status])
		media := mediaTypes(t, doc.raw, ptr)
		if _, listed := media[ct]; len(media) > 0 && !listed {
			t.Errorf("%s: Content-Type %q is not one of %v", name, ct, media)
			continue
		}
		if ct != "application/json" || !media["application/json"] {
			continue
		}
		sch, err := c.Compile("openapi.json#" + ptr + "/content/application~1json/schema")
		if err != nil {
			t.Fatalf("%s: compiling its schema: %v", name, err)
		}
		body, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
		if err != nil {
			t.Errorf("%s: body is not JSON: %v", name, err)
			continue
		}
		if err := sch.Validate(body); err != nil {
			t.Errorf("%s: %d body does not match openapi.json: %v\nbody: %.300s", name, w.Code, err, w.Body)
		}
	}
	for path := range doc.Paths {
		if !seen[path] {
			t.Errorf("no request of this test reached %s", path)
		}
	}
}

// routeOf is the OpenAPI path of the gin route that answers req.
func routeOf(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/images/"):
		return "/v1/images/{id}"
	case strings.HasPrefix(p, "/ui/"):
		return "/ui/{file}"
	case strings.HasPrefix(p, "/v1/admin/jobs/"):
		return "/v1/admin/jobs/{id}"
	}
	return p
}

// responsePointer is the JSON pointer of a documented response, following
// a $ref to components/responses.
func responsePointer(path, method, status string, raw json.RawMessage) string {
	var ref struct {
		Ref string `json:"$ref"`
	}
	if json.Unmarshal(raw, &ref) == nil && strings.HasPrefix(ref.Ref, "#") {
		return strings.TrimPrefix(ref.Ref, "#")
	}
	esc := strings.NewReplacer("~", "~0", "/", "~1").Replace
	return "/paths/" + esc(path) + "/" + method + "/responses/" + status
}

// mediaTypes lists the content types a documented response may have,
// each true when the document gives its schema.
func mediaTypes(t *testing.T, doc any, ptr string) map[string]bool {
	t.Helper()
	node := doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("openapi.json has no %s", ptr)
		}
		node = m[part]
	}
	resp, _ := node.(map[string]any)
	content, _ := resp["content"].(map[string]any)
	out := map[string]bool{}
	for mt, v := range content {
		m, _ := v.(map[string]any)
		_, out[mt] = m["schema"]
	}
	return out
}

// downStore deletes through a queue whose broker is away.
type downStore struct{ api.Store }

func (downStore) Delete(context.Context, ...string) error {
	return fmt.Errorf("%w: no broker", api.ErrUnavailable)
}
