package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Reasons a request is turned away, the values of the reason label of
// picdex_http_rejections_total.
const (
	RejectUnauthorized         = "unauthorized"
	RejectForbidden            = "forbidden"
	RejectRateLimited          = "rate_limited"
	RejectPayloadTooLarge      = "payload_too_large"
	RejectRequestTimeout       = "request_timeout"
	RejectUnsupportedMediaType = "unsupported_media_type"
	RejectQueryTooExpensive    = "query_too_expensive"
	RejectOverloaded           = "overloaded"
)

// Guard is the access control in front of an HTTP API: it identifies the
// caller by its bearer key, applies the caller's rate limit, then checks
// that the key's scopes allow the call. The public API (New) puts one in
// front of its routes as gin middleware (Gin); Handler is the same for a
// plain net/http mux, such as the internal API the cluster roles will
// serve.
//
// The order matters: a request with a wrong key is limited by its address
// before it is refused, so guessing keys costs the guesser its rate limit.
type Guard struct {
	// Keys, when nil, turns key checks off: every call is allowed.
	Keys *Keys
	// Anonymous are the scopes of a request that carries no key.
	Anonymous Scope
	// Need says which scope a request needs; zero means none (the request
	// is served without a key, but still rate limited). Nil: every request
	// needs admin.
	Need func(*http.Request) Scope
	// Exempt requests are neither limited nor checked: probes and metrics
	// must answer while an overloaded or misconfigured server refuses the
	// rest.
	Exempt func(*http.Request) bool
	// Limiter, when set, limits each key, or each client address for
	// requests without a valid key.
	Limiter *RateLimiter
	// Reject is told why a request was refused (one of the Reject*
	// constants), for metrics.
	Reject func(reason string)
}

type keyCtx struct{}

// KeyFromContext returns the key the request of ctx was admitted with, if
// it carried a valid one.
func KeyFromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(Key)
	return k, ok
}

// Handler wraps next with the guard.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r, ok := g.admit(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// Gin is the guard as gin middleware.
func (g *Guard) Gin(c *gin.Context) {
	r, ok := g.admit(c.Writer, c.Request)
	if !ok {
		c.Abort()
		return
	}
	c.Request = r
	c.Next()
}

// admit answers a request the guard refuses and reports false, or returns
// the request, with its key in the context, for the handler.
func (g *Guard) admit(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if g.Exempt != nil && g.Exempt(r) {
		return r, true
	}
	need := ScopeAdmin
	if g.Need != nil {
		need = g.Need(r)
	}
	var (
		key              Key
		valid, presented bool
	)
	if g.Keys != nil {
		var token string
		token, presented = bearer(r)
		if presented {
			key, valid = g.Keys.Lookup(token)
		}
	}
	if g.Limiter != nil {
		id := clientAddr(r)
		if valid {
			id = key.ID
		}
		if ok, wait := g.Limiter.Allow(id); !ok {
			g.reject(RejectRateLimited)
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			writeHTTPError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("over the rate limit of %g requests a second; retry later", g.Limiter.Rate()))
			return nil, false
		}
	}
	if g.Keys != nil && need != 0 {
		scopes := g.Anonymous
		if valid {
			scopes |= key.Scopes
		}
		switch {
		case presented && !valid:
			g.reject(RejectUnauthorized)
			w.Header().Set("WWW-Authenticate", `Bearer realm="picdex", error="invalid_token"`)
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "the API key is not valid")
			return nil, false
		case scopes.Allows(need):
		case !valid:
			g.reject(RejectUnauthorized)
			w.Header().Set("WWW-Authenticate", `Bearer realm="picdex"`)
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized",
				fmt.Sprintf("%s %s needs an API key with the %s scope: send Authorization: Bearer KEY", clip(r.Method, 16), clip(r.URL.Path, maxLoggedPath), need))
			return nil, false
		default:
			g.reject(RejectForbidden)
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="picdex", error="insufficient_scope", scope="%s"`, need))
			writeHTTPError(w, http.StatusForbidden, "forbidden",
				fmt.Sprintf("key %s (%s) lacks the %s scope %s %s needs", key.ID, key.Scopes, need, clip(r.Method, 16), clip(r.URL.Path, maxLoggedPath)))
			return nil, false
		}
	}
	if valid {
		r = r.WithContext(context.WithValue(r.Context(), keyCtx{}, key))
	}
	return r, true
}

func (g *Guard) reject(reason string) {
	if g.Reject != nil {
		g.Reject(reason)
	}
}

// bearer returns the token of an Authorization: Bearer header, and whether
// the request had an Authorization header at all; any other scheme counts
// as a wrong key, not as none.
func bearer(r *http.Request) (token string, presented bool) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) > 1:
		return "", true // which one would be meant? Neither counts.
	case len(hs) == 0 || hs[0] == "":
		return "", false
	}
	h := hs[0]
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(token), true
}

// clientAddr is the rate-limit identity of a request without a key: the
// TCP peer's address, never a header a client could set. An IPv6 peer
// counts by its /64, the block one subscriber usually holds, so rotating
// addresses within it does not buy fresh limits.
func clientAddr(r *http.Request) string { return clientOf(r.RemoteAddr) }

// clientOf is the client identity of a host:port peer address.
func clientOf(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// publicScope is the scope a call to the public API needs, by route
// prefix. Anything under /v1 that no rule names needs admin, so a route
// that lands later (/v1/admin/*, /v1/stats) is closed until a rule opens
// it. It reads the path exactly as the router matches it, never cleaned:
// "/v1/images/../../x" is routed to /v1/images/{id} with the id
// "../../x", so cleaning it to "/x" would let a delete through unguarded.
func publicScope(r *http.Request) Scope {
	p := r.URL.Path
	switch {
	case p != "/v1" && !strings.HasPrefix(p, "/v1/"):
		return 0 // probes, /metrics, /openapi.json and the UI
	case p == "/v1/search":
		return ScopeSearch
	case p == "/v1/images" || strings.HasPrefix(p, "/v1/images/"):
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return ScopeSearch
		}
		return ScopeWrite
	}
	return ScopeAdmin
}

// isProbe tells the requests no limit or key may hold up: liveness,
// readiness and metrics scrapes.
func isProbe(r *http.Request) bool {
	switch r.URL.Path { // exactly as routed, like publicScope
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// writeHTTPError writes the API's error shape without gin, for middleware
// that also runs in front of plain net/http handlers.
func writeHTTPError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// guard is the public API's Guard, or nil when there are neither keys nor
// limits.
func (s *server) guard() *Guard {
	o := s.opts
	if o.Keys == nil && o.RateLimit == 0 {
		return nil
	}
	g := &Guard{Keys: o.Keys, Anonymous: ScopeSearch, Need: publicScope, Exempt: isProbe, Reject: s.reject}
	if o.RequireSearchKey {
		g.Anonymous = 0
	}
	if o.RateLimit > 0 {
		l, err := NewRateLimiter(RateLimitOptions{Rate: o.RateLimit})
		if err != nil {
			panic(err) // Validate has checked the rate
		}
		g.Limiter = l
	}
	return g
}
