package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/blevesearch/bleve/v2/index/scorch"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	"github.com/blevesearch/vellum/levenshtein"
)

// expansion lists the terms of one shard's multi-term clauses for one
// search (phase 1, or phase 2 when no statistics came with the request),
// walking each segment's term dictionary with an automaton. Every walk
// checks the deadline, and the terms found are counted against the
// query's term budget as they are found, so an over-broad pattern stops
// at the first segment that proves it too broad.
type expansion struct {
	guard  walkGuard // a template: each walk checks a copy of its own; its ctx is the call's
	snap   *scorch.IndexSnapshot
	budget termBudget
	states int // automaton states a pattern may build
	dfas   map[string]*lazyDFA
}

func (s *localShard) newExpansion(ctx context.Context, snap *scorch.IndexSnapshot, p *plan, sr *ShardRequest) (*expansion, error) {
	b := sr.Budget.clamp(s.ceiling)
	c, err := p.cost(s.an.text, b)
	if err != nil {
		return nil, err
	}
	return &expansion{
		guard: s.guard(ctx, sr), snap: snap, budget: termBudget{max: b.MaxTerms, used: c.Terms},
		states: b.MaxPatternStates, dfas: map[string]*lazyDFA{},
	}, nil
}

// terms returns the sorted terms of mt's field that mt matches.
func (e *expansion) terms(mt multiTerm) ([]string, error) {
	var (
		a          segment.Automaton
		start, end []byte
		failed     func() error
	)
	switch mt.kind {
	case "prefix":
		if mt.pattern != "" {
			start, end = []byte(mt.pattern), prefixEnd([]byte(mt.pattern))
		}
	case "regexp":
		d, err := e.dfa(mt.pattern)
		if err != nil {
			return nil, err
		}
		a = d
		failed = func() error {
			if errors.Is(d.err, errPatternTooComplex) {
				return &BudgetError{Limit: "max_pattern_states", Param: "q", Max: e.states,
					What: fmt.Sprintf("automaton states for /%s/", mt.pattern)}
			}
			return d.err
		}
	case "fuzzy":
		lev, err := levenshteinDFA(mt.pattern, mt.fuzz)
		if err != nil {
			return nil, badParam("q", "fuzzy %q: %v", mt.pattern, err)
		}
		g := &guardedAutomaton{Automaton: lev, guard: e.guard}
		a = g
		failed = func() error { return g.err }
	default:
		return nil, fmt.Errorf("unknown multi-term kind %q", mt.kind)
	}
	guard := e.guard
	room := e.budget.max - e.budget.used
	var terms []string
	for _, ss := range e.snap.Segments() {
		dict, err := ss.Segment().Dictionary(mt.field)
		if err != nil {
			return nil, err
		}
		it := dict.AutomatonIterator(a, start, end)
		found := 0
		for {
			de, err := it.Next()
			if err != nil {
				return nil, err
			}
			if failed != nil {
				if err := failed(); err != nil {
					return nil, err
				}
			}
			if de == nil {
				break
			}
			if err := guard.step(); err != nil {
				return nil, err
			}
			if found++; found > room {
				return nil, e.budget.take(found)
			}
			terms = append(terms, de.Term)
		}
		if err := e.guard.ctx.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(terms)
	terms = slices.Compact(terms)
	if err := e.budget.take(len(terms)); err != nil {
		return nil, err
	}
	return terms, nil
}

// dfa returns the lazy DFA of a pattern, shared by the fields it is
// searched in: its states depend on the pattern only.
func (e *expansion) dfa(pattern string) (*lazyDFA, error) {
	if d, ok := e.dfas[pattern]; ok {
		return d, nil
	}
	prog, err := compilePattern(pattern)
	if err != nil {
		return nil, badParam("q", "invalid regular expression %q: %v", pattern, err)
	}
	d := newLazyDFA(e.guard, prog, e.states)
	e.dfas[pattern] = d
	return d, nil
}

// prefixEnd is the first key after every key that starts with prefix
// (nil: none).
func prefixEnd(prefix []byte) []byte {
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// levenshteinBuilders are expensive to make (distance 2 about a
// millisecond) and immutable once made.
var levenshteinBuilders = sync.OnceValues(func() ([2]*levenshtein.LevenshteinAutomatonBuilder, error) {
	var bs [2]*levenshtein.LevenshteinAutomatonBuilder
	for i := range bs {
		b, err := levenshtein.NewLevenshteinAutomatonBuilder(uint8(i+1), false)
		if err != nil {
			return bs, err
		}
		bs[i] = b
	}
	return bs, nil
})

// levenshteinCache keeps the automata of recent fuzzy terms: building
// one takes up to a millisecond at distance 2, and a search needs the same
// one on every shard and field. The automata are immutable.
var levenshteinCache = struct {
	sync.Mutex
	m map[string]segment.Automaton
}{m: map[string]segment.Automaton{}}

const levenshteinCacheSize = 1024

func levenshteinDFA(term string, fuzz int) (segment.Automaton, error) {
	if fuzz < 1 || fuzz > 2 {
		return nil, fmt.Errorf("fuzziness %d is not 1 or 2", fuzz)
	}
	key := fmt.Sprintf("%d|%s", fuzz, term)
	levenshteinCache.Lock()
	a, ok := levenshteinCache.m[key]
	levenshteinCache.Unlock()
	if ok {
		return a, nil
	}
	bs, err := levenshteinBuilders()
	if err != nil {
		return nil, err
	}
	dfa, err := bs[fuzz-1].BuildDfa(term, uint8(fuzz))
	if err != nil {
		return nil, err
	}
	levenshteinCache.Lock()
	if len(levenshteinCache.m) >= levenshteinCacheSize {
		clear(levenshteinCache.m) // rarely: the set of hot terms starts again
	}
	levenshteinCache.m[key] = dfa
	levenshteinCache.Unlock()
	return dfa, nil
}
