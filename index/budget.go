package index

import (
	"errors"
	"fmt"

	"github.com/blevesearch/bleve/v2/analysis"

	"github.com/picdex/picdex/index/query"
)

// Budget bounds the work one search may ask for. The static part —
// patterns and the terms of words and phrases — is checked before any
// shard is asked; the terms that patterns expand to are counted while
// shards list them (phase 1), each shard stopping as soon as its own count
// is over, and once more over the union of all shards.
type Budget struct {
	// MaxTerms bounds the terms the whole query searches, summed over the
	// fields each is searched in: a bare word searches five fields, so
	// it counts five; a pattern counts every term it expands to in each
	// field (default 1024, as Lucene's classic clause limit).
	MaxTerms int `json:"max_terms,omitempty"`
	// MaxPatterns bounds the distinct prefix, wildcard, regexp, fuzzy and
	// range clauses (default 16; duplicates are merged by the parser
	// first).
	MaxPatterns int `json:"max_patterns,omitempty"`
	// MaxPatternStates bounds the automaton states one regexp or wildcard
	// may build on a shard (default 10,000, as bleve's own limit).
	MaxPatternStates int `json:"max_pattern_states,omitempty"`
	// ExpensiveTerms is the term count above which a query without
	// patterns is expensive (default 100, about twenty words on the
	// default fields): see Admission.
	ExpensiveTerms int `json:"expensive_terms,omitempty"`
	// MaxPageBytes bounds the stored records of one page of hits
	// (default 32 MiB, the size of the largest ingest body): a thousand
	// records of a megabyte each are a gigabyte to hold and encode.
	MaxPageBytes int `json:"max_page_bytes,omitempty"`
}

// Budget defaults.
const (
	DefaultMaxTerms         = 1024
	DefaultMaxPatterns      = 16
	DefaultMaxPatternStates = 10000
	DefaultExpensiveTerms   = 100
	DefaultMaxPageBytes     = 32 << 20
	expensiveWindow         = 1000 // from+size past which a search is expensive
	expensiveSize           = 100  // hits per page past which a search is expensive
	expensiveRanges         = 2    // range clauses in q past which a search is expensive
)

func (b Budget) withDefaults() Budget {
	if b.MaxTerms <= 0 {
		b.MaxTerms = DefaultMaxTerms
	}
	if b.MaxPatterns <= 0 {
		b.MaxPatterns = DefaultMaxPatterns
	}
	if b.MaxPatternStates <= 0 {
		b.MaxPatternStates = DefaultMaxPatternStates
	}
	if b.ExpensiveTerms <= 0 {
		b.ExpensiveTerms = DefaultExpensiveTerms
	}
	if b.MaxPageBytes <= 0 {
		b.MaxPageBytes = DefaultMaxPageBytes
	}
	return b
}

// clamp returns b with its defaults, each limit at most ceiling's: a
// shard takes a request's budget only as far as its own allows.
func (b Budget) clamp(ceiling Budget) Budget {
	b, ceiling = b.withDefaults(), ceiling.withDefaults()
	b.MaxTerms = min(b.MaxTerms, ceiling.MaxTerms)
	b.MaxPatterns = min(b.MaxPatterns, ceiling.MaxPatterns)
	b.MaxPatternStates = min(b.MaxPatternStates, ceiling.MaxPatternStates)
	b.MaxPageBytes = min(b.MaxPageBytes, ceiling.MaxPageBytes)
	return b
}

// ErrTooExpensive is wrapped by every *BudgetError.
var ErrTooExpensive = errors.New("query too expensive")

// BudgetError says which limit of the Budget a search exceeds. It wraps
// ErrBadRequest and ErrTooExpensive: the caller asked for more work than
// one search may cost, and should make the query more specific.
type BudgetError struct {
	Limit string // the Budget field, as in its JSON name
	Param string // the request parameter to change: q, or size
	Max   int
	Got   int    // how much the query asks for; 0 when not counted to the end
	What  string // what was counted, for the message
}

func (e *BudgetError) Error() string {
	if e.Got > 0 {
		return fmt.Sprintf("query too expensive: %d %s, at most %d allowed (%s); make it more specific", e.Got, e.What, e.Max, e.Limit)
	}
	return fmt.Sprintf("query too expensive: more than %d %s (%s); make it more specific", e.Max, e.What, e.Limit)
}

func (e *BudgetError) Unwrap() []error { return []error{ErrBadRequest, ErrTooExpensive} }

// QueryClass names the kind of a search, for metrics and admission.
type QueryClass string

// The query classes.
const (
	ClassMatchAll QueryClass = "match_all" // no query, no filter
	ClassFilter   QueryClass = "filter"    // filters and facets, no text
	ClassSimilar  QueryClass = "similar"   // near-duplicates of a hash
	ClassTerm     QueryClass = "term"      // words
	ClassPhrase   QueryClass = "phrase"    // phrases among the words
	ClassPattern  QueryClass = "pattern"   // prefix, wildcard, regexp or fuzzy clauses
)

// Cost is what a search asks for, known from the request alone.
type Cost struct {
	Class QueryClass
	Terms int // terms of words and phrases, times the fields searched
	// Ranges are the range clauses of the query string, counted among
	// the patterns too.
	Ranges   int
	Patterns int // distinct multi-term clauses: prefix, wildcard, regexp, fuzzy and range
	// Expensive searches are admitted through a small separate budget
	// and run at low priority (see Admission).
	Expensive bool
}

// Classify validates a request and reports its cost, without asking any
// shard. Errors wrap ErrBadRequest.
func Classify(req *Request) (Cost, error) {
	p, err := req.validate()
	if err != nil {
		return Cost{}, err
	}
	an, err := textAnalyzerOnce()
	if err != nil {
		return Cost{}, err
	}
	return p.cost(an, Budget{}.withDefaults())
}

// cost walks the syntax tree: every regular expression and wildcard is
// compiled here, so an invalid one is refused before any shard works.
func (p *plan) cost(an analysis.Analyzer, b Budget) (Cost, error) {
	c := Cost{}
	phrases := false
	var err error
	query.Walk(p.tree, func(n query.Node) bool {
		if err != nil {
			return false
		}
		switch n := n.(type) {
		case *query.Match:
			if n.Fuzziness > 0 {
				c.Patterns++
				return true
			}
			if isRangeField(n.Field) {
				// A number or date equals: a range of one value.
				c.Patterns++
				c.Ranges++
				return true
			}
			c.Terms += fieldCount(n.Field) * termCount(an, n.Field, n.Text)
		case *query.Phrase:
			phrases = true
			c.Terms += fieldCount(n.Field) * termCount(an, n.Field, n.Text)
		case *query.Prefix:
			c.Patterns++
		case *query.Wildcard:
			c.Patterns++
			if _, e := compilePattern(wildcardToRegexp(n.Pattern)); e != nil {
				err = posError(n.Pos(), "invalid wildcard %q: %v", n.Pattern, e)
			}
		case *query.Regexp:
			c.Patterns++
			if _, e := compilePattern(n.Pattern); e != nil {
				err = posError(n.Pos(), "invalid regular expression %q: %v", n.Pattern, e)
			}
		case *query.Range:
			// A range reads every document's column: cheap once, but
			// forty of them are a second of work.
			c.Patterns++
			c.Ranges++
		}
		return true
	})
	if err != nil {
		return c, err
	}
	switch {
	case c.Patterns > c.Ranges:
		c.Class = ClassPattern
	case phrases:
		c.Class = ClassPhrase
	case c.Terms > 0:
		c.Class = ClassTerm
	case p.similar != nil:
		c.Class = ClassSimilar
	case p.req.Filter.isZero() && len(p.facets) == 0 && c.Ranges == 0:
		c.Class = ClassMatchAll
	default:
		c.Class = ClassFilter
	}
	if c.Patterns > b.MaxPatterns {
		return c, &BudgetError{Limit: "max_patterns", Param: "q", Max: b.MaxPatterns, Got: c.Patterns,
			What: "prefix, wildcard, regexp, fuzzy and range clauses"}
	}
	if c.Terms > b.MaxTerms {
		return c, &BudgetError{Limit: "max_terms", Param: "q", Max: b.MaxTerms, Got: c.Terms,
			What: "terms searched (words and phrase words, times the fields each searches)"}
	}
	c.Expensive = c.Patterns > c.Ranges || c.Ranges > expensiveRanges || c.Terms > b.ExpensiveTerms ||
		p.from+p.size > expensiveWindow || p.size > expensiveSize
	return c, nil
}

// isRangeField reports whether a clause on field is matched as a range:
// numbers and dates, whose one value is an interval of a column.
func isRangeField(field string) bool {
	if field == "" {
		return false
	}
	_, spec, ok := resolveField(field)
	return ok && (spec.kind == kindNumber || spec.kind == kindDate)
}

func fieldCount(field string) int {
	if field == "" {
		return len(DefaultFields)
	}
	return 1
}

// termCount is how many terms a word or phrase analyzes to in a field.
func termCount(an analysis.Analyzer, field, text string) int {
	if field != "" {
		if _, spec, ok := resolveField(field); !ok || spec.kind != kindText {
			return 1
		}
	}
	return len(an.Analyze([]byte(text)))
}

// termBudget counts the terms one shard call's expansions produce.
type termBudget struct {
	max, used int
}

func (t *termBudget) take(n int) error {
	t.used += n
	if t.used > t.max {
		return &BudgetError{Limit: "max_terms", Param: "q", Max: t.max, What: "terms searched once patterns are expanded"}
	}
	return nil
}
