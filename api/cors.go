package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// corsMaxAge is how long a browser may cache a preflight answer; browsers
// cap it themselves (Chrome at two hours).
const corsMaxAge = 10 * 60

// cors answers cross-origin requests from the configured origins. It never
// sends Access-Control-Allow-Credentials: keys travel in an Authorization
// header a page sets itself, not in cookies a browser would attach on its
// own, so no origin ever gets a caller's ambient credentials.
type cors struct {
	any     bool // configured as "*"
	origins map[string]bool
}

// newCORS checks the configured origins; none means CORS off (nil).
func newCORS(list []string) (*cors, error) {
	if len(list) == 0 {
		return nil, nil
	}
	c := &cors{origins: map[string]bool{}}
	for _, o := range list {
		if o == "*" {
			if len(list) > 1 {
				return nil, fmt.Errorf("CORS origin *: allows every origin, so it stands alone")
			}
			c.any = true
			continue
		}
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		c.origins[norm] = true
	}
	return c, nil
}

// normalizeOrigin turns "https://Example.com/" into the serialized form a
// browser sends in Origin: scheme://host[:port], lower case, no path.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("CORS origin %q: want scheme://host[:port], e.g. https://app.example.com, or *", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func (c *cors) handle(ctx *gin.Context) {
	h := ctx.Writer.Header()
	if !c.any {
		// The answer depends on Origin; caches must keep one per origin,
		// also of the answers that carry no CORS headers.
		h.Add("Vary", "Origin")
	}
	origin := ctx.GetHeader("Origin")
	if origin == "" || !(c.any || c.origins[strings.ToLower(origin)]) {
		ctx.Next()
		return
	}
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
	if ctx.Request.Method == http.MethodOptions && ctx.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
		ctx.AbortWithStatus(http.StatusNoContent)
		return
	}
	ctx.Next()
}
