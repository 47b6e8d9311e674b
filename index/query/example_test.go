package query_test

import (
	"errors"
	"fmt"

	"github.com/picdex/picdex/index/query"
)

func ExampleParse() {
	q, err := query.Parse(`camera.make:canon AND "red bus"^2 -tag:night* taken_at:>="2020-01-01"`)
	if err != nil {
		panic(err)
	}
	for _, c := range q.Clauses {
		fmt.Printf("%-8s %-20T %s\n", c.Occur, c.Node, c.Node)
	}
	fmt.Println(q)

	_, err = query.Parse(`title:"red bus`)
	var pe *query.ParseError
	fmt.Println(errors.As(err, &pe), pe.Pos, errors.Is(err, query.ErrSyntax))
	fmt.Println(err)
	// Output:
	// must     *query.Match         camera.make:canon
	// must     *query.Phrase        "red bus"^2
	// must not *query.Prefix        tag:night*
	// should   *query.Range         taken_at:>=2020-01-01
	// +camera.make:canon +"red bus"^2 -tag:night* taken_at:>=2020-01-01
	// true 6 true
	// query syntax error at position 6: unterminated phrase
}

func ExampleParseWith() {
	fields := map[string]bool{"title": true, "tags": true}
	o := query.Options{IsField: func(name string) bool { return fields[name] }}

	// A pasted caption: "12:" is no field, the full stop after the phrase
	// is a word of its own, and the repeated field clause is merged.
	q, err := query.ParseWith(`clock at 12:25 by a sign saying "PUB". title:clock title:clock`, o)
	if err != nil {
		panic(err)
	}
	for _, c := range q.Clauses {
		fmt.Printf("%-14T %q\n", c.Node, c.Node)
	}
	fmt.Println(q)

	// A known field keeps its syntax, and its errors.
	_, err = query.ParseWith(`title:(red bus)`, o)
	fmt.Println(err)
	// Output:
	// *query.Match   "clock"
	// *query.Match   "at"
	// *query.Match   "12\\:25"
	// *query.Match   "by"
	// *query.Match   "a"
	// *query.Match   "sign"
	// *query.Match   "saying"
	// *query.Phrase  "\"PUB\""
	// *query.Match   "."
	// *query.Match   "title:clock^2"
	// clock at 12\:25 by a sign saying "PUB" . title:clock^2
	// query syntax error at position 6: a group cannot follow a field name
}
