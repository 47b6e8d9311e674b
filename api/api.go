package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

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
	// Ready, when set, is asked by GET /readyz besides a search: a
	// server that ingests through Kafka is not ready while it has no
	// broker.
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
}

type server struct {
	opts Options
	log  *slog.Logger
}

// New returns the HTTP handler of the picdex API and web UI.
//
// gin prints route tables in its debug mode; binaries should call
// gin.SetMode(gin.ReleaseMode) before New, as cmd/picdex does.
func New(opts Options) http.Handler {
	opts.setDefaults()
	s := &server{opts: opts, log: opts.Logger}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil) // the access log records the peer, not a spoofable header
	r.Use(s.accessLog, s.recovery)
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "no route for "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})

	v1 := r.Group("/v1")
	v1.GET("/search", s.searchGET)
	v1.POST("/search", s.searchPOST)
	v1.GET("/images/*id", s.getImage)
	v1.DELETE("/images/*id", s.deleteImage)
	v1.POST("/images", s.ingest)

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
	if s.opts.Searcher == nil {
		writeError(c, http.StatusServiceUnavailable, "unavailable", "no searcher configured")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if _, err := s.opts.Searcher.Search(ctx, &index.Request{Size: new(1)}); err != nil {
		s.log.Warn("readiness search failed", "err", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "index not ready: "+err.Error())
		return
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			writeError(c, http.StatusServiceUnavailable, "unavailable", "not ready: "+err.Error())
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
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
