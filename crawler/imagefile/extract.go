package imagefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders: formats Extract reads
	_ "image/jpeg"
	_ "image/png"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/evanoberholster/imagemeta"
	"github.com/evanoberholster/imagemeta/exif2"
	"github.com/evanoberholster/imagemeta/xmp"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/picdex/picdex/index/record"
)

// Reasons an image cannot be read. Extract's errors wrap one of them.
var (
	ErrNotImage = errors.New("not an image")
	ErrTooLarge = errors.New("image too large")
	ErrBomb     = errors.New("decompression bomb")
	ErrCorrupt  = errors.New("corrupt image")
	// ErrUnsupported is an image in a variant picdex does not read, such
	// as a camera raw file in TIFF clothing.
	ErrUnsupported = errors.New("unsupported image variant")
)

// Options bound and choose what Extract does. A zero field takes its
// default.
type Options struct {
	MaxBytes  int64 // larger inputs are refused (default 64 MiB)
	MaxPixels int64 // width×height above this is refused before any decode (default 100 megapixels)
	PHash     bool  // compute the perceptual hash (decodes the pixels)
	Colors    bool  // compute the dominant colours (decodes the pixels)
}

// Validate fills in defaults and reports options that cannot work.
func (o *Options) Validate() error {
	if o.MaxBytes < 0 || o.MaxPixels < 0 {
		return errors.New("imagefile: negative limit")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = 100_000_000
	}
	return nil
}

// maxKeywords bounds the keywords kept from one file.
const maxKeywords = 64

// maxText bounds a text field read from metadata.
const maxText = 4 << 10

// Info is what an image file says about itself.
type Info struct {
	Format                                 string
	Width, Height                          int // as displayed: EXIF orientations 5–8 swap them
	Bytes                                  int64
	Orientation                            int
	Camera                                 *record.Camera
	TakenAt                                string // RFC 3339; see the package documentation
	Location                               *record.Location
	Title, Description, Creator, Copyright string
	Keywords                               []string
	PHash                                  string
	Colors                                 []string
}

// Extract reads data as an image file: its real format from the bytes,
// its size without decoding pixels, EXIF, XMP and IPTC metadata, and with
// opts.PHash or opts.Colors the pixels. Metadata that cannot be read is
// left out, not an error: a file whose format and size are readable is an
// image. Panics in the metadata and image libraries become ErrCorrupt.
func Extract(ctx context.Context, data []byte, opts Options) (info *Info, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if int64(len(data)) > opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes (cap %d)", ErrTooLarge, len(data), opts.MaxBytes)
	}
	format := sniff(data)
	if format == "" {
		return nil, fmt.Errorf("%w: unknown signature % x", ErrNotImage, data[:min(len(data), 8)])
	}
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, fmt.Errorf("%w: %s: reader panicked: %v", ErrCorrupt, format, p)
		}
	}()
	in := &Info{Format: format, Bytes: int64(len(data))}
	switch format {
	case "svg":
		in.Width, in.Height = svgSize(data)
		return in, nil
	case "heic", "avif":
		in.Width, in.Height = heicSize(data)
		if in.Width == 0 {
			return in.headerless(ctx, data, errors.New("no image size"))
		}
	default:
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return in.headerless(ctx, data, err)
		}
		in.Width, in.Height = cfg.Width, cfg.Height
	}
	if err := in.checkSize(opts); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.readMetadata(data)
	in.orientSize()
	if (opts.PHash || opts.Colors) && format != "heic" && format != "avif" {
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %s pixels: %v", ErrCorrupt, format, err)
		}
		if opts.PHash {
			in.PHash = formatHash(hashGrey(orient(thumbGrey(img), in.Orientation)))
		}
		if opts.Colors {
			in.Colors = dominantColors(img, 5)
		}
	}
	return in, nil
}

// headerless handles a file of a known format whose header does not
// decode: EXIF-only JPEGs (thumbnails stripped of their image data),
// truncated files. If its metadata reads, it is kept without a size or
// pixels; otherwise it is corrupt.
func (in *Info) headerless(ctx context.Context, data []byte, cause error) (*Info, error) {
	if strings.Contains(cause.Error(), "unsupported") {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnsupported, in.Format, cause)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.readMetadata(data)
	if in.Camera == nil && in.TakenAt == "" && in.Location == nil {
		return nil, fmt.Errorf("%w: %s header: %v", ErrCorrupt, in.Format, cause)
	}
	in.Width, in.Height = 0, 0
	return in, nil
}

func (in *Info) checkSize(opts Options) error {
	if in.Width <= 0 || in.Height <= 0 {
		return fmt.Errorf("%w: %s of %d×%d pixels", ErrCorrupt, in.Format, in.Width, in.Height)
	}
	if int64(in.Width)*int64(in.Height) > opts.MaxPixels {
		return fmt.Errorf("%w: %d×%d pixels (cap %d)", ErrBomb, in.Width, in.Height, opts.MaxPixels)
	}
	return nil
}

// orientSize gives the size as displayed: orientations 5–8 turn the
// image a quarter.
func (in *Info) orientSize() {
	if in.Orientation >= 5 && in.Orientation <= 8 {
		in.Width, in.Height = in.Height, in.Width
	}
}

// readMetadata reads EXIF, XMP and IPTC, each on its own: one failing
// does not lose the others.
func (in *Info) readMetadata(data []byte) {
	if x, ok := decodeExif(data, in.Format); ok {
		in.fromExif(x)
	}
	if packet := xmpPacket(data); packet != nil {
		if x, err := safeXMP(packet); err == nil {
			in.fromXMP(x)
		}
	}
	if in.Format == "jpeg" {
		in.fromIPTC(readIPTC(data))
	}
}

func decodeExif(data []byte, format string) (x exif2.Exif, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var err error
	switch format {
	case "tiff":
		x, err = imagemeta.Decode(bytes.NewReader(data))
	case "png":
		x, err = imagemeta.DecodePng(bytes.NewReader(data))
	case "jpeg", "webp", "heic", "avif":
		// JPEG segments are walked here, not by the library, whose
		// scanner can loop forever on a malformed file (found by
		// FuzzExtract); the library reads only the TIFF structure.
		blob := exifBlob(data, format)
		if blob == nil {
			return x, false
		}
		x, err = imagemeta.DecodeTiff(bytes.NewReader(blob))
	default:
		return x, false
	}
	return x, usable(x, err)
}

// usable: a partly read EXIF block is still worth what was read.
func usable(x exif2.Exif, err error) bool {
	return err == nil || x.Make != "" || x.Model != "" || !x.DateTimeOriginal().IsZero()
}

func (in *Info) fromExif(x exif2.Exif) {
	if o := int(x.Orientation); o >= 1 && o <= 8 {
		in.Orientation = o
	}
	cam := &record.Camera{
		Make:  text(x.Make),
		Model: text(x.Model),
		Lens:  text(x.LensModel),
	}
	if f := float64(x.FocalLength); f > 0 && f < 10000 {
		cam.FocalLengthMM = round(f, 2)
	}
	if f := float64(x.FNumber); f > 0 && f < 1000 {
		cam.FNumber = round(f, 2)
	}
	if e := float64(x.ExposureTime); e > 0 && e < 100000 {
		cam.ExposureS = round(e, 6)
	}
	iso := int(x.ISOSpeed)
	if iso == 0 {
		iso = int(x.ISO)
	}
	if iso > 0 && iso < 10_000_000 {
		cam.ISO = &iso
	}
	if x.Flash != 0 || cam.Make != "" {
		fired := x.Flash.Fired()
		cam.Flash = &fired
	}
	if *cam != (record.Camera{Flash: cam.Flash}) {
		in.Camera = cam
	}
	if t := x.DateTimeOriginal(); plausible(t) {
		in.TakenAt = takenAt(t)
	} else if t := x.CreateDate(); plausible(t) {
		in.TakenAt = takenAt(t)
	}
	lat, lon := x.GPS.Latitude(), x.GPS.Longitude()
	if (lat != 0 || lon != 0) && math.Abs(lat) <= 90 && math.Abs(lon) <= 180 && !math.IsNaN(lat) && !math.IsNaN(lon) {
		in.Location = &record.Location{Lat: round6(lat), Lon: round6(lon)}
		if alt := float64(x.GPS.Altitude()); alt != 0 && math.Abs(alt) < 100000 {
			a := round6(alt)
			in.Location.Alt = &a
		}
	}
	setText(&in.Description, x.ImageDescription)
	setText(&in.Creator, x.Artist)
	setText(&in.Copyright, x.Copyright)
}

func (in *Info) fromXMP(x xmp.XMP) {
	setText(&in.Title, first(x.DC.Title))
	setText(&in.Description, first(x.DC.Description))
	setText(&in.Creator, strings.Join(x.DC.Creator, ", "))
	setText(&in.Copyright, first(x.DC.Rights))
	in.addKeywords(x.DC.Subject)
}

func (in *Info) fromIPTC(i iptc) {
	setText(&in.Title, i.title)
	setText(&in.Description, i.caption)
	setText(&in.Creator, i.creator)
	setText(&in.Copyright, i.copyright)
	in.addKeywords(i.keywords)
}

func (in *Info) addKeywords(ks []string) {
	for _, k := range ks {
		k = text(k)
		if k != "" && len(in.Keywords) < maxKeywords && !slices.Contains(in.Keywords, k) {
			in.Keywords = append(in.Keywords, k)
		}
	}
}

// xmpPacket finds the XMP packet in data, bounded to 1 MiB.
func xmpPacket(data []byte) []byte {
	i := bytes.Index(data, []byte("<x:xmpmeta"))
	if i < 0 {
		return nil
	}
	end := bytes.Index(data[i:min(len(data), i+1<<20)], []byte("</x:xmpmeta>"))
	if end < 0 {
		return nil
	}
	return data[i : i+end+len("</x:xmpmeta>")]
}

func safeXMP(packet []byte) (x xmp.XMP, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("xmp: %v", p)
		}
	}()
	return xmp.ParseXmp(bytes.NewReader(packet))
}

// plausible rejects the zero dates and far futures cameras write when
// their clock was never set.
func plausible(t time.Time) bool {
	return t.Year() >= 1826 && t.Before(time.Now().Add(48*time.Hour))
}

// takenAt writes a capture time. With an offset recorded (OffsetTimeOriginal)
// it is written with it; without one, EXIF's local time is written as is
// with a "Z", since picdex cannot know the zone.
func takenAt(t time.Time) string {
	return t.Format(time.RFC3339Nano)
}

// text cleans a metadata string: NULs and control characters dropped,
// invalid UTF-8 removed, space trimmed, bounded.
func text(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxText {
		s = s[:maxText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func setText(dst *string, s string) {
	if *dst == "" {
		*dst = text(s)
	}
}

func first(ss []string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func round(f float64, digits int) *float64 {
	p := math.Pow(10, float64(digits))
	v := math.Round(f*p) / p
	return &v
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// Fill copies what the file says into r: format, size and the file's own
// metadata always; title, description, creator and copyright only where
// r has none (a page's words about an image outrank the file's); keywords
// are added to r's tags.
func (in *Info) Fill(r *record.Record) {
	r.Format, r.Width, r.Height, r.Bytes = in.Format, in.Width, in.Height, in.Bytes
	if in.Camera != nil {
		r.Camera = in.Camera
	}
	if in.TakenAt != "" {
		r.TakenAt = in.TakenAt
	}
	if in.Location != nil {
		r.Location = in.Location
	}
	setText(&r.Title, in.Title)
	setText(&r.Description, in.Description)
	setText(&r.Creator, in.Creator)
	setText(&r.Copyright, in.Copyright)
	for _, k := range record.FitTags(in.Keywords) {
		if !slices.Contains(r.Tags, k) && len(r.Tags) < record.MaxTags {
			r.Tags = append(r.Tags, k)
		}
	}
	if in.PHash != "" {
		r.PHash = in.PHash
	}
	if len(in.Colors) > 0 {
		r.Colors = in.Colors
	}
}
