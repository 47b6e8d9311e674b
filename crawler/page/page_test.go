package page

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t testing.TB, pageURL, doc string) *Page {
	t.Helper()
	u, err := url.Parse(pageURL)
	require.NoError(t, err)
	p, err := Parse(u, strings.NewReader(doc), Limits{})
	require.NoError(t, err)
	return p
}

func urls(us []*url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP://Example.COM:80/a/./b/../c?x=1#frag": "http://example.com/a/c?x=1",
		"https://example.com:443":                   "https://example.com/",
		"https://example.com:8443/":                 "https://example.com:8443/",
		"http://user:pw@example.com/":               "http://example.com/",
		"http://example.com/%7euser/%2f%41":         "http://example.com/~user/%2FA",
		"http://example.com/a%20b":                  "http://example.com/a%20b",
		"http://example.com/?":                      "http://example.com/",
		"http://bücher.example/straße":              "http://xn--bcher-kva.example/stra%C3%9Fe",
		"http://example.com./x":                     "http://example.com/x",
		"http://[::1]:8080/x":                       "http://[::1]:8080/x",
		"http://example.com/../../x":                "http://example.com/x",
		"http://example.com/a/b/..":                 "http://example.com/a/",
		"ftp://example.com/":                        "",
		"mailto:someone@example.com":                "",
		"http:///nohost":                            "",
	} {
		u, err := url.Parse(in)
		require.NoError(t, err, in)
		got := ""
		if n := Normalize(u); n != nil {
			got = n.String()
		}
		assert.Equal(t, want, got, in)
	}
}

func TestResolve(t *testing.T) {
	base, _ := url.Parse("https://example.com/dir/page.html")
	for ref, want := range map[string]string{
		"img.jpg":                  "https://example.com/dir/img.jpg",
		"/root.png":                "https://example.com/root.png",
		"//cdn.example.net/x.gif":  "https://cdn.example.net/x.gif",
		"  ../up.jpg\n":            "https://example.com/up.jpg",
		"ima\nge.jpg":              "https://example.com/dir/image.jpg",
		"#top":                     "https://example.com/dir/page.html",
		"javascript:alert(1)":      "",
		"data:image/gif;base64,R0": "",
		"mailto:x@example.com":     "",
		"":                         "",
		"http://[bad":              "",
	} {
		got := ""
		if u := Resolve(base, ref); u != nil {
			got = u.String()
		}
		assert.Equal(t, want, got, "%q", ref)
	}
	assert.Equal(t, Fingerprint(Resolve(base, "/a?b=1#x")), Fingerprint(Resolve(base, "https://EXAMPLE.com:443/a?b=1")))
	assert.NotEqual(t, Fingerprint(Resolve(base, "/a")), Fingerprint(Resolve(base, "/b")))
}

func TestSrcset(t *testing.T) {
	for set, want := range map[string]string{
		"a.jpg 320w, b.jpg 1280w, c.jpg 640w":     "b.jpg",
		"a.jpg, b.jpg 2x, c.jpg 1.5x":             "b.jpg",
		"a.jpg 1x,b.jpg 3x":                       "b.jpg",
		"img,with,commas.jpg 100w, other.jpg 50w": "img,with,commas.jpg",
		"x.jpg 100w (junk), y.jpg 200w":           "y.jpg",
		"bad.jpg 12q, good.jpg":                   "good.jpg",
		"":                                        "",
		"  ,, only.jpg":                           "only.jpg",
		"a.jpg 0w, b.jpg 10w":                     "b.jpg",
		"https://cdn/x.jpg?w=1,2 640w, small 10w": "https://cdn/x.jpg?w=1,2",
	} {
		assert.Equal(t, want, largest(set), "%q", set)
	}
}

func TestParseImages(t *testing.T) {
	p := mustParse(t, "https://news.example.com/2024/story.html", `<!doctype html>
<html lang="en-GB"><head>
<title>  Storm hits   the harbour </title>
<base href="https://static.example.com/media/">
<link rel="canonical" href="https://news.example.com/story?id=7#x">
<meta name="keywords" content="storm, harbour,  Storm , boats">
<meta property="og:image" content="/og/lead.jpg">
<meta property="og:image:width" content="1200"><meta property="og:image:height" content="630">
<meta property="og:image:alt" content="Waves over the pier">
<meta name="twitter:image" content="lead-tw.jpg">
</head><body>
<h1>Storm hits the harbour</h1>
<p>Waves broke over the <b>old pier</b> on Sunday. <img src="pier.jpg" alt="The old pier under water" width="800" height="600"></p>
<figure>
  <img srcset="boat-640.jpg 640w, boat-1600.jpg 1600w" src="boat-640.jpg" alt="A fishing boat" title="Boat title">
  <figcaption>The <i>Mary Rose</i> at her moorings.</figcaption>
</figure>
<p>Residents were evacuated.</p>
<h2>Clean-up</h2>
<picture>
  <source type="image/avif" srcset="crew.avif 2000w">
  <source srcset="crew-800.webp 800w">
  <img src="crew.jpg" alt="The clean-up crew">
</picture>
<p>Volunteers arrived early.</p>
<img src="/og/lead.jpg" alt="Waves over the pier, again">
<img data-src="lazy.jpg" src="data:image/gif;base64,R0lGOD" alt="Lazy loaded">
<noscript><img src="noscript.jpg" alt="From noscript"></noscript>
<img src="pixel.gif" width="1" height="1" alt="">
<img src="icon.png" width="16" height="16" alt="menu">
<img src="spacer.gif" alt="spacer">
<img src="deco.jpg" alt="">
<img src="hidden.jpg" alt="x" aria-hidden="true">
<img src="javascript:evil()">
<script>document.write('<img src="script.jpg">')</script>
<a href="/next">next</a> <a href="/ads" rel="sponsored nofollow">ad</a> <a href="mailto:a@b">mail</a>
<a href="https://other.example.org/x#y">other</a> <a href="/next#again">next again</a>
</body></html>`)

	assert.Equal(t, "Storm hits the harbour", p.Title)
	assert.Equal(t, "en-GB", p.Lang)
	assert.Equal(t, "https://static.example.com/media/", p.Base.String())
	assert.Equal(t, "https://news.example.com/story?id=7", p.Canonical.String())
	assert.Equal(t, []string{"storm", "harbour", "boats"}, p.Keywords)
	assert.Equal(t, []string{"https://static.example.com/next", "https://other.example.org/x"}, urls(p.Links))

	byURL := map[string]Image{}
	for _, img := range p.Images {
		byURL[strings.TrimPrefix(img.URL.String(), "https://static.example.com/")] = img
	}
	lead := byURL["og/lead.jpg"]
	assert.Equal(t, "og:image", lead.Source)
	assert.Equal(t, "Waves over the pier", lead.Alt)
	assert.Equal(t, 1200, lead.Width)
	assert.Contains(t, byURL, "media/lead-tw.jpg")

	pier := byURL["media/pier.jpg"]
	assert.Equal(t, "The old pier under water", pier.Alt)
	assert.Equal(t, "Storm hits the harbour — Waves broke over the old pier on Sunday.", pier.Context)
	assert.Equal(t, 800, pier.Width)

	boat := byURL["media/boat-1600.jpg"]
	assert.Equal(t, "The Mary Rose at her moorings.", boat.Caption)
	assert.Equal(t, "Boat title", boat.Title)
	assert.Equal(t, "Storm hits the harbour — Waves broke over the old pier on Sunday.", boat.Context, "the paragraph before it")

	crew := byURL["media/crew.avif"]
	assert.Equal(t, "picture", crew.Source)
	assert.Equal(t, "The clean-up crew", crew.Alt)
	assert.Equal(t, "Clean-up — Volunteers arrived early.", crew.Context, "the paragraph after it, under its own heading")

	assert.Equal(t, "Lazy loaded", byURL["media/lazy.jpg"].Alt)
	assert.Equal(t, "From noscript", byURL["media/noscript.jpg"].Alt)
	assert.NotContains(t, byURL, "media/script.jpg")

	for name, reason := range map[string]string{
		"media/pixel.gif":  "tracking pixel or spacer",
		"media/icon.png":   "icon",
		"media/spacer.gif": "spacer file name",
		"media/deco.jpg":   "empty alt",
		"media/hidden.jpg": "hidden from assistive technology",
	} {
		img, ok := byURL[name]
		require.True(t, ok, name)
		assert.True(t, img.Decorative, name)
		assert.Equal(t, reason, img.DecorativeReason, name)
	}
	for _, name := range []string{"og/lead.jpg", "media/pier.jpg", "media/boat-1600.jpg", "media/crew.avif"} {
		assert.False(t, byURL[name].Decorative, name)
	}

	recs := p.Records(false)
	require.Len(t, recs, 7)
	for _, r := range recs {
		assert.Equal(t, "https://news.example.com/story?id=7", r.PageURL)
		assert.Equal(t, "web", r.Source)
		assert.Equal(t, []string{"storm", "harbour", "boats"}, r.Tags)
		assert.NotEmpty(t, r.ID)
	}
	assert.Equal(t, "Storm hits the harbour", recs[1].Title, "page title when the image has none")
	assert.Equal(t, "jpeg", recs[1].Format)
	assert.Len(t, p.Records(true), 12)
	for _, r := range p.Records(true) {
		if strings.HasSuffix(r.URL, "/pixel.gif") {
			assert.Equal(t, `"tracking pixel or spacer"`, string(r.Extra["decorative"]))
		}
	}
}

func TestParseRobotsMeta(t *testing.T) {
	p := mustParse(t, "http://example.com/", `<meta name="robots" content="noindex, nofollow"><img src="a.jpg" alt="a"><a href="/b">b</a>`)
	assert.True(t, p.NoIndex)
	assert.True(t, p.NoFollow)
	assert.Empty(t, p.Records(true))
	assert.Len(t, p.Images, 1)
	assert.True(t, mustParse(t, "http://example.com/", `<meta name=ROBOTS content=none>`).NoIndex)
}

func TestParseCharset(t *testing.T) {
	u, _ := url.Parse("http://example.com/")
	latin1 := "<title>Caf\xe9</title><p>cr\xe8me <img src=a.jpg alt='br\xfbl\xe9e'></p>"
	p, err := ParseWithType(u, "text/html; charset=iso-8859-1", strings.NewReader(latin1), Limits{})
	require.NoError(t, err)
	assert.Equal(t, "Café", p.Title)
	assert.Equal(t, "brûlée", p.Images[0].Alt)

	p = mustParse(t, "http://example.com/", `<meta charset="shift_jis"><title>`+"\x93\xfa\x96\x7b"+`</title>`)
	assert.Equal(t, "日本", p.Title)

	// No declaration, valid UTF-8 past the first KiB: UTF-8.
	p = mustParse(t, "http://example.com/", "<title>"+strings.Repeat(" ", 2000)+"서울 야경</title>")
	assert.Equal(t, "서울 야경", p.Title)

	// Invalid bytes never reach the text.
	p = mustParse(t, "http://example.com/", "<meta charset=utf-8><img src=a.jpg alt=\"ok\xff\xfe then\">")
	assert.Equal(t, "ok then", p.Images[0].Alt)
}

func TestParseBoundsText(t *testing.T) {
	long := strings.Repeat("word ", 1000) + "日本語"
	p := mustParse(t, "http://example.com/", "<p>"+long+"<img src=a.jpg alt='"+strings.Repeat("é", 600)+"'></p>")
	img := p.Images[0]
	assert.LessOrEqual(t, len(img.Context), 500)
	assert.LessOrEqual(t, len(img.Alt), 500)
	assert.True(t, utf8.ValidString(img.Alt))
}

func TestParseHostileInputStaysLinear(t *testing.T) {
	for name, doc := range map[string]string{
		"deep nesting":      strings.Repeat("<div><span><p>", 100000) + "<img src=a.jpg alt=x>",
		"stray end tags":    strings.Repeat("</div></p></li>", 200000),
		"many images":       strings.Repeat("<img src=a.jpg>", 100000) + strings.Repeat("<img src=/i/%d.jpg>", 50000),
		"huge attribute":    "<img alt=\"" + strings.Repeat("x", 3<<20) + "\" src=a.jpg>",
		"unclosed comment":  "<!--" + strings.Repeat("<img src=a.jpg>", 10000),
		"nul bytes":         strings.Repeat("<p>\x00<img src=\"\x00a.jpg\" alt=\"\x00\">", 10000),
		"open figures":      strings.Repeat("<figure><figcaption>cap", 50000),
		"open pictures":     strings.Repeat("<picture><source srcset='a.jpg 1w'>", 50000),
		"nested lists":      strings.Repeat("<ul><li>", 100000),
		"srcset of commas":  "<img srcset=\"" + strings.Repeat(",", 1<<20) + "\">",
		"unclosed raw text": "<script>" + strings.Repeat("<img src=x.jpg>", 100000),
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan *Page)
			go func() {
				u, _ := url.Parse("http://example.com/")
				p, _ := Parse(u, strings.NewReader(doc), Limits{})
				done <- p
			}()
			select {
			case p := <-done:
				require.NotNil(t, p)
				assert.LessOrEqual(t, len(p.Images), 2000)
			case <-time.After(20 * time.Second):
				t.Fatal("parsing did not finish")
			}
		})
	}
}

// A page's keywords are the page author's: one too long, or too many,
// costs the keyword, not the images.
func TestRecordsKeepImagesWithUnfitKeywords(t *testing.T) {
	kws := []string{strings.Repeat("x", 300), "harbour"}
	for i := range 300 {
		kws = append(kws, "kw"+strings.Repeat("k", i%5)+string(rune('a'+i%26))+strings.Repeat("z", i/26))
	}
	doc := `<html><head><title>Harbour</title><meta name="keywords" content="` + strings.Join(kws, ", ") +
		`"></head><body><img src="/a.jpg" alt="boats in the harbour" width="640" height="480"></body></html>`
	recs := mustParse(t, "https://example.com/", doc).Records(false)
	require.Len(t, recs, 1)
	require.LessOrEqual(t, len(recs[0].Tags), 256)
	require.Contains(t, recs[0].Tags, "harbour")
	for _, tag := range recs[0].Tags {
		require.LessOrEqual(t, len(tag), 256)
	}
}
