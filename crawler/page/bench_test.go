package page

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkParse parses an article page of about 100 KB: a head with
// metadata, 60 sections each with a heading, paragraphs, a figure and
// links.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<!doctype html><html lang=en><head><title>A long article</title><meta name=keywords content="a,b,c">` +
		`<meta property="og:image" content="/lead.jpg"><link rel=canonical href="/article"></head><body><nav>`)
	for i := range 40 {
		fmt.Fprintf(&sb, `<a href="/section/%d">Section %d</a> `, i, i)
	}
	sb.WriteString("</nav><main>")
	for i := range 60 {
		fmt.Fprintf(&sb, `<h2>Heading number %d</h2><p>%s <a href="/related/%d">related</a></p>`+
			`<figure><img src="/img/%d.jpg" srcset="/img/%d-640.jpg 640w, /img/%d-1280.jpg 1280w" alt="photo %d of the harbour at dusk" width=640 height=480>`+
			`<figcaption>Caption for image %d with a few words</figcaption></figure><p>%s</p>`,
			i, strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 12), i, i, i, i, i, i,
			strings.Repeat("Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ", 6))
	}
	sb.WriteString("</main></body></html>")
	doc := []byte(sb.String())
	u, _ := url.Parse("https://example.com/article")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(u, bytes.NewReader(doc), Limits{})
		if err != nil || len(p.Images) != 61 {
			b.Fatalf("%v, %d images", err, len(p.Images))
		}
	}
}
