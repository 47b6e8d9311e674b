package index_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

func Example() {
	dir, _ := os.MkdirTemp("", "picdex-example-")
	defer os.RemoveAll(dir)

	ix, err := index.Open(dir, index.Options{Shards: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()

	ctx := context.Background()
	err = ix.Apply(ctx, []record.Record{
		{URL: "https://example.com/bus.jpg", Title: "Red bus", Caption: "A red bus crossing Westminster Bridge", Tags: []string{"bus", "london"}},
		{URL: "https://example.com/dog.jpg", Title: "공원 산책", Caption: "강아지가 공원에서 뛰어요", Tags: []string{"dog"}},
		{URL: "https://example.com/boat.jpg", Title: "Boats", Caption: "Fishing boats at dawn", Tags: []string{"boat"}},
	})
	if err != nil {
		log.Fatal(err)
	}

	res, err := ix.Search(ctx, &index.Request{Query: "bus crossings", Facets: []string{"tags"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range res.Hits {
		fmt.Println(h.Highlights["caption"][0])
	}
	fmt.Println(res.Facets["tags"])

	res, _ = ix.Search(ctx, &index.Request{Query: "강아지"})
	fmt.Println(res.Total, "Korean hit")
	// Output:
	// A red <mark>bus</mark> <mark>crossing</mark> Westminster Bridge
	// [{bus 1} {london 1}]
	// 1 Korean hit
}

func ExampleIndex_Search_filters() {
	dir, _ := os.MkdirTemp("", "picdex-example-")
	defer os.RemoveAll(dir)
	ix, _ := index.Open(dir, index.Options{Shards: 2})
	defer ix.Close()
	ctx := context.Background()
	_ = ix.Apply(ctx, []record.Record{
		{URL: "https://example.com/a.jpg", Caption: "harbour at night", Width: 4000, Height: 3000, PHash: "f0f0f0f0f0f0f0f0",
			Location: &record.Location{Lat: 35.1, Lon: 129.04}},
		{URL: "https://example.com/b.jpg", Caption: "harbour resized copy", Width: 800, Height: 600, PHash: "f0f0f0f0f0f0f0f3"},
		{URL: "https://example.com/c.jpg", Caption: "unrelated", PHash: "0f0f0f0f0f0f0f0f"},
	})

	minWidth := 1000
	res, _ := ix.Search(ctx, &index.Request{Query: "harbour", Filter: index.Filter{WidthMin: &minWidth, Near: "35.2,129.0,20"}})
	fmt.Println("wide and near Busan:", res.Total)

	res, _ = ix.Search(ctx, &index.Request{Filter: index.Filter{Similar: "f0f0f0f0f0f0f0f0"}})
	for _, h := range res.Hits {
		fmt.Println("near-duplicate at distance", *h.Distance)
	}
	// Output:
	// wide and near Busan: 1
	// near-duplicate at distance 0
	// near-duplicate at distance 2
}
