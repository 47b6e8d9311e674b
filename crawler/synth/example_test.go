package synth_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/picdex/picdex/crawler/synth"
	"github.com/picdex/picdex/index/record"
)

func ExampleWrite() {
	var buf bytes.Buffer
	n, err := synth.Write(context.Background(), &buf, synth.Options{N: 1000, Seed: 42})
	if err != nil {
		fmt.Println(err)
		return
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	_, err = record.Parse([]byte(lines[0]))
	fmt.Println(n, len(lines), err)
	// Output: 1000 1000 <nil>
}

func ExampleGenerator_Next() {
	g, err := synth.New(synth.Options{N: 500, Seed: 1, KoreanShare: 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	valid := 0
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		if rec.Normalize() == nil {
			valid++
		}
	}
	fmt.Println(valid, "valid records")
	// Output: 500 valid records
}
