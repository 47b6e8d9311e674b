package feed

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

// fuzzRead runs a feed and checks that every record it emits is valid.
func fuzzRead(t *testing.T, format Format, data []byte, cols map[string]string) {
	r := &Reader{Path: "fuzz", Input: bytes.NewReader(data), Format: format, Columns: cols, Tally: &crawler.Tally{}}
	_ = r.Crawl(context.Background(), func(_ context.Context, rec record.Record) error {
		if err := rec.Normalize(); err != nil {
			t.Fatalf("emitted an invalid record: %v", err)
		}
		return nil
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("url,title,tags,width,location.lat\nhttps://e.com/a.jpg,A,x;y,10,1.5\n"))
	f.Add([]byte("image_url,text\n\"https://e.com/b.jpg\",\"multi\nline\"\n,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, CSV, data, nil)
		fuzzRead(t, CSV, data, map[string]string{"url": "image_url", "caption": "text"})
	})
}

func FuzzCOCO(f *testing.F) {
	sample, err := os.ReadFile("testdata/captions_sample.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(`{"images":[{"id":1,"coco_url":"http://x/1.jpg"}],"annotations":[{"image_id":1,"id":1,"caption":"c"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, COCO, data, nil)
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte("{\"url\":\"https://e.com/a.jpg\"}\n{bad\n\n{\"url\":\"x\",\"camera\":{\"iso\":\"high\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, JSONL, data, nil)
		fuzzRead(t, "", data, nil)
	})
}
