package page

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/picdex/picdex/index/record"
)

// maxKeywords bounds the page keywords given to each image as tags.
const maxKeywords = 32

// finish closes what the page left open and settles what could only be
// known at its end: captions, context, the canonical URL, the decorative
// rule.
func (p *parser) finish() *Page {
	p.inTitle = false
	p.raw = 0
	p.endPicture()
	p.popTo(0)
	for _, img := range p.awaiting {
		p.describe(img, "")
	}
	pg := p.page
	pg.Title = p.title.String()
	if p.canonical != "" {
		pg.Canonical = Resolve(p.base, p.canonical)
	}
	seen := map[string]bool{}
	for _, k := range strings.Split(p.keywords, ",") {
		k = clean(k, 100)
		if k != "" && !seen[strings.ToLower(k)] && len(pg.Keywords) < maxKeywords {
			seen[strings.ToLower(k)] = true
			pg.Keywords = append(pg.Keywords, k)
		}
	}
	pg.Images = make([]Image, len(p.order))
	for i, img := range p.order {
		img.Decorative, img.DecorativeReason = decorative(img)
		pg.Images[i] = *img
	}
	return pg
}

// decorative is the rule that decides which images say nothing to a
// reader. The first that matches gives the reason:
//
//  1. role="presentation" or "none", or aria-hidden="true": the author
//     said so;
//  2. a declared width or height of 2 pixels or less: tracking pixels
//     and spacers;
//  3. declared width and height both 32 pixels or less: icons;
//  4. a file name of a spacer or tracker (spacer, blank, pixel, clear,
//     transparent, 1x1, with any image extension);
//  5. alt="" given explicitly, with no title and no caption: the
//     author's way of marking an image decorative.
func decorative(img *Image) (bool, string) {
	switch {
	case img.hidden:
		return true, "hidden from assistive technology"
	case img.declaredW && img.Width <= 2 || img.declaredH && img.Height <= 2:
		return true, "tracking pixel or spacer"
	case img.declaredW && img.declaredH && img.Width <= 32 && img.Height <= 32:
		return true, "icon"
	case spacerName(img.URL.Path):
		return true, "spacer file name"
	case img.emptyAlt && img.Alt == "" && img.Title == "" && img.Caption == "":
		return true, "empty alt"
	}
	return false, ""
}

func spacerName(p string) bool {
	base := strings.ToLower(path.Base(p))
	stem := strings.TrimSuffix(base, path.Ext(base))
	switch stem {
	case "spacer", "blank", "pixel", "clear", "transparent", "1x1", "trans", "dot", "spacer1x1", "pixel1x1":
		return path.Ext(base) != "" || stem == "1x1"
	}
	return false
}

// Records returns a record for each image on the page, decorative ones
// only when keepDecorative (with an extra "decorative" field giving the
// reason). A page marked noindex gives none: its author asked for its
// content not to be indexed. Images whose record does not validate are
// left out.
func (p *Page) Records(keepDecorative bool) []record.Record {
	if p.NoIndex {
		return nil
	}
	pageURL := p.URL
	if p.Canonical != nil {
		pageURL = p.Canonical
	}
	out := make([]record.Record, 0, len(p.Images))
	for _, img := range p.Images {
		if img.Decorative && !keepDecorative {
			continue
		}
		r := record.Record{
			URL:         img.URL.String(),
			PageURL:     pageURL.String(),
			Source:      "web",
			Alt:         img.Alt,
			Caption:     img.Caption,
			Title:       img.Title,
			Description: img.Context,
			Format:      formatOf(img.URL.Path),
			Width:       img.Width,
			Height:      img.Height,
		}
		if r.Title == "" {
			r.Title = p.Title
		}
		if len(p.Keywords) > 0 {
			r.Tags = record.FitTags(p.Keywords)
		}
		if img.Decorative {
			reason, _ := json.Marshal(img.DecorativeReason)
			r.Extra = map[string]json.RawMessage{"decorative": reason}
		}
		if r.Normalize() == nil {
			out = append(out, r)
		}
	}
	return out
}

// formatOf guesses an image format from its URL's extension; "" when the
// extension says nothing (the bytes decide, with --fetch-images).
func formatOf(p string) string {
	switch strings.ToLower(path.Ext(p)) {
	case ".jpg", ".jpeg", ".jpe", ".jfif":
		return "jpeg"
	case ".png":
		return "png"
	case ".gif":
		return "gif"
	case ".webp":
		return "webp"
	case ".svg":
		return "svg"
	case ".avif":
		return "avif"
	case ".tif", ".tiff":
		return "tiff"
	case ".heic", ".heif":
		return "heic"
	case ".bmp":
		return "bmp"
	}
	return ""
}
