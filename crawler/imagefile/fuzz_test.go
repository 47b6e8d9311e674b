package imagefile

import (
	"context"
	"errors"
	"testing"
)

func FuzzExtract(f *testing.F) {
	f.Add(exifJPEG(f, 6))
	f.Add(encode(f, scene(8, 8, 1), "png", 0))
	f.Add(encode(f, scene(8, 8, 1), "gif", 0))
	f.Add(pngHeader(3, 3))
	f.Add([]byte("RIFF\x20\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00EXIF\x08\x00\x00\x00II*\x00\x08\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x14ispe\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x08\x00Exif\x00\x00MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{PHash: true, Colors: true, MaxPixels: 1 << 20}
		in, err := Extract(context.Background(), data, opts)
		if err != nil {
			for _, s := range []error{ErrNotImage, ErrCorrupt, ErrUnsupported, ErrBomb, ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("untyped error: %v", err)
		}
		if int64(in.Width)*int64(in.Height) > opts.MaxPixels {
			t.Fatalf("%d×%d passed the pixel cap", in.Width, in.Height)
		}
		if in.Location != nil && (in.Location.Lat < -90 || in.Location.Lat > 90 || in.Location.Lon < -180 || in.Location.Lon > 180) {
			t.Fatalf("location %+v", in.Location)
		}
	})
}
