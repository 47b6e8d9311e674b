package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// Searcher answers searches; index.Searcher implementations satisfy it.
type Searcher interface {
	Search(ctx context.Context, req *index.Request) (*index.Result, error)
}

// Store reads and removes single images. Get wraps index.ErrNotFound for an
// unknown id; Delete of an absent id is not an error.
type Store interface {
	Get(ctx context.Context, id string) (json.RawMessage, error)
	Delete(ctx context.Context, ids ...string) error
}

// Ingester accepts validated, normalized records for indexing and returns
// how many it accepted. It may apply them synchronously or queue them.
type Ingester interface {
	Ingest(ctx context.Context, recs []record.Record) (int, error)
}

// Defaults for Options.
const (
	DefaultSearchTimeout  = 30 * time.Second
	DefaultMaxIngestBytes = 32 << 20
	DefaultMaxIngestRecs  = 200_000
	maxSearchBodyBytes    = 1 << 20
	readyTimeout          = 2 * time.Second
)

// Options configure New. A nil Searcher, Store or Ingester turns the
// endpoints that need it into 501 answers, so a read-only role can serve
// the same API.
type Options struct {
	Searcher Searcher
	Store    Store
	Ingester Ingester
	// Admin, when set, runs the admin calls (/v1/admin/...).
	Admin Admin
	// Ready, when set, is asked by GET /readyz besides a search: a
	// server that ingests through Kafka is not ready while it has no
	// broker. Its error is shown to whoever asks: say what, not where.
	Ready func(ctx context.Context) error
	// Metrics, when set, is served at GET /metrics (Prometheus).
	Metrics http.Handler
	// Logger receives access logs and server faults (default: discard).
	Logger *slog.Logger
	// SearchTimeout bounds one search (default 30s); past it the API
	// answers 504.
	SearchTimeout time.Duration
	// MaxIngestBytes bounds a POST /v1/images body (default 32 MiB).
	MaxIngestBytes int64
	// MaxIngestRecords bounds the records of one POST /v1/images
	// (default 200,000): each costs a few kilobytes while it is parsed.
	MaxIngestRecords int
	// IngestConcurrency is how many POST /v1/images bodies are read and
	// parsed at once (default 2); more wait up to IngestWait, then 503.
	// Parsing is CPU-bound and a 32 MiB body of tiny records is gigabytes
	// on the way, so more at once only multiplies the memory.
	IngestConcurrency int
	IngestWait        time.Duration

	// Keys, when set, are the API keys: writes (scope write) and admin
	// calls (scope admin) need one, and so do searches and image reads
	// (scope search) with RequireSearchKey. Nil: no key is needed.
	// Probes, /metrics, /openapi.json and the UI never need one.
	Keys *Keys
	// RequireSearchKey makes searches and GET /v1/images/{id} need a key
	// with the search scope too. It needs Keys.
	RequireSearchKey bool
	// RateLimit is the requests a second each key, or each client address
	// without a valid key, may make (burst twice that); past it the API
	// answers 429 with Retry-After. Zero: no limit. Probes and /metrics are
	// never limited.
	RateLimit float64
	// CORSOrigins are the origins whose pages may call the API from a
	// browser (scheme://host[:port]), or just "*" for any. Empty: no CORS
	// headers at all, so browsers keep other origins' pages out.
	CORSOrigins []string
	// Registerer, when set, receives the API's Prometheus series
	// (picdex_http_*); nil: none are recorded. Serving them is Metrics'
	// job.
	Registerer prometheus.Registerer
}

// Validate reports options New cannot use.
func (o Options) Validate() error {
	if o.RequireSearchKey && o.Keys == nil {
		return errors.New("RequireSearchKey without Keys: no key could ever be presented")
	}
	if o.RateLimit < 0 || math.IsNaN(o.RateLimit) || math.IsInf(o.RateLimit, 0) {
		return fmt.Errorf("rate limit %g: want a positive number of requests a second, or 0 for none", o.RateLimit)
	}
	if _, err := newCORS(o.CORSOrigins); err != nil {
		return err
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SearchTimeout <= 0 {
		o.SearchTimeout = DefaultSearchTimeout
	}
	if o.MaxIngestBytes <= 0 {
		o.MaxIngestBytes = DefaultMaxIngestBytes
	}
	if o.MaxIngestRecords <= 0 {
		o.MaxIngestRecords = DefaultMaxIngestRecs
	}
	if o.IngestConcurrency <= 0 {
		o.IngestConcurrency = 2
	}
	if o.IngestWait <= 0 {
		o.IngestWait = 30 * time.Second
	}
}

type server struct {
	ingests   chan struct{} // a token per ingest body being read and parsed
	readiness readinessCache
	refusals  lineSampler // of the access log
	opts      Options
	log       *slog.Logger
	metrics   *metrics
}

// New returns the HTTP handler of the picdex API and web UI.
//
// gin prints route tables in its debug mode; binaries should call
// gin.SetMode(gin.ReleaseMode) before New, as cmd/picdex does. New panics
// when opts fail Validate.
func New(opts Options) http.Handler {
	if err := opts.Validate(); err != nil {
		panic("api.New: " + err.Error())
	}
	opts.setDefaults()
	s := &server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registerer), ingests: make(chan struct{}, opts.IngestConcurrency)}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	// gin's redirect to the path with(out) a trailing slash answers in
	// HTML; a JSON API answers 404 or 405 in its own shape instead.
	r.RedirectTrailingSlash = false
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil) // the access log records the peer, not a spoofable header
	r.Use(s.accessLog, s.observe, s.recovery)
	if c, _ := newCORS(opts.CORSOrigins); c != nil {
		r.Use(c.handle) // before the guard: a preflight carries no key
	}
	if g := s.guard(); g != nil {
		r.Use(g.Gin)
	}
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "no route for "+clip(c.Request.Method, 16)+" "+clip(c.Request.URL.Path, maxLoggedPath))
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", clip(c.Request.Method, 16)+" is not allowed on "+clip(c.Request.URL.Path, maxLoggedPath))
	})

	v1 := r.Group("/v1")
	v1.GET("/search", s.searchGET)
	v1.POST("/search", s.searchPOST)
	v1.GET("/images/*id", s.getImage)
	v1.DELETE("/images/*id", s.deleteImage)
	v1.POST("/images", s.ingest)
	if opts.Admin != nil {
		v1.POST("/admin/reindex", s.adminReindex)
		v1.GET("/admin/jobs/:id", s.adminJob)
		v1.POST("/admin/rollback", s.adminRollback)
	}

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	if opts.Metrics != nil {
		r.GET("/metrics", gin.WrapH(opts.Metrics))
	}
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", openAPI) })
	s.routeUI(r)
	return r
}

func (s *server) ready(c *gin.Context) {
	if err := s.readiness.check(c.Request.Context(), s.readyCheck); err != nil {
		writeError(c, http.StatusServiceUnavailable, "unavailable", "not ready: "+err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// readyCheck is what readiness means: a search answers and, when set,
// Options.Ready agrees. Probes are open to anyone: the search's error goes
// to the log only, and Ready's errors are written for the public.
func (s *server) readyCheck(ctx context.Context) error {
	if s.opts.Searcher == nil {
		return errors.New("no searcher configured")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if _, err := s.opts.Searcher.Search(ctx, &index.Request{Size: new(1)}); err != nil {
		s.log.Warn("readiness search failed", "err", err)
		return errors.New("the index does not answer a search (see the server log)")
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readinessCache answers readiness probes from one check a second at
// most: a probe is open to anyone and unthrottled, and each check is a
// search on every shard.
type readinessCache struct {
	mu      sync.Mutex
	checked time.Time
	err     error
}

const readinessTTL = time.Second

func (r *readinessCache) check(ctx context.Context, check func(context.Context) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < readinessTTL {
		return r.err
	}
	r.err = check(ctx)
	r.checked = time.Now()
	return r.err
}

// IndexBackend adapts a local *index.Index to Searcher, Store and Ingester.
// Ingest applies records synchronously with Index.Apply; a queue replaces it
// when ingestion goes through the indexer.
type IndexBackend struct {
	*index.Index
}

// Ingest implements Ingester.
func (b IndexBackend) Ingest(ctx context.Context, recs []record.Record) (int, error) {
	if err := b.Apply(ctx, recs); err != nil {
		return 0, err
	}
	return len(recs), nil
}

var (
	_ Searcher = IndexBackend{}
	_ Store    = IndexBackend{}
	_ Ingester = IndexBackend{}
)
