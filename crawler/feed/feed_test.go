package feed

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

func read(t *testing.T, r *Reader) ([]record.Record, *crawler.Tally, error) {
	t.Helper()
	tally := &crawler.Tally{}
	r.Tally = tally
	var out []record.Record
	err := r.Crawl(context.Background(), func(_ context.Context, rec record.Record) error {
		out = append(out, rec)
		return nil
	})
	return out, tally, err
}

func TestJSONL(t *testing.T) {
	in := `{"url":"https://example.com/a.jpg","title":"a"}
not json
{"url":"https://example.com/b.jpg","taken_at":"noon"}

{"url":"https://example.com/c.jpg","source":"web","tags":["x"]}
{"url":"https://example.com/` + strings.Repeat("x", record.MaxRecordBytes+10) + `.jpg"}
{"url":"https://example.com/d.jpg"}`
	recs, tally, err := read(t, &Reader{Path: "feed.jsonl", Input: strings.NewReader(in)})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, "feed", recs[0].Source, "source defaults to feed")
	assert.Equal(t, "web", recs[1].Source)
	assert.Equal(t, "https://example.com/d.jpg", recs[2].URL, "reading goes on after an over-long line")
	assert.EqualValues(t, 2, tally.Skipped()["invalid record"])
	assert.EqualValues(t, 1, tally.Skipped()["line too long"])

	// Gzip, detected by its bytes; resume after a position.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(in))
	zw.Close()
	var last int64
	recs, _, err = read(t, &Reader{Path: "feed.data", Input: &gz, Skip: 5, Progress: func(p int64) { last = p }})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "https://example.com/d.jpg", recs[0].URL)
	assert.EqualValues(t, 7, last)
}

func TestCSV(t *testing.T) {
	in := "\ufeffimage_url,text,keywords,w,camera.make,location.lat,location.lon,extra\n" +
		"https://example.com/a.jpg,\"A red fox, in snow\",fox;snow,640,Nikon,51.5,-0.12,x\n" +
		"https://example.com/b.jpg,A heron,bird|water,wide,,,,\n" +
		"https://example.com/c.jpg,\"An \"\"owl\"\"\",,320\n" +
		",no url,,,,,,\n"
	cols, err := ParseColumns("url=image_url, caption=text, tags=keywords, width=w")
	require.NoError(t, err)
	recs, tally, err := read(t, &Reader{Path: "f.csv", Input: strings.NewReader(in), Columns: cols})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	a := recs[0]
	assert.Equal(t, "A red fox, in snow", a.Caption)
	assert.Equal(t, []string{"fox", "snow"}, a.Tags)
	assert.Equal(t, 640, a.Width)
	assert.Equal(t, "Nikon", a.Camera.Make)
	assert.InDelta(t, -0.12, a.Location.Lon, 1e-9)
	assert.Equal(t, `An "owl"`, recs[1].Caption)
	assert.EqualValues(t, 1, tally.Skipped()["bad value"])
	assert.EqualValues(t, 1, tally.Skipped()["invalid record"])

	_, err = ParseColumns("nosuch=x")
	assert.ErrorContains(t, err, "not a record field")
	_, err = ParseColumns("url")
	assert.Error(t, err)
	_, _, err = read(t, &Reader{Path: "f.csv", Input: strings.NewReader("a,b\n1,2\n")})
	assert.ErrorContains(t, err, "no url column")
	_, _, err = read(t, &Reader{Path: "f.csv", Input: strings.NewReader("url\n1\n"), Columns: map[string]string{"alt": "missing"}})
	assert.ErrorContains(t, err, "not in the header")
	_, _, err = read(t, &Reader{Path: "f.csv", Input: strings.NewReader("url\n\"" + strings.Repeat("x", 2<<20))})
	assert.ErrorContains(t, err, "longer than")
}

func TestCOCO(t *testing.T) {
	recs, tally, err := read(t, &Reader{Path: "testdata/captions_sample.json"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	g := recs[0]
	assert.Equal(t, "http://farm4.staticflickr.com/1/1_a.jpg", g.URL)
	assert.Equal(t, "Giraffes eating leaves in the savanna. / Two giraffes under a tall tree.", g.Caption)
	assert.Equal(t, "Attribution License", g.License)
	assert.Equal(t, "2013-11-14T11:18:45Z", g.TakenAt)
	assert.Equal(t, 640, g.Width)
	assert.JSONEq(t, "1", string(g.Extra["coco_id"]))
	assert.Equal(t, "http://images.cocodataset.org/val2017/000000000002.jpg", recs[1].URL, "coco_url without a flickr_url")
	skipped := tally.Skipped()
	assert.EqualValues(t, 1, skipped["no url"])
	assert.EqualValues(t, 1, skipped["annotation of an unknown image"])
	assert.EqualValues(t, 1, skipped["invalid COCO entry"])

	// Images first, annotations after: the same records. Resume skips images.
	raw, _ := os.ReadFile("testdata/captions_sample.json")
	swapped := bytes.Replace(raw, []byte(`"annotations"`), []byte(`"annotations_"`), 1)
	swapped = bytes.Replace(swapped, []byte(`"info"`), []byte(`"annotations"`), 1)
	_, _, err = read(t, &Reader{Path: "x.json", Input: bytes.NewReader(swapped)})
	require.Error(t, err, "an info object where the annotations array should be")
	recs, _, err = read(t, &Reader{Path: "captions.json", Input: bytes.NewReader(raw), Skip: 1})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].Caption, "bus")

	order := `{"images":[{"id":7,"coco_url":"http://x/7.jpg"}],"annotations":[{"image_id":7,"id":1,"caption":"late"}]}`
	recs, _, err = read(t, &Reader{Path: "x.json", Input: strings.NewReader(order)})
	require.NoError(t, err)
	assert.Equal(t, "late", recs[0].Caption)
}

func TestDetect(t *testing.T) {
	for in, want := range map[string]Format{
		`{"url":"x"}` + "\n":                     JSONL,
		`{"info":{},` + "\n" + `"images":[]}`:    COCO,
		"url,title\n":                            CSV,
		`{"images":[{"id":1}],"annotations":[]}`: COCO,
	} {
		assert.Equal(t, want, detectString("feed", in), in)
	}
	assert.Equal(t, CSV, detectString("x.csv", "{"))
}
