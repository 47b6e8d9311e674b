package index

import (
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
