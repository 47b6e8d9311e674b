package page

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/picdex/picdex/index/record"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<title>t</title><p>text <img src="a.jpg" srcset="b.jpg 2x" alt="x"></p><a href="/n">n</a>`))
	f.Add([]byte(`<base href="//cdn.example/"><figure><picture><source srcset="a.webp 100w"><img alt=y></picture><figcaption>c</figcaption></figure>`))
	f.Add([]byte(`<meta property="og:image" content="/o.jpg"><meta property="og:image:width" content="9999999999">`))
	f.Add([]byte("<meta charset=euc-kr><noscript><img src=z.png alt='\xb0\xa1'></noscript>"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		u, _ := url.Parse("https://example.com/dir/page.html")
		lim := Limits{MaxText: 64, MaxImages: 50, MaxLinks: 50, MaxDepth: 32}
		p, err := Parse(u, bytes.NewReader(doc), lim)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Images) > 50 || len(p.Links) > 50 {
			t.Fatalf("%d images, %d links over the limits", len(p.Images), len(p.Links))
		}
		for _, l := range p.Links {
			if l.Scheme != "http" && l.Scheme != "https" || l.Host == "" || l.Fragment != "" {
				t.Fatalf("link %q", l)
			}
		}
		for _, img := range p.Images {
			for _, s := range []string{img.Alt, img.Title, img.Caption, img.Context} {
				if len(s) > 64 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Fatalf("text %q", s)
				}
			}
		}
		for _, r := range p.Records(true) {
			if err := r.Normalize(); err != nil {
				t.Fatalf("record %+v: %v", r, err)
			}
			if _, err := record.Parse(mustJSON(t, r)); err != nil {
				t.Fatalf("record does not round-trip: %v", err)
			}
		}
	})
}

func mustJSON(t *testing.T, r record.Record) []byte {
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
