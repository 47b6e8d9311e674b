package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/picdex/picdex/api"
)

// corsCall makes a real request with an Origin header, and for a
// preflight the Access-Control-Request-* headers.
func corsCall(t *testing.T, method, url, origin string, preflight bool) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if preflight {
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return reply{status: resp.StatusCode, header: resp.Header}
}

func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, ",")
		}
	}
	return out
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	t.Run("off", func(t *testing.T) {
		base, _ := startHTTP(t)
		for _, preflight := range []bool{false, true} {
			method := "GET"
			if preflight {
				method = "OPTIONS"
			}
			r := corsCall(t, method, base+"/v1/search?q=red", app, preflight)
			if h := corsHeaders(r.header); len(h) > 0 || r.header.Get("Vary") != "" {
				t.Errorf("%s: CORS off sends %v, Vary %q", method, h, r.header.Get("Vary"))
			}
			if preflight && r.status == http.StatusNoContent {
				t.Error("CORS off answers a preflight")
			}
		}
	})
	t.Run("list", func(t *testing.T) {
		base, _ := startHTTP(t, func(o *api.Options) {
			o.CORSOrigins = []string{"https://App.Example.com/", "http://localhost:3000"}
			o.Keys = testKeys(t)
		})
		r := corsCall(t, "GET", base+"/v1/search?q=red", app, false)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app || r.header.Get("Vary") != "Origin" {
			t.Errorf("allowed origin: %d %v Vary %q", r.status, corsHeaders(r.header), r.header.Get("Vary"))
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed")
		}
		r = corsCall(t, "OPTIONS", base+"/v1/images", "http://localhost:3000", true)
		want := map[string]string{
			"Access-Control-Allow-Origin":   "http://localhost:3000",
			"Access-Control-Allow-Methods":  "GET, POST, DELETE",
			"Access-Control-Allow-Headers":  "Authorization, Content-Type",
			"Access-Control-Max-Age":        "600",
			"Access-Control-Expose-Headers": "Retry-After, WWW-Authenticate",
		}
		if got := corsHeaders(r.header); r.status != http.StatusNoContent || !equalMaps(got, want) {
			t.Errorf("preflight without a key: %d %v, want 204 %v", r.status, got, want)
		}
		// A refusal still carries the headers, so the page can read why.
		r = corsCall(t, "POST", base+"/v1/images", app, false)
		if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != app {
			t.Errorf("401 to an allowed origin: %d %v", r.status, corsHeaders(r.header))
		}
		for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.test", "null", "http://app.example.com"} {
			for _, preflight := range []bool{false, true} {
				method := "GET"
				if preflight {
					method = "OPTIONS"
				}
				r := corsCall(t, method, base+"/v1/search?q=red", origin, preflight)
				if h := corsHeaders(r.header); len(h) > 0 {
					t.Errorf("%s from %s: %v", method, origin, h)
				}
				if preflight && r.status == http.StatusNoContent {
					t.Errorf("preflight from %s answered 204", origin)
				}
			}
		}
		if r := corsCall(t, "GET", base+"/healthz", "", false); r.header.Get("Vary") != "Origin" {
			t.Errorf("an answer without Origin lacks Vary: Origin (%q)", r.header.Get("Vary"))
		}
	})
	t.Run("any", func(t *testing.T) {
		base, _ := startHTTP(t, func(o *api.Options) { o.CORSOrigins = []string{"*"} })
		r := corsCall(t, "GET", base+"/v1/search?q=red", "https://anyone.test", false)
		if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("*: %v", corsHeaders(r.header))
		}
		if r := corsCall(t, "OPTIONS", base+"/v1/images", "https://anyone.test", true); r.status != http.StatusNoContent {
			t.Errorf("preflight: %d", r.status)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOptionsValidate(t *testing.T) {
	ks := mustKeys(t, "admin "+adminKey)
	for _, c := range []struct {
		name string
		o    api.Options
		ok   bool
	}{
		{"zero", api.Options{}, true},
		{"everything", api.Options{Keys: ks, RequireSearchKey: true, RateLimit: 10, CORSOrigins: []string{"https://a.test", "http://b.test:8080"}}, true},
		{"require without keys", api.Options{RequireSearchKey: true}, false},
		{"negative rate", api.Options{RateLimit: -1}, false},
		{"star with others", api.Options{CORSOrigins: []string{"*", "https://a.test"}}, false},
		{"origin with a path", api.Options{CORSOrigins: []string{"https://a.test/app"}}, false},
		{"origin without scheme", api.Options{CORSOrigins: []string{"a.test"}}, false},
		{"null origin", api.Options{CORSOrigins: []string{"null"}}, false},
		{"file origin", api.Options{CORSOrigins: []string{"file://"}}, false},
	} {
		if err := c.o.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted invalid options")
		}
	}()
	api.New(api.Options{RateLimit: -1})
}
