package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex/index"
)

// metrics are the API's Prometheus series. Every label has a bounded set
// of values: routes are gin's templates, methods the standard ones.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	searches   *prometheus.HistogramVec
}

// durationBuckets reach past the 30 s search timeout.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newMetrics registers the API's series with reg; nil reg: no metrics.
// Series another server already registered with reg are shared, so two
// handlers on one registry (a test, a restart in-process) count together.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picdex_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picdex_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: durationBuckets,
		}, []string{"route", "method"})),
		rejections: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picdex_http_rejections_total",
			Help: "Requests refused before or instead of doing their work, by reason.",
		}, []string{"reason"})),
		searches: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picdex_search_duration_seconds",
			Help:    "Time to answer a search, by query class (index.QueryClass, or invalid) and whether it was expensive.",
			Buckets: durationBuckets,
		}, []string{"class", "expensive"})),
	}
	for _, r := range []string{RejectUnauthorized, RejectForbidden, RejectRateLimited,
		RejectPayloadTooLarge, RejectRequestTimeout, RejectUnsupportedMediaType,
		RejectQueryTooExpensive, RejectOverloaded} {
		m.rejections.WithLabelValues(r) // a zero series, so a dashboard sees the reason before it happens
	}
	return m
}

// register registers c, or returns the collector reg already holds under
// the same description. Any other failure is a programming error (two
// series of one name with different labels) and panics, as MustRegister.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// observe counts and times every request, whatever answered it.
func (s *server) observe(c *gin.Context) {
	if s.metrics == nil {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := methodLabel(c.Request.Method)
	s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
	s.metrics.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
}

// methodLabel keeps a client's invented methods out of the label values.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// searched times one search by its class: the one the searcher admitted
// it as, or, for a search that failed, the one its request alone gives.
func (s *server) searched(req *index.Request, res *index.Result, took time.Duration) {
	if s.metrics == nil {
		return
	}
	var c index.Cost
	if res != nil {
		c = res.Cost
	}
	if c.Class == "" {
		c, _ = index.Classify(req) // over the budget has a class too
	}
	class := string(c.Class)
	if class == "" {
		class = "invalid"
	}
	s.metrics.searches.WithLabelValues(class, strconv.FormatBool(c.Expensive)).Observe(took.Seconds())
}

// reject counts a request refused for reason (a Reject* constant, or a new
// reason of the same form: a short snake_case word).
func (s *server) reject(reason string) {
	if s.metrics != nil {
		s.metrics.rejections.WithLabelValues(reason).Inc()
	}
}
