package api_test

import (
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picdex/picdex/api"
)

// series gathers reg into "name{k=v,...}" → value; a histogram's value
// is its sample count.
func series(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, func(o *api.Options) {
		o.Registerer = reg
		o.Keys = testKeys(t)
		o.RateLimit = 1000
	})
	addr := serveBounded(t, s.h, fastBodyLimits)
	base := "http://" + addr
	id := corpus()[0].ID
	call(t, "GET", base+"/v1/search?q=red", "", "", "")
	call(t, "GET", base+"/v1/search?q=red", "", "", "")
	call(t, "GET", base+"/v1/images/"+id, "", "", "")
	call(t, "GET", base+"/no/such/route", "", "", "")
	call(t, "FROB", base+"/v1/search", "", "", "")
	call(t, "POST", base+"/v1/images", "", "application/json", `{}`)                               // unauthorized
	call(t, "POST", base+"/v1/images", bearerOf(searchKey), "application/json", `{}`)              // forbidden
	call(t, "POST", base+"/v1/images", bearerOf(writeKey), "text/plain", `{}`)                     // unsupported_media_type
	call(t, "POST", base+"/v1/search", "", "application/json", strings.Repeat(" ", 2<<20))         // payload_too_large
	call(t, "POST", base+"/v1/search", "", "text/csv", `q`)                                        // unsupported_media_type
	call(t, "GET", base+"/v1/search?q="+url.QueryEscape(manyPatterns(20)), "", "", "")             // query_too_expensive
	call(t, "GET", base+"/v1/search?q=red*", "", "", "")                                           // an expensive search
	if _, _, _, conn, err := dribble(addr, "Authorization: Bearer "+writeKey+"\r\n"); err == nil { // request_timeout
		conn.Close()
	} else {
		t.Fatal(err)
	}

	got := series(t, reg)
	for key, want := range map[string]float64{
		`picdex_http_requests_total{method=GET,route=/v1/search,status=200}`:     3,
		`picdex_http_requests_total{method=GET,route=/v1/images/*id,status=200}`: 1,
		`picdex_http_requests_total{method=GET,route=unmatched,status=404}`:      1,
		`picdex_http_requests_total{method=other,route=unmatched,status=405}`:    1,
		`picdex_http_requests_total{method=POST,route=/v1/images,status=401}`:    1,
		`picdex_http_requests_total{method=POST,route=/v1/images,status=408}`:    1,
		`picdex_http_request_duration_seconds{method=GET,route=/v1/search}`:      4,
		`picdex_http_rejections_total{reason=unauthorized}`:                      1,
		`picdex_http_rejections_total{reason=forbidden}`:                         1,
		`picdex_http_rejections_total{reason=unsupported_media_type}`:            2,
		`picdex_http_rejections_total{reason=payload_too_large}`:                 1,
		`picdex_http_rejections_total{reason=request_timeout}`:                   1,
		`picdex_http_rejections_total{reason=rate_limited}`:                      0,
		`picdex_http_rejections_total{reason=query_too_expensive}`:               1,
		`picdex_http_rejections_total{reason=overloaded}`:                        0,
		`picdex_search_duration_seconds{class=term,expensive=false}`:             2,
		`picdex_search_duration_seconds{class=pattern,expensive=true}`:           1,
		`picdex_search_duration_seconds{class=pattern,expensive=false}`:          1, // over the budget
	} {
		v, ok := got[key]
		if !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}

	// A second handler on the same registry shares the series.
	s2 := newServer(t, func(o *api.Options) { o.Registerer = reg; o.RateLimit = 0.5 })
	for range 2 {
		req := httptest.NewRequest("GET", "/openapi.json", nil)
		s2.h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if v := series(t, reg)[`picdex_http_rejections_total{reason=rate_limited}`]; v != 1 {
		t.Errorf("rate_limited = %v, want 1", v)
	}
}

func TestNoRegistererNoMetrics(t *testing.T) {
	s := newServer(t) // must not touch the default registry
	before, _ := prometheus.DefaultGatherer.Gather()
	s.get(t, "/v1/search?q=red")
	after, _ := prometheus.DefaultGatherer.Gather()
	if len(after) != len(before) {
		t.Errorf("default registry grew from %d to %d families", len(before), len(after))
	}
	for _, mf := range after {
		if strings.HasPrefix(mf.GetName(), "picdex_") {
			t.Errorf("%s in the default registry", mf.GetName())
		}
	}
}

// manyPatterns is a query of n distinct prefixes, over the budget's 16.
func manyPatterns(n int) string {
	var ps []string
	for i := range n {
		ps = append(ps, string(rune('a'+i%26))+string(rune('a'+i/26))+"*")
	}
	return strings.Join(ps, " ")
}
