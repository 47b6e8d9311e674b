package api_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/picdex/picdex/index/record"
)

// TestImageIDRule: GET and DELETE read {id} by record.NormalizeID, the
// rule a record's own id obeys, so they agree with each other and with
// what ingest stored.
func TestImageIDRule(t *testing.T) {
	s := newServer(t)
	body := `[{"id":" spaced ","url":"https://ex.test/s.jpg"},{"id":"` + "\uFFFD" + `","url":"https://ex.test/r.jpg"}]`
	wantStatus(t, s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(body)), http.StatusAccepted)

	for _, target := range []string{"/v1/images/spaced", "/v1/images/%20spaced%20", "/v1/images/%09spaced"} {
		w := s.get(t, target)
		wantStatus(t, w, http.StatusOK)
		if r := decode[record.Record](t, w); r.ID != "spaced" {
			t.Errorf("GET %s: id %q", target, r.ID)
		}
	}
	for _, c := range []struct {
		method, target string
	}{
		{http.MethodGet, "/v1/images/%ff"},
		{http.MethodDelete, "/v1/images/%ff"},
		{http.MethodDelete, "/v1/images/a%fe%20b"},
		{http.MethodGet, "/v1/images/%20%20"},
		{http.MethodDelete, "/v1/images/%20"},
		{http.MethodDelete, "/v1/images/" + strings.Repeat("x", record.MaxIDBytes+1)},
	} {
		d := wantError(t, s.do(t, c.method, c.target, "", nil), http.StatusBadRequest, "bad_request")
		if d.Param != "id" {
			t.Errorf("%s %s: param %q, want id", c.method, c.target, d.Param)
		}
	}
	// The refused %ff deleted nothing: the image whose id is U+FFFD is there.
	wantStatus(t, s.get(t, "/v1/images/%EF%BF%BD"), http.StatusOK)

	w := s.do(t, http.MethodDelete, "/v1/images/%20spaced%20", "", nil)
	wantStatus(t, w, http.StatusOK)
	if got := decode[map[string]string](t, w); got["deleted"] != "spaced" {
		t.Errorf("delete answered %s", w.Body)
	}
	wantError(t, s.get(t, "/v1/images/spaced"), http.StatusNotFound, "not_found")
}

// TestIngestEveryProblem: a rejected record's entry lists each of its
// problems, and its reason joins them all.
func TestIngestEveryProblem(t *testing.T) {
	s := newServer(t)
	long := strings.Repeat("sunset ", 40) // 280 bytes
	body := `[{"url":"https://ex.test/ok.jpg"},{"url":"https://ex.test/bad.jpg","width":"wide","taken_at":"noon","tags":["fine","` + long + `"],"phash":"1"}]`
	d := wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(body)), http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 1 || d.Records[0].Index != 1 {
		t.Fatalf("records %+v", d.Records)
	}
	re := d.Records[0]
	want := []string{"tags", "width", "taken_at", "phash"} // schema order
	if len(re.Problems) != len(want) {
		t.Fatalf("problems %+v, want fields %v", re.Problems, want)
	}
	for i, p := range re.Problems {
		if p.Field != want[i] || p.Reason == "" {
			t.Errorf("problem %d: %+v, want field %s", i, p, want[i])
		}
		if !strings.Contains(re.Reason, p.Field+": "+p.Reason) {
			t.Errorf("reason %q lacks problem %+v", re.Reason, p)
		}
	}
	if tag := re.Problems[0].Reason; !strings.Contains(tag, `"`+long[:40]+`…"`) || !strings.Contains(tag, "256 bytes") {
		t.Errorf("the tag problem does not name the tag: %q", tag)
	}
	if n := strings.Count(re.Reason, "; "); n != len(want)-1 {
		t.Errorf("reason %q", re.Reason)
	}

	// A tag over the limit alone rejects its record, and so the batch.
	d = wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/x-ndjson",
		strings.NewReader(`{"url":"https://ex.test/t.jpg","tags":["`+long+`"]}`)), http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 1 || len(d.Records[0].Problems) != 1 || d.Records[0].Problems[0].Field != "tags" || d.Records[0].Line != 1 {
		t.Errorf("records %+v", d.Records)
	}
	wantError(t, s.get(t, "/v1/images/"+record.DeriveID("https://ex.test/t.jpg")), http.StatusNotFound, "not_found")
	wantError(t, s.get(t, "/v1/images/"+record.DeriveID("https://ex.test/ok.jpg")), http.StatusNotFound, "not_found")

	// Malformed JSON is one problem of the record as a whole.
	d = wantError(t, s.do(t, http.MethodPost, "/v1/images", "application/x-ndjson", strings.NewReader("{\"url\":")), http.StatusBadRequest, "invalid_record")
	if len(d.Records) != 1 || len(d.Records[0].Problems) != 1 || d.Records[0].Problems[0].Field != "record" {
		t.Errorf("records %+v", d.Records)
	}
}

// TestIngestRepairsUnknownFields: invalid UTF-8 in an unknown field is
// repaired at ingest, so every response holding the record is valid.
func TestIngestRepairsUnknownFields(t *testing.T) {
	s := newServer(t)
	body := "{\"url\":\"https://ex.test/u.jpg\",\"title\":\"okapi\",\"notes\":{\"by\\xff\":\"a\\xfe\\xffz\",\"n\":1.50},\"k\\xff\":1}"
	body = strings.ReplaceAll(body, `\xff`, "\xff")
	body = strings.ReplaceAll(body, `\xfe`, "\xfe")
	wantStatus(t, s.do(t, http.MethodPost, "/v1/images", "application/json", strings.NewReader(body)), http.StatusAccepted)
	w := s.get(t, "/v1/images/"+record.DeriveID("https://ex.test/u.jpg"))
	wantStatus(t, w, http.StatusOK)
	if !utf8.Valid(w.Body.Bytes()) {
		t.Fatalf("GET body not valid UTF-8: %q", w.Body)
	}
	if !strings.Contains(w.Body.String(), `"notes":{"by\ufffd":"a\ufffd\ufffdz","n":1.50}`) {
		t.Errorf("unknown field not repaired byte for byte: %s", w.Body)
	}
	w = s.get(t, "/v1/search?q=okapi")
	wantStatus(t, w, http.StatusOK)
	if !utf8.Valid(w.Body.Bytes()) || !strings.Contains(w.Body.String(), `a\ufffd\ufffdz`) {
		t.Errorf("search body: %q", w.Body)
	}
}
