package index

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/picdex/picdex/index/record"
)

func TestSmoke(t *testing.T) {
	ix, err := Open(t.TempDir(), Options{Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	recs := []record.Record{
		{URL: "http://a/1.jpg", Title: "Red bus in London", Caption: "a red double-decker bus crossing the bridge", Tags: []string{"bus", "london"}, Format: "jpeg", Width: 4000, Height: 3000, TakenAt: "2021-05-01T10:00:00+01:00", PHash: "ffff0000ffff0000", Location: &record.Location{Lat: 51.5, Lon: -0.12}},
		{URL: "http://a/2.jpg", Title: "서울 야경", Caption: "강아지가 공원에서 뛰어요", Tags: []string{"서울", "dog"}, Format: "png", Width: 800, Height: 600, PHash: "ffff0000ffff0003"},
		{URL: "http://a/3.jpg", Title: "東京タワー", Caption: "夜の東京タワー", Tags: []string{"tokyo"}, Format: "jpeg", Width: 1920, Height: 1080},
		{URL: "http://a/4.jpg", Title: "Buses", Caption: "yellow school buses parked", Tags: []string{"bus"}, Format: "webp", Width: 1024, Height: 768},
	}
	if err := ix.Apply(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{
		{Query: "bus"}, {Query: "강아지"}, {Query: "東京"}, {Query: "タワー"}, {Query: `"red bus"`},
		{Query: "bus", Facets: []string{"tags", "format", "width", "taken_at"}},
		{Filter: Filter{Similar: "ffff0000ffff0000"}},
		{Query: "title:bus*"}, {Filter: Filter{Near: "51.5,-0.1,10"}},
		{Query: "bus", Sort: []string{"-width"}, Size: 1},
	} {
		res, err := ix.Search(context.Background(), &req)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		b, _ := json.Marshal(res)
		fmt.Println(req.Query, string(b)[:min(len(b), 700)])
	}
}
