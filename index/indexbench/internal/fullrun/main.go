// Temporary driver for a full benchmark run; removed after use.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/picdex/picdex/index/indexbench"
)

func main() {
	var o indexbench.Options
	flag.StringVar(&o.Suite, "suite", "", "")
	flag.IntVar(&o.N, "n", 0, "")
	flag.IntVar(&o.Repeat, "repeat", 0, "")
	flag.StringVar(&o.TatePath, "tate", "/work/shared/data/tate_artworks.jsonl.gz", "")
	flag.Parse()
	if err := indexbench.Run(context.Background(), os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
