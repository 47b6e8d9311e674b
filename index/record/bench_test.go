package record

import "testing"

func BenchmarkParse(b *testing.B) {
	line := []byte(`{"url":"https://img.example-2.com/media/tree/white-tree-in-london-0.jpg","page_url":"https://www.example-2.com/p/white-tree-in-london-0","source":"web","title":"White Tree in London","caption":"a white tree standing in the snow","description":"Taken in London on a cloudy afternoon.","tags":["tree","white","boat","storm"],"creator":"Leo Kelly","license":"CC0-1.0","format":"jpeg","width":600,"height":800,"bytes":130909,"taken_at":"2025-02-08T11:09:27Z","phash":"94e5e2fac0889140","colors":["#f2edeb"],"camera":{"make":"Canon","iso":200}}`)
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
