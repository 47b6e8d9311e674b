package page

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// Limits bound what one page may cost. A zero field takes its default.
type Limits struct {
	MaxBytes  int64 // HTML read; the rest is ignored, not an error (default 4 MiB)
	MaxLinks  int   // links kept (default 10,000)
	MaxImages int   // distinct images kept (default 2,000)
	MaxText   int   // bytes of context, caption, alt or title per image (default 500)
	MaxDepth  int   // element nesting followed; deeper tags are read as if flat (default 512)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 4 << 20
	}
	if l.MaxLinks <= 0 {
		l.MaxLinks = 10000
	}
	if l.MaxImages <= 0 {
		l.MaxImages = 2000
	}
	if l.MaxText <= 0 {
		l.MaxText = 500
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 512
	}
	return l
}

// Page is what a crawler needs from one HTML page.
type Page struct {
	URL       *url.URL // normalised page URL
	Base      *url.URL // what relative URLs resolve against: <base href> or URL
	Canonical *url.URL // rel=canonical, nil when absent or not http(s)
	Title     string
	Lang      string
	Keywords  []string // <meta name=keywords>
	// NoIndex and NoFollow come from <meta name=robots> ("none" is both).
	NoIndex, NoFollow bool
	Links             []*url.URL // http(s) links to follow, normalised, deduplicated; rel=nofollow left out
	Images            []Image    // distinct by URL, in order of first appearance
}

// Image is one image a reader of the page sees (or, when Decorative, one
// that is there but says nothing).
type Image struct {
	URL     *url.URL
	Source  string // where it was found first: img, picture, og:image, twitter:image, link:image_src
	Alt     string
	Title   string // the title attribute
	Caption string // the <figcaption> of its <figure>
	Context string // the nearest heading and the paragraph around or near it
	// Width and Height are the declared size (attributes, og:image:width),
	// 0 when not declared.
	Width, Height int

	Decorative       bool
	DecorativeReason string

	// What the decorative rule needs beyond the fields above.
	emptyAlt, hidden     bool
	declaredW, declaredH bool
	heading              string // in force where it was found
}

// ErrNotHTTP is returned for a page URL that is not absolute http(s).
var ErrNotHTTP = errors.New("page URL is not an absolute http(s) URL")

// Parse reads an HTML page served from pageURL. Malformed HTML is read
// leniently, as a browser would; only an unusable page URL is an error.
func Parse(pageURL *url.URL, r io.Reader, lim Limits) (*Page, error) {
	return ParseWithType(pageURL, "", r, lim)
}

// ParseWithType is Parse for a page served with contentType, whose charset
// parameter, if any, says how the bytes are encoded. Without one the
// encoding comes from a byte-order mark or <meta charset>; a page that
// declares nothing is read as UTF-8 when it is valid UTF-8. Bytes that do
// not decode become U+FFFD and never reach a record.
func ParseWithType(pageURL *url.URL, contentType string, r io.Reader, lim Limits) (*Page, error) {
	lim = lim.withDefaults()
	u := Normalize(pageURL)
	if u == nil {
		return nil, ErrNotHTTP
	}
	body, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes))
	if err != nil && len(body) == 0 {
		return nil, err
	}
	body = toUTF8(body, contentType)
	p := newParser(u, lim)
	p.run(html.NewTokenizer(bytes.NewReader(body)))
	return p.finish(), nil
}

func toUTF8(body []byte, contentType string) []byte {
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	if name == "utf-8" || (name == "windows-1252" && !certain && utf8.Valid(body)) {
		return body
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return body
	}
	return out
}

// textBuf collects an element's text: whitespace runs collapsed to one
// space, control characters dropped, at most max bytes kept.
type textBuf struct {
	b     []byte
	max   int
	space bool
}

func (t *textBuf) add(s string) {
	for _, r := range s {
		if len(t.b) >= t.max {
			return
		}
		switch {
		case r == utf8.RuneError:
			continue // undecodable bytes say nothing
		case unicode.IsSpace(r) || unicode.IsControl(r):
			t.space = len(t.b) > 0
			continue
		}
		n := utf8.RuneLen(r)
		if t.space {
			n++
		}
		if len(t.b)+n > t.max {
			t.b = t.b[:len(t.b):len(t.b)]
			t.max = len(t.b) // full: stop at a rune boundary
			return
		}
		if t.space {
			t.b = append(t.b, ' ')
			t.space = false
		}
		t.b = utf8.AppendRune(t.b, r)
	}
}

func (t *textBuf) String() string { return string(t.b) }

// clean collapses whitespace and bounds s the way a textBuf would.
func clean(s string, max int) string {
	t := textBuf{max: max}
	t.add(s)
	return t.String()
}

// elem is an open element on the parser's stack.
type elem struct {
	tag   atom.Atom
	name  string  // for tags without an atom
	block *block  // paragraph-like elements: their text and the images in them
	fig   *figure // <figure>
	head  *textBuf
	sect  bool   // <section>/<article>: the heading before it is restored on close
	saved string // the heading in force when a section opened
}

type block struct {
	text   textBuf
	images []*Image
}

type figure struct {
	caption *textBuf // open <figcaption>, nil otherwise
	text    string
	images  []*Image
}

type pictureState struct {
	cands []candidate
	img   map[string]string // the <img>'s attributes
}

type parser struct {
	lim   Limits
	page  *Page
	base  *url.URL
	stack []elem

	title      textBuf
	inTitle    bool
	titleDone  bool
	heading    string   // the text of the last heading closed
	prevPara   string   // the text of the last paragraph closed since that heading
	awaiting   []*Image // images outside any paragraph, waiting for the next one
	figures    []*figure
	picture    *pictureState
	lastOG     *Image // og:image:width and friends apply to the latest og:image
	images     map[string]*Image
	order      []*Image
	links      map[string]bool
	raw        atom.Atom // the raw-text element whose content comes next
	canonical  string
	keywords   string
	skipTokens int // inside <template>: its content is not the page's
}

func newParser(u *url.URL, lim Limits) *parser {
	return &parser{
		lim:    lim,
		page:   &Page{URL: u, Base: u},
		base:   u,
		title:  textBuf{max: lim.MaxText},
		images: map[string]*Image{},
		links:  map[string]bool{},
	}
}

// blockTags hold the text an image inside them is described by.
var blockTags = map[atom.Atom]bool{
	atom.P: true, atom.Li: true, atom.Td: true, atom.Th: true, atom.Dd: true, atom.Dt: true,
	atom.Blockquote: true, atom.Pre: true, atom.Caption: true, atom.Summary: true,
}

// closesP are the start tags that end an open <p>.
var closesP = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true,
	atom.H6: true, atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Figure: true,
	atom.Section: true, atom.Article: true, atom.Blockquote: true, atom.Pre: true, atom.Header: true,
	atom.Footer: true, atom.Nav: true, atom.Aside: true, atom.Main: true, atom.Form: true, atom.Hr: true,
	atom.Address: true, atom.Details: true, atom.Fieldset: true, atom.Figcaption: true, atom.Menu: true,
}

var inlineTags = map[atom.Atom]bool{
	atom.A: true, atom.Span: true, atom.B: true, atom.I: true, atom.Em: true, atom.Strong: true,
	atom.Small: true, atom.Font: true, atom.U: true, atom.S: true, atom.Sub: true, atom.Sup: true,
	atom.Code: true, atom.Abbr: true, atom.Cite: true, atom.Q: true, atom.Mark: true, atom.Time: true,
	atom.Label: true,
}

func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input, atom.Link,
		atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

func isHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

func (p *parser) run(z *html.Tokenizer) {
	z.SetMaxBuf(int(p.lim.MaxBytes) + 1)
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.TextToken:
			p.text(string(z.Text()))
			continue
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			attrs := readAttrs(z, hasAttr)
			p.start(atom.Lookup(name), string(name), attrs, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			p.end(atom.Lookup(name), string(name))
		}
		if tt != html.StartTagToken {
			p.raw = 0
		}
	}
}

// maxAttrs bounds the attributes read from one tag.
const maxAttrs = 64

func readAttrs(z *html.Tokenizer, more bool) map[string]string {
	if !more {
		return nil
	}
	attrs := map[string]string{}
	for n := 0; more && n < maxAttrs; n++ {
		var k, v []byte
		k, v, more = z.TagAttr()
		if _, dup := attrs[string(k)]; !dup { // the first one counts, as in browsers
			attrs[string(k)] = string(v)
		}
	}
	return attrs
}

func (p *parser) text(s string) {
	if p.skipTokens > 0 {
		return
	}
	if p.raw != 0 {
		if p.raw == atom.Noscript {
			p.noscript(s)
		}
		return
	}
	if p.inTitle {
		p.title.add(s)
		return
	}
	// The innermost element that collects text gets it.
	for i := len(p.stack) - 1; i >= 0; i-- {
		e := &p.stack[i]
		switch {
		case e.head != nil:
			e.head.add(s)
			return
		case e.block != nil:
			e.block.text.add(s)
			return
		case e.fig != nil && e.fig.caption != nil:
			e.fig.caption.add(s)
			return
		}
	}
}

func (p *parser) start(a atom.Atom, name string, attrs map[string]string, selfClosing bool) {
	if a == atom.Template {
		p.skipTokens++
	}
	if p.skipTokens > 0 {
		return
	}
	p.impliedEnds(a)
	switch a {
	case atom.Title:
		p.inTitle = !p.titleDone && !selfClosing
	case atom.Html:
		if l := attrs["lang"]; l != "" && p.page.Lang == "" {
			p.page.Lang = clean(l, 35)
		}
	case atom.Base:
		if href, ok := attrs["href"]; ok && p.base == p.page.URL {
			if b := Resolve(p.page.URL, href); b != nil {
				p.base, p.page.Base = b, b
			}
		}
	case atom.Meta:
		p.meta(attrs)
	case atom.Link:
		p.link(attrs)
	case atom.A, atom.Area:
		if href, ok := attrs["href"]; ok && !hasToken(attrs["rel"], "nofollow") {
			p.addLink(href)
		}
	case atom.Iframe, atom.Frame:
		if src, ok := attrs["src"]; ok {
			p.addLink(src)
		}
		if a == atom.Iframe {
			p.raw = a // its content is fallback text
			return
		}
	case atom.Picture:
		p.endPicture() // an unclosed one before it
		p.picture = &pictureState{}
	case atom.Source:
		if p.picture != nil {
			p.picture.cands = append(p.picture.cands, parseSrcset(firstOf(attrs, "srcset", "data-srcset"))...)
		}
	case atom.Img:
		if p.picture != nil && p.picture.img == nil {
			p.picture.img = attrs
		} else {
			p.img("img", attrs, nil)
		}
	case atom.Script, atom.Style, atom.Noscript, atom.Textarea, atom.Xmp, atom.Noembed,
		atom.Noframes, atom.Plaintext:
		// Their content comes next as one raw text token; none of it is
		// the page's text.
		p.raw = a
		return
	}
	if isVoid(a) || selfClosing && a == 0 {
		return
	}
	if len(p.stack) >= p.lim.MaxDepth {
		return
	}
	e := elem{tag: a}
	if a == 0 {
		e.name = name
	}
	switch {
	case blockTags[a]:
		e.block = &block{text: textBuf{max: p.lim.MaxText}}
	case isHeading(a):
		e.head = &textBuf{max: p.lim.MaxText}
	case a == atom.Figure:
		e.fig = &figure{}
		p.figures = append(p.figures, e.fig)
	case a == atom.Figcaption:
		if len(p.figures) > 0 {
			p.figures[len(p.figures)-1].caption = &textBuf{max: p.lim.MaxText}
		}
	case a == atom.Section || a == atom.Article:
		e.sect, e.saved = true, p.heading
	}
	p.stack = append(p.stack, e)
}

// impliedEnds closes what a start tag closes in HTML without an end tag:
// an open <p> before a block, an <li> before the next <li>, a cell before
// the next cell.
func (p *parser) impliedEnds(a atom.Atom) {
	switch {
	case closesP[a]:
		for i := len(p.stack) - 1; i >= 0 && i >= len(p.stack)-8; i-- {
			t := p.stack[i].tag
			if t == atom.P {
				p.popTo(i)
				return
			}
			if !inlineTags[t] {
				return
			}
		}
	case a == atom.Li || a == atom.Td || a == atom.Th || a == atom.Dt || a == atom.Dd || a == atom.Tr:
		stop := map[atom.Atom]bool{atom.Ul: true, atom.Ol: true, atom.Menu: true, atom.Table: true, atom.Dl: true}
		if a != atom.Li && a != atom.Dt && a != atom.Dd {
			stop[atom.Tr] = a != atom.Tr
		}
		for i := len(p.stack) - 1; i >= 0 && i >= len(p.stack)-64; i-- {
			t := p.stack[i].tag
			if stop[t] {
				return
			}
			if t == a || (a == atom.Td || a == atom.Th) && (t == atom.Td || t == atom.Th) ||
				(a == atom.Dt || a == atom.Dd) && (t == atom.Dt || t == atom.Dd) {
				p.popTo(i)
				return
			}
		}
	}
}

func (p *parser) end(a atom.Atom, name string) {
	if a == atom.Template && p.skipTokens > 0 {
		p.skipTokens--
		return
	}
	if p.skipTokens > 0 {
		return
	}
	switch a {
	case atom.Title:
		if p.inTitle {
			p.inTitle, p.titleDone = false, true
		}
		return
	case atom.Picture:
		p.endPicture()
	}
	// Close the innermost open element of this name, and what is open
	// inside it; an end tag with no open element is ignored. The search
	// is bounded so that a page of stray end tags costs linear time.
	for i := len(p.stack) - 1; i >= 0 && i >= len(p.stack)-64; i-- {
		if p.stack[i].tag == a && (a != 0 || p.stack[i].name == name) {
			p.popTo(i)
			return
		}
	}
}

// popTo closes the elements from the top of the stack down to index i.
func (p *parser) popTo(i int) {
	for len(p.stack) > i {
		e := p.stack[len(p.stack)-1]
		p.stack = p.stack[:len(p.stack)-1]
		p.close(e)
	}
}

func (p *parser) close(e elem) {
	switch {
	case e.block != nil:
		text := e.block.text.String()
		for _, img := range e.block.images {
			p.describe(img, text)
		}
		// A paragraph inside another block is part of its text too.
		for i := len(p.stack) - 1; i >= 0; i-- {
			if b := p.stack[i].block; b != nil {
				b.text.add(" " + text)
				b.images = append(b.images, e.block.images...)
				return
			}
		}
		if text != "" {
			p.prevPara = text
			for _, img := range p.awaiting {
				p.describe(img, text)
			}
			p.awaiting = p.awaiting[:0]
		}
	case e.head != nil:
		if h := e.head.String(); h != "" {
			p.heading, p.prevPara = h, ""
			p.awaiting = p.awaiting[:0]
		}
	case e.fig != nil:
		if e.fig.caption != nil { // unclosed <figcaption>
			e.fig.text = e.fig.caption.String()
		}
		for _, img := range e.fig.images {
			if img.Caption == "" {
				img.Caption = e.fig.text
			}
		}
		p.figures = p.figures[:len(p.figures)-1]
	case e.tag == atom.Figcaption:
		if n := len(p.figures); n > 0 && p.figures[n-1].caption != nil {
			f := p.figures[n-1]
			f.text, f.caption = f.caption.String(), nil
		}
	case e.sect:
		p.heading, p.prevPara = e.saved, ""
	}
}

// describe sets an image's context from the text near it, once.
func (p *parser) describe(img *Image, text string) {
	if img.Context != "" {
		return
	}
	ctx := img.heading
	if text != "" {
		if ctx != "" {
			ctx += " — "
		}
		ctx += text
	}
	img.Context = clean(ctx, p.lim.MaxText)
}

func (p *parser) meta(attrs map[string]string) {
	content := attrs["content"]
	key := strings.ToLower(firstOf(attrs, "property", "name"))
	switch key {
	case "robots":
		for _, d := range strings.Split(strings.ToLower(content), ",") {
			switch strings.TrimSpace(d) {
			case "noindex":
				p.page.NoIndex = true
			case "nofollow":
				p.page.NoFollow = true
			case "none":
				p.page.NoIndex, p.page.NoFollow = true, true
			}
		}
	case "keywords":
		if p.keywords == "" {
			p.keywords = content
		}
	case "og:image", "og:image:url", "og:image:secure_url":
		if img := p.addImage("og:image", content, nil); img != nil {
			p.lastOG = img
		}
	case "og:image:width", "og:image:height":
		if p.lastOG != nil {
			if n, ok := dimension(content); ok {
				if key == "og:image:width" {
					p.lastOG.Width, p.lastOG.declaredW = n, true
				} else {
					p.lastOG.Height, p.lastOG.declaredH = n, true
				}
			}
		}
	case "og:image:alt":
		if p.lastOG != nil && p.lastOG.Alt == "" {
			p.lastOG.Alt = clean(content, p.lim.MaxText)
		}
	case "twitter:image", "twitter:image:src":
		p.lastOG = p.addImage("twitter:image", content, nil)
	case "twitter:image:alt":
		if p.lastOG != nil && p.lastOG.Alt == "" {
			p.lastOG.Alt = clean(content, p.lim.MaxText)
		}
	}
	if strings.EqualFold(attrs["http-equiv"], "refresh") {
		// "5; url=/next"
		if _, target, ok := strings.Cut(content, ";"); ok {
			target = strings.TrimSpace(target)
			if len(target) > 4 && strings.EqualFold(target[:4], "url=") {
				p.addLink(strings.Trim(target[4:], `'"`))
			}
		}
	}
}

func (p *parser) link(attrs map[string]string) {
	rel := attrs["rel"]
	href, ok := attrs["href"]
	if !ok {
		return
	}
	switch {
	case hasToken(rel, "canonical") && p.canonical == "":
		p.canonical = href
	case hasToken(rel, "image_src"):
		p.addImage("link:image_src", href, nil)
	}
}

func (p *parser) addLink(ref string) {
	if len(p.links) >= p.lim.MaxLinks {
		return
	}
	u := Resolve(p.base, ref)
	if u == nil {
		return
	}
	s := u.String()
	if p.links[s] {
		return
	}
	p.links[s] = true
	p.page.Links = append(p.page.Links, u)
}

// img adds an <img> (or a <picture>'s, with cands from its sources).
func (p *parser) img(source string, attrs map[string]string, cands []candidate) {
	src := attrs["src"]
	if src == "" || strings.HasPrefix(strings.TrimSpace(src), "data:") {
		src = firstOf(attrs, "data-src", "data-lazy-src", "data-original", "data-url")
	}
	all := append(cands, parseSrcset(firstOf(attrs, "srcset", "data-srcset"))...)
	if src != "" {
		all = append(all, candidate{url: src, dens: 1})
	}
	ref := pickLargest(all)
	img := p.addImage(source, ref, attrs)
	if img == nil {
		return
	}
	if len(p.figures) > 0 {
		f := p.figures[len(p.figures)-1]
		f.images = append(f.images, img)
		if img.Caption == "" && f.text != "" {
			img.Caption = f.text
		}
	}
	if img.Context != "" {
		return
	}
	img.heading = p.heading
	for i := len(p.stack) - 1; i >= 0; i-- {
		if b := p.stack[i].block; b != nil {
			b.images = append(b.images, img)
			return
		}
	}
	if p.prevPara != "" {
		p.describe(img, p.prevPara)
		return
	}
	p.awaiting = append(p.awaiting, img)
}

// noscript reads the images in a <noscript>'s content: lazy-loading pages
// put the real <img> there. Nothing but its images is used, so its text
// cannot be mistaken for the page's.
func (p *parser) noscript(s string) {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if atom.Lookup(name) == atom.Img {
			p.img("img", readAttrs(z, hasAttr), nil)
		}
	}
}

// pickLargest picks the candidate a browser on the biggest screen would:
// the widest by "w" descriptor, else the densest by "x", else the first.
func pickLargest(cs []candidate) string {
	var best candidate
	for _, c := range cs {
		switch {
		case best.url == "":
			best = c
		case c.width > 0 || best.width > 0:
			if c.width > best.width {
				best = c
			}
		case c.dens > best.dens:
			best = c
		}
	}
	return best.url
}

func (p *parser) endPicture() {
	pic := p.picture
	if pic == nil {
		return
	}
	p.picture = nil
	attrs := pic.img
	if attrs == nil {
		attrs = map[string]string{}
	}
	p.img("picture", attrs, pic.cands)
}

// addImage adds the image at ref, or merges what attrs say into the one
// found earlier at the same URL. Nil when ref is not an http(s) URL or
// the page has MaxImages already.
func (p *parser) addImage(source, ref string, attrs map[string]string) *Image {
	u := Resolve(p.base, ref)
	if u == nil {
		return nil
	}
	key := u.String()
	img := p.images[key]
	if img == nil {
		if len(p.images) >= p.lim.MaxImages {
			return nil
		}
		img = &Image{URL: u, Source: source}
		p.images[key] = img
		p.order = append(p.order, img)
	}
	if attrs == nil {
		return img
	}
	alt, hasAlt := attrs["alt"]
	alt = clean(alt, p.lim.MaxText)
	if img.Alt == "" {
		img.Alt = alt
	}
	img.emptyAlt = img.emptyAlt || hasAlt && alt == ""
	if img.Title == "" {
		img.Title = clean(attrs["title"], p.lim.MaxText)
	}
	role := strings.ToLower(strings.TrimSpace(attrs["role"]))
	if role == "presentation" || role == "none" || strings.EqualFold(strings.TrimSpace(attrs["aria-hidden"]), "true") {
		img.hidden = true
	}
	if n, ok := dimension(attrs["width"]); ok && !img.declaredW {
		img.Width, img.declaredW = n, true
	}
	if n, ok := dimension(attrs["height"]); ok && !img.declaredH {
		img.Height, img.declaredH = n, true
	}
	return img
}

// dimension reads a width or height attribute as browsers do: leading
// digits, "px" allowed; percentages and junk are not a size.
func dimension(s string) (int, bool) {
	s = strings.TrimSpace(s)
	n, i := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > 100000 {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if i == 0 || strings.HasPrefix(s[i:], "%") {
		return 0, false
	}
	return n, true
}

func firstOf(attrs map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(attrs[k]); v != "" {
			return v
		}
	}
	return ""
}

func hasToken(list, tok string) bool {
	for _, f := range strings.Fields(strings.ToLower(list)) {
		if f == tok {
			return true
		}
	}
	return false
}
