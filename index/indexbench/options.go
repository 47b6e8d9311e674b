package indexbench

import (
	"errors"
	"fmt"
)

// ErrInvalidOptions is wrapped by every error Options.Validate returns.
var ErrInvalidOptions = errors.New("indexbench: invalid options")

// Suites Run knows.
const (
	SuiteLoad      = "load"
	SuiteQuery     = "query"
	SuiteRelevance = "relevance"
	SuiteAll       = "all"
)

// Defaults for zero Options fields.
const (
	DefaultSuite   = SuiteAll
	DefaultN       = 100_000
	DefaultShards  = 4
	DefaultRepeat  = 3
	DefaultQueries = 2000
	DefaultTargets = 1000
	// DefaultTatePath is where the Tate collection lives relative to the
	// project root, the directory picdex is normally run from.
	DefaultTatePath = "../shared/data/tate_artworks.jsonl.gz"
	// NoTate as TatePath skips the Tate corpus.
	NoTate = "-"
)

// Limits Validate enforces, so that a typo cannot ask for a week of work.
const (
	maxN       = 10_000_000
	maxShards  = 1024
	maxRepeat  = 100
	maxQueries = 1_000_000
)

// Options describe a benchmark run. A zero field takes its default; a
// negative one is an error.
type Options struct {
	// Suite is "load", "query", "relevance" or "all" (default "all").
	Suite string
	// N is the number of synthetic records per corpus (default 100,000).
	// The Tate corpus is capped at N records too.
	N int
	// Shards of the picdex index (default 4).
	Shards int
	// Seed selects the synthetic corpus and every sampled query; zero is
	// a seed like any other.
	Seed int64
	// Repeat is how many times each measurement runs (default 3); medians
	// are taken over the repeats.
	Repeat int
	// Dir is the scratch directory for indexes (default: a new directory
	// under os.TempDir). Run creates one directory inside it and removes
	// that when it returns.
	Dir string
	// TatePath is the Tate collection JSONL.gz for the relevance suite
	// (default DefaultTatePath; NoTate skips it). A missing file is
	// reported and skipped, not an error.
	TatePath string
	// COCOPath is the MS-COCO caption file of the relevance suite's
	// caption protocol (default DefaultCOCOPath; "-" skips it). A missing
	// file is reported and skipped, not an error.
	COCOPath string
	// Queries is the number of searches per query class and repeat
	// (default 2,000).
	Queries int
	// Targets is the number of known items per corpus in the relevance
	// suite (default 1,000).
	Targets int

	// QueryProfile, when set, is a file to write a CPU profile of the
	// query suite's timed searches to (not of building its index).
	QueryProfile string
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.N == 0 {
		o.N = DefaultN
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.Repeat == 0 {
		o.Repeat = DefaultRepeat
	}
	if o.TatePath == "" {
		o.TatePath = DefaultTatePath
	}
	if o.COCOPath == "" {
		o.COCOPath = DefaultCOCOPath
	}
	if o.Queries == 0 {
		o.Queries = DefaultQueries
	}
	if o.Targets == 0 {
		o.Targets = DefaultTargets
	}
	return o
}

// Validate reports the first problem with o, wrapping ErrInvalidOptions.
func (o Options) Validate() error {
	d := o.withDefaults()
	switch d.Suite {
	case SuiteLoad, SuiteQuery, SuiteRelevance, SuiteAll:
	default:
		return fmt.Errorf("%w: suite %q is not one of load, query, relevance, all", ErrInvalidOptions, o.Suite)
	}
	for _, c := range []struct {
		name     string
		v, limit int
	}{
		{"N", d.N, maxN},
		{"shards", d.Shards, maxShards},
		{"repeat", d.Repeat, maxRepeat},
		{"queries", d.Queries, maxQueries},
		{"targets", d.Targets, maxQueries},
	} {
		if c.v < 1 || c.v > c.limit {
			return fmt.Errorf("%w: %s is %d, must be between 1 and %d", ErrInvalidOptions, c.name, c.v, c.limit)
		}
	}
	return nil
}

func (o Options) runs(suite string) bool { return o.Suite == SuiteAll || o.Suite == suite }
