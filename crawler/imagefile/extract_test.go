package imagefile

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// scene draws a deterministic picture with structure at several scales.
func scene(w, h int, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := uint8(255 * fx)
			g := uint8(255 * fy)
			b := uint8(0)
			if (int(fx*float64(4+seed))+int(fy*3))%2 == 0 {
				b = 200
			}
			if fx > 0.3 && fx < 0.5 && fy > 0.2 && fy < 0.7 {
				r, g = 250, 250
			}
			img.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, format string, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	default:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality})
	}
	require.NoError(t, err)
	return buf.Bytes()
}

func resize(src image.Image, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	b := src.Bounds()
	for y := range h {
		for x := range w {
			dst.Set(x, y, src.At(b.Min.X+x*b.Dx()/w, b.Min.Y+y*b.Dy()/h))
		}
	}
	return dst
}

func TestFormatsAndSize(t *testing.T) {
	img := scene(120, 80, 1)
	for _, f := range []string{"jpeg", "png", "gif"} {
		in, err := Extract(context.Background(), encode(t, img, f, 90), Options{})
		require.NoError(t, err, f)
		assert.Equal(t, f, in.Format)
		assert.Equal(t, 120, in.Width)
		assert.Equal(t, 80, in.Height)
		assert.Empty(t, in.PHash, "no hash unless asked")
	}
	svg := []byte(`<?xml version="1.0"?><!-- c --><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 150"><rect/></svg>`)
	in, err := Extract(context.Background(), svg, Options{PHash: true})
	require.NoError(t, err)
	assert.Equal(t, "svg", in.Format)
	assert.Equal(t, 300, in.Width)
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"text":       {[]byte("hello, world"), ErrNotImage},
		"empty":      {nil, ErrNotImage},
		"html":       {[]byte("<!doctype html><html>"), ErrNotImage},
		"truncated":  {encode(t, scene(64, 64, 1), "jpeg", 90)[:300], ErrCorrupt},
		"png header": {[]byte("\x89PNG\r\n\x1a\n\x00\x00"), ErrCorrupt},
		"bomb":       {pngHeader(100000, 100000), ErrBomb},
		"zero size":  {pngHeader(0, 10), ErrCorrupt},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Extract(ctx, c.data, Options{PHash: true})
			require.ErrorIs(t, err, c.want)
		})
	}
	_, err := Extract(ctx, make([]byte, 100), Options{MaxBytes: 10})
	require.ErrorIs(t, err, ErrTooLarge)
}

// pngHeader is the start of a PNG claiming w×h pixels, with no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	writeChunk(&b, "IHDR", ihdr)
	return b.Bytes()
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc(typ, data))
}

func crc(typ string, data []byte) uint32 {
	var table [256]uint32
	for i := range table {
		c := uint32(i)
		for range 8 {
			if c&1 == 1 {
				c = 0xedb88320 ^ c>>1
			} else {
				c >>= 1
			}
		}
		table[i] = c
	}
	c := ^uint32(0)
	for _, b := range append([]byte(typ), data...) {
		c = table[byte(c)^b] ^ c>>8
	}
	return ^c
}

func TestPHashNearDuplicates(t *testing.T) {
	orig := scene(640, 480, 1)
	hash := func(data []byte) uint64 {
		in, err := Extract(context.Background(), data, Options{PHash: true, Colors: true})
		require.NoError(t, err)
		require.Len(t, in.PHash, 16)
		require.NotEmpty(t, in.Colors)
		var h uint64
		for _, c := range in.PHash {
			h = h<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
		}
		return h
	}
	base := hash(encode(t, orig, "png", 0))
	for name, data := range map[string][]byte{
		"jpeg q90":      encode(t, orig, "jpeg", 90),
		"jpeg q40":      encode(t, orig, "jpeg", 40),
		"half size":     encode(t, resize(orig, 320, 240), "jpeg", 85),
		"quarter size":  encode(t, resize(orig, 160, 120), "png", 0),
		"gif palette":   encode(t, orig, "gif", 0),
		"stretched 4:3": encode(t, resize(orig, 400, 400), "jpeg", 80),
	} {
		d := Distance(base, hash(data))
		assert.LessOrEqual(t, d, 6, "%s: distance %d", name, d)
	}
	rings := image.NewRGBA(orig.Bounds())
	for y := range 480 {
		for x := range 640 {
			d := (x-200)*(x-200) + (y-300)*(y-300)
			v := uint8(255 * ((d / 3000) % 2))
			rings.Set(x, y, color.RGBA{v, 255 - v, 90, 255})
		}
	}
	other := hash(encode(t, rings, "png", 0))
	flipped := image.NewRGBA(orig.Bounds())
	for y := range 480 {
		for x := range 640 {
			flipped.Set(x, y, orig.At(639-x, 479-y))
		}
	}
	assert.Greater(t, Distance(base, other), 12, "another picture")
	assert.Greater(t, Distance(base, hash(encode(t, flipped, "png", 0))), 12, "the picture upside down")
}

// exifJPEG builds a JPEG with an EXIF block written by hand: make, model,
// orientation, DateTimeOriginal with its offset, and a GPS position in the
// southern and western hemispheres, below sea level.
func exifJPEG(t testing.TB, orientation uint16) []byte {
	t.Helper()
	type entry struct {
		tag, typ uint16
		count    uint32
		data     []byte // inline when ≤ 4 bytes
	}
	le := binary.LittleEndian
	ascii := func(s string) []byte { return append([]byte(s), 0) }
	short := func(v uint16) []byte { b := make([]byte, 2); le.PutUint16(b, v); return b }
	long := func(v uint32) []byte { b := make([]byte, 4); le.PutUint32(b, v); return b }
	rats := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = append(b, long(v)...)
		}
		return b
	}
	var buf bytes.Buffer
	buf.WriteString("II*\x00")
	buf.Write(long(8))
	// Lay out three IFDs one after another, their out-of-line values after each.
	var ifd func(start uint32, es []entry, next func(uint32) []entry) []byte
	ifd = func(start uint32, es []entry, _ func(uint32) []entry) []byte {
		var head, tail bytes.Buffer
		head.Write(short(uint16(len(es))))
		dataOff := start + 2 + uint32(len(es))*12 + 4
		for _, e := range es {
			head.Write(short(e.tag))
			head.Write(short(e.typ))
			head.Write(long(e.count))
			if len(e.data) <= 4 {
				v := make([]byte, 4)
				copy(v, e.data)
				head.Write(v)
			} else {
				head.Write(long(dataOff + uint32(tail.Len())))
				tail.Write(e.data)
				if tail.Len()%2 == 1 {
					tail.WriteByte(0)
				}
			}
		}
		head.Write(long(0))
		return append(head.Bytes(), tail.Bytes()...)
	}
	// Sizes are computed by laying out once with placeholder pointers.
	exifEntries := []entry{
		{0x9003, 2, 20, ascii("2021:04:11 15:47:53")},
		{0x9011, 2, 7, ascii("-05:00")},
		{0x829d, 5, 1, rats(71, 10)},
		{0x8827, 3, 1, short(400)},
	}
	gpsEntries := []entry{
		{0x0001, 2, 2, ascii("S")},
		{0x0002, 5, 3, rats(33, 1, 51, 1, 3084, 100)},
		{0x0003, 2, 2, ascii("W")},
		{0x0004, 5, 3, rats(151, 1, 12, 1, 3600, 100)},
		{0x0005, 1, 1, []byte{1}},
		{0x0006, 5, 1, rats(125, 10)},
	}
	ifd0 := func(exifAt, gpsAt uint32) []entry {
		return []entry{
			{0x010f, 2, 6, ascii("Canon")},
			{0x0110, 2, 14, ascii("Canon EOS 5D")},
			{0x0112, 3, 1, short(orientation)},
			{0x8769, 4, 1, long(exifAt)},
			{0x8825, 4, 1, long(gpsAt)},
		}
	}
	first := ifd(8, ifd0(0, 0), nil)
	exifAt := 8 + uint32(len(first))
	exifIFD := ifd(exifAt, exifEntries, nil)
	gpsAt := exifAt + uint32(len(exifIFD))
	buf.Write(ifd(8, ifd0(exifAt, gpsAt), nil))
	buf.Write(exifIFD)
	buf.Write(ifd(gpsAt, gpsEntries, nil))

	app1 := append([]byte("Exif\x00\x00"), buf.Bytes()...)
	plain := encode(t, scene(64, 32, 2), "jpeg", 90)
	var out bytes.Buffer
	out.Write(plain[:2])
	out.Write([]byte{0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(len(app1)+2))
	out.Write(app1)
	out.Write(plain[2:])
	return out.Bytes()
}

func TestExifHandBuilt(t *testing.T) {
	in, err := Extract(context.Background(), exifJPEG(t, 6), Options{PHash: true})
	require.NoError(t, err)
	assert.Equal(t, 32, in.Width, "orientation 6 turns a 64×32 image to 32×64")
	assert.Equal(t, 64, in.Height)
	require.NotNil(t, in.Camera)
	assert.Equal(t, "Canon", in.Camera.Make)
	assert.Equal(t, "Canon EOS 5D", in.Camera.Model)
	assert.InDelta(t, 7.1, *in.Camera.FNumber, 1e-9)
	assert.Equal(t, 400, *in.Camera.ISO)
	assert.Equal(t, "2021-04-11T15:47:53-05:00", in.TakenAt)
	require.NotNil(t, in.Location)
	assert.InDelta(t, -(33 + 51.0/60 + 30.84/3600), in.Location.Lat, 1e-5, "south is negative")
	assert.InDelta(t, -(151 + 12.0/60 + 36.0/3600), in.Location.Lon, 1e-5, "west is negative")
	require.NotNil(t, in.Location.Alt)
	assert.InDelta(t, -12.5, *in.Location.Alt, 1e-6, "below sea level is negative")

	upright, err := Extract(context.Background(), exifJPEG(t, 1), Options{PHash: true})
	require.NoError(t, err)
	assert.Equal(t, 64, upright.Width)
	assert.NotEqual(t, upright.PHash, in.PHash, "the hash is of the image as displayed")

	var r record.Record
	r.URL = "file:///x.jpg"
	r.Title = "kept"
	in.Title = "from the file"
	in.Keywords = []string{"a", "b"}
	in.Fill(&r)
	require.NoError(t, r.Normalize())
	assert.Equal(t, "kept", r.Title)
	assert.Equal(t, []string{"a", "b"}, r.Tags)
	assert.Equal(t, "jpeg", r.Format)
	assert.Equal(t, in.PHash, r.PHash)
}

func TestIPTC(t *testing.T) {
	iim := func(ds byte, v string) []byte {
		b := []byte{0x1c, 2, ds, 0, 0}
		binary.BigEndian.PutUint16(b[3:], uint16(len(v)))
		return append(b, v...)
	}
	var data []byte
	data = append(data, []byte{0x1c, 1, 90, 0, 3}...)
	data = append(data, "\x1b%G"...)
	for _, f := range [][2]string{{"\x05", "Harbour"}, {"\x19", "boats"}, {"\x19", "서울"}, {"\x50", "Ann Smith"}, {"\x74", "© Ann"}, {"\x78", "Boats at dawn"}} {
		data = append(data, iim(f[0][0], f[1])...)
	}
	res := append([]byte("8BIM\x04\x04\x00\x00"), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(res[8:], uint32(len(data)))
	res = append(res, data...)
	seg := append([]byte("Photoshop 3.0\x00"), res...)
	jpg := encode(t, scene(16, 16, 1), "jpeg", 90)
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xff, 0xed})
	binary.Write(&out, binary.BigEndian, uint16(len(seg)+2))
	out.Write(seg)
	out.Write(jpg[2:])
	in, err := Extract(context.Background(), out.Bytes(), Options{})
	require.NoError(t, err)
	assert.Equal(t, "Harbour", in.Title)
	assert.Equal(t, "Boats at dawn", in.Description)
	assert.Equal(t, "Ann Smith", in.Creator)
	assert.Equal(t, "© Ann", in.Copyright)
	assert.Equal(t, []string{"boats", "서울"}, in.Keywords)
}

// sharedData is the project's shared sample directory, relative to here.
const sharedData = "../../../shared/data"

// TestSharedSamples reads every file of the shared samples and compares
// what it finds with testdata/samples.golden.json, whose camera, date and
// GPS values were checked against exiftool (see the package doc). Every
// file either gives an image or a typed error; none panics or hangs.
func TestSharedSamples(t *testing.T) {
	if _, err := os.Stat(sharedData); err != nil {
		t.Skipf("shared data not present at %s: %v", sharedData, err)
	}
	got := map[string]any{}
	for _, dir := range []string{"exif-samples", "goexif-samples", "exiftool-t-images"} {
		root := filepath.Join(sharedData, dir)
		require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(sharedData, p)
			in, err := Extract(context.Background(), data, Options{PHash: true, Colors: true})
			if err != nil {
				for _, s := range []error{ErrNotImage, ErrCorrupt, ErrUnsupported, ErrBomb, ErrTooLarge} {
					if errors.Is(err, s) {
						got[filepath.ToSlash(rel)] = map[string]string{"error": s.Error()}
						return nil
					}
				}
				t.Errorf("%s: untyped error %v", rel, err)
				return nil
			}
			got[filepath.ToSlash(rel)] = in
			return nil
		}))
	}
	b, err := json.MarshalIndent(got, "", " ")
	require.NoError(t, err)
	golden := filepath.Join("testdata", "samples.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, append(b, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	var w, g map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(b, &g))
	var keys []string
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		assert.JSONEq(t, string(w[k]), string(g[k]), k)
	}
	assert.Len(t, g, len(w))
}
