package indexbench_test

import (
	"context"
	"log"
	"os"

	"github.com/picdex/picdex/index/indexbench"
)

// A CI-sized load comparison; the numbers vary by machine, so the example
// is compiled but not run.
func ExampleRun() {
	err := indexbench.Run(context.Background(), os.Stdout, indexbench.Options{
		Suite:  indexbench.SuiteLoad,
		N:      10_000,
		Repeat: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
}
