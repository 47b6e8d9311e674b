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
