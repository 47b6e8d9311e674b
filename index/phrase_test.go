package index

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picdex/picdex/index/record"
)

// TestPhraseStandsTogether: a phrase matches where its words stand in
// order within one field and one value of it, stop words' gaps left out,
// on both search paths.
func TestPhraseStandsTogether(t *testing.T) {
	rec := func(id, title, caption string, tags ...string) record.Record {
		return record.Record{ID: id, URL: "https://example.com/" + id + ".jpg", Title: title, Caption: caption, Tags: tags}
	}
	corpus := []record.Record{
		rec("in-title", "red bus", "a street"),
		rec("reversed", "bus red", "a street"),
		rec("apart", "red old bus", "a street"),
		rec("two-fields", "red", "bus"),
		rec("two-tags", "street", "a street", "red", "bus"),
		rec("one-tag", "street", "a street", "red bus"),
		rec("gap", "red and bus", "a street"), // "and" is a stop word
		rec("later", "street", "a busy street with a red bus"),
	}
	for i := range corpus {
		require.NoError(t, corpus[i].Normalize())
	}
	ix := openWith(t, 2, corpus)
	for _, taat := range []bool{true, false} {
		termAtATime = taat
		got := mustSearch(t, ix, Request{Query: `"red bus"`, Size: new(20)})
		require.ElementsMatch(t, []string{"in-title", "one-tag", "later"}, ids(got.Hits), "term at a time: %v", taat)
		got = mustSearch(t, ix, Request{Query: `"red in bus"`, Size: new(20)})
		require.ElementsMatch(t, []string{"gap", "apart"}, ids(got.Hits), "a stop word leaves a gap any word fills, term at a time: %v", taat)
		got = mustSearch(t, ix, Request{Query: `caption:"red bus"`, Size: new(20)})
		require.ElementsMatch(t, []string{"later"}, ids(got.Hits), "one field, term at a time: %v", taat)
	}
	termAtATime = true
}

// TestPhraseKeptPerSegment: the documents a segment keeps for a phrase
// are all of its own, whatever the query that found them first, and a
// document deleted afterwards is not found through them.
func TestPhraseKeptPerSegment(t *testing.T) {
	rec := func(id, title string, tags ...string) record.Record {
		r := record.Record{ID: id, URL: "https://example.com/" + id + ".jpg", Title: title, Tags: tags}
		require.NoError(t, r.Normalize())
		return r
	}
	ix := openWith(t, 1, []record.Record{rec("a", "red bus", "x"), rec("b", "a red bus", "y"), rec("c", "bus red", "x")})
	got := mustSearch(t, ix, Request{Query: `"red bus"`, Filter: Filter{Tags: []string{"x"}}})
	require.Equal(t, []string{"a"}, ids(got.Hits), "found first among the filter's documents")
	kept := 0
	for _, sc := range ix.fan.shards[0].(*localShard).cols.segs {
		if _, ok := sc.phrases.lookupDocs(phraseKey(textFieldNames(), []string{"red", "bus"}, []uint64{0, 1}), ""); ok {
			kept++
		}
	}
	require.Positive(t, kept, "the segment keeps the phrase's documents")
	got = mustSearch(t, ix, Request{Query: `"red bus"`})
	require.ElementsMatch(t, []string{"a", "b"}, ids(got.Hits), "the kept documents are all of the segment's")
	require.NoError(t, ix.Delete(context.Background(), "b"))
	got = mustSearch(t, ix, Request{Query: `"red bus"`})
	require.Equal(t, []string{"a"}, ids(got.Hits))

	// Keys: a term's digits are not an offset.
	require.NotEqual(t, phraseKey([]string{"f"}, []string{"bus2", "x"}, []uint64{0, 1}), phraseKey([]string{"f"}, []string{"bus", "x"}, []uint64{20, 1}))
	require.NotEqual(t, phraseKey([]string{"f", "g"}, []string{"x"}, []uint64{0}), phraseKey([]string{"f"}, []string{"g", "x"}, []uint64{0, 0}))
}

func textFieldNames() []string {
	var names []string
	for _, f := range DefaultFields {
		names = append(names, f.Name)
	}
	return names
}
