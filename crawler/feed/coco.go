package feed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

type cocoImage struct {
	ID           int64  `json:"id"`
	FileName     string `json:"file_name"`
	CocoURL      string `json:"coco_url"`
	FlickrURL    string `json:"flickr_url"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	DateCaptured string `json:"date_captured"`
	License      int64  `json:"license"`
}

type cocoAnnotation struct {
	ID      int64  `json:"id"`
	ImageID int64  `json:"image_id"`
	Caption string `json:"caption"`
}

type cocoLicense struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// captionSep joins the captions of one image, in annotation id order.
const captionSep = " / "

// coco reads an MS-COCO caption annotation file: the "images",
// "annotations" and "licenses" arrays, in any order, element by element.
// Each image gives one record: url is its flickr_url (else coco_url),
// caption all its captions joined, license its license's name, taken_at
// its date_captured read as UTC (COCO records no zone), and the extra
// field coco_id its id.
func (r *Reader) coco(ctx context.Context, name string, br *bufio.Reader, emit crawler.Emit) error {
	dec := json.NewDecoder(br)
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("feed %s: not a COCO file: %w", name, err)
	}
	var images []cocoImage
	captions := map[int64][]cocoAnnotation{}
	licenses := map[int64]string{}
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return err
		}
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("feed %s: %w", name, err)
		}
		key, _ := tok.(string)
		switch key {
		case "images":
			err = eachElement(dec, func(i int) error {
				var im cocoImage
				if ok, err := r.decodeElem(dec, &im, name, "images", i); !ok {
					return err
				}
				images = append(images, im)
				return nil
			})
		case "annotations":
			err = eachElement(dec, func(i int) error {
				var a cocoAnnotation
				if ok, err := r.decodeElem(dec, &a, name, "annotations", i); !ok {
					return err
				}
				if strings.TrimSpace(a.Caption) != "" {
					captions[a.ImageID] = append(captions[a.ImageID], a)
				}
				return nil
			})
		case "licenses":
			err = eachElement(dec, func(i int) error {
				var l cocoLicense
				if ok, err := r.decodeElem(dec, &l, name, "licenses", i); !ok {
					return err
				}
				licenses[l.ID] = l.Name
				return nil
			})
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return fmt.Errorf("feed %s: %q: %w", name, key, err)
		}
	}
	known := make(map[int64]bool, len(images))
	for _, im := range images {
		known[im.ID] = true
	}
	for id, anns := range captions {
		if !known[id] {
			r.Tally.Skip(fmt.Sprintf("%s:image %d", name, id), "annotation of an unknown image", fmt.Errorf("%d captions", len(anns)))
		}
	}
	for i, im := range images {
		pos := int64(i + 1)
		if pos <= r.Skip {
			continue
		}
		where := fmt.Sprintf("%s:image %d", name, im.ID)
		rec := record.Record{URL: im.FlickrURL, Width: im.Width, Height: im.Height, License: licenses[im.License]}
		if rec.URL == "" {
			rec.URL = im.CocoURL
		}
		if rec.URL == "" {
			r.Tally.Skip(where, "no url", nil)
			r.progress(pos)
			continue
		}
		anns := captions[im.ID]
		sort.Slice(anns, func(a, b int) bool { return anns[a].ID < anns[b].ID })
		texts := make([]string, len(anns))
		for j, a := range anns {
			texts[j] = strings.TrimSpace(a.Caption)
		}
		rec.Caption = strings.Join(texts, captionSep)
		if t, err := time.Parse("2006-01-02 15:04:05", im.DateCaptured); err == nil {
			rec.TakenAt = t.UTC().Format(time.RFC3339)
		}
		id, _ := json.Marshal(im.ID)
		rec.Extra = map[string]json.RawMessage{"coco_id": id}
		if err := r.emitOne(ctx, emit, where, rec, pos); err != nil {
			return err
		}
	}
	return nil
}

// decodeElem decodes one array element into v. An element of the wrong
// shape is skipped and counted (ok false, err nil); broken JSON, after
// which nothing can be read, is an error.
func (r *Reader) decodeElem(dec *json.Decoder, v any, name, array string, i int) (ok bool, err error) {
	err = dec.Decode(v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		r.Tally.Skip(fmt.Sprintf("%s:%s[%d]", name, array, i), "invalid COCO entry", err)
		return false, nil
	}
	return err == nil, err
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("expected %q, found %v", d, tok)
	}
	return nil
}

// eachElement calls f for each element of the array that comes next.
func eachElement(dec *json.Decoder, f func(i int) error) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := f(i); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	return err
}
