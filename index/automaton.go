package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp/syntax"
	"runtime"
	"slices"
	"time"
	"unicode/utf8"

	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Regular expressions and wildcards are matched against a shard's term
// dictionaries by a DFA built lazily, state by state, as the dictionary
// walk needs it: bleve's own automaton (vellum) is built whole before the
// walk, once per field, shard and phase, and that alone takes seconds for
// a pattern such as \p{L}+x\p{L}{3} (3.2 s measured), or 0.6 s only to find
// that .*a.{12} has too many states. Built lazily, a pattern costs what the
// terms it is run against explore, and a budget of states bounds the worst.

// maxPatternBytes bounds a regular expression or wildcard pattern.
const maxPatternBytes = 256

// errPatternTooComplex is a lazy DFA's error when its pattern needs more
// automaton states than its budget.
var errPatternTooComplex = fmt.Errorf("pattern needs too many automaton states")

// compilePattern parses a regular expression with the syntax bleve
// accepts (Perl flags, no empty-width assertions, no lazy repetition; the
// match is against the whole term) and compiles it.
func compilePattern(pattern string) (*syntax.Prog, error) {
	if len(pattern) > maxPatternBytes {
		return nil, fmt.Errorf("longer than %d bytes", maxPatternBytes)
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	var bad string
	walkRegexp(re, func(r *syntax.Regexp) {
		switch {
		case bad != "":
		case r.Op == syntax.OpBeginLine, r.Op == syntax.OpEndLine, r.Op == syntax.OpBeginText, r.Op == syntax.OpEndText:
			bad = "anchors (^, $) are not supported: a pattern always matches whole terms"
		case r.Op == syntax.OpWordBoundary, r.Op == syntax.OpNoWordBoundary:
			bad = `word boundaries (\b, \B) are not supported`
		case r.Flags&syntax.NonGreedy != 0 && (r.Op == syntax.OpStar || r.Op == syntax.OpPlus || r.Op == syntax.OpQuest || r.Op == syntax.OpRepeat):
			bad = "lazy repetition is not supported"
		}
	})
	if bad != "" {
		return nil, fmt.Errorf("%s", bad)
	}
	return syntax.Compile(re.Simplify())
}

func walkRegexp(re *syntax.Regexp, fn func(*syntax.Regexp)) {
	fn(re)
	for _, s := range re.Sub {
		walkRegexp(s, fn)
	}
}

// lazyDFA implements the segment Automaton interface for a compiled
// pattern. State 0 is dead. It is not safe for concurrent use: each shard
// call builds its own, and reuses it over the fields and segments it walks.
type lazyDFA struct {
	prog   *syntax.Prog
	states []dfaState
	ids    map[string]int32
	budget int // most states
	guard  walkGuard

	err     error // why the walk was cut off: too many states, or ctx
	visited []bool
	key     []byte
}

type dfaState struct {
	pcs   []uint32 // rune instructions waiting for input, sorted
	pend  []byte   // the bytes of an incomplete UTF-8 sequence
	match bool     // the pattern can end here (with no pending bytes)
	next  *[256]int32
}

func newLazyDFA(guard walkGuard, prog *syntax.Prog, budget int) *lazyDFA {
	d := &lazyDFA{
		prog: prog, budget: budget, ids: map[string]int32{},
		guard:   guard,
		visited: make([]bool, len(prog.Inst)),
	}
	d.states = append(d.states, dfaState{}) // dead
	var pcs []uint32
	match := d.closure(uint32(prog.Start), &pcs)
	clear(d.visited)
	d.intern(pcs, nil, match)
	return d
}

// closure adds pc and what it reaches without input; it reports whether
// that includes the match instruction.
func (d *lazyDFA) closure(pc uint32, out *[]uint32) bool {
	if d.visited[pc] {
		return false
	}
	d.visited[pc] = true
	in := &d.prog.Inst[pc]
	switch in.Op {
	case syntax.InstMatch:
		return true
	case syntax.InstAlt, syntax.InstAltMatch:
		a := d.closure(in.Out, out)
		b := d.closure(in.Arg, out)
		return a || b
	case syntax.InstCapture, syntax.InstNop:
		return d.closure(in.Out, out)
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		*out = append(*out, pc)
	}
	// InstFail, and InstEmptyWidth, which compilePattern refuses.
	return false
}

// intern returns the id of the state (pcs, pend), adding it when new.
func (d *lazyDFA) intern(pcs []uint32, pend []byte, match bool) int32 {
	if len(pcs) == 0 && !match {
		return 0
	}
	slices.Sort(pcs)
	d.key = binary.AppendUvarint(d.key[:0], uint64(len(pcs)))
	for _, pc := range pcs {
		d.key = binary.AppendUvarint(d.key, uint64(pc))
	}
	if match {
		d.key = append(d.key, 1)
	} else {
		d.key = append(d.key, 0)
	}
	d.key = append(d.key, pend...)
	if id, ok := d.ids[string(d.key)]; ok {
		return id
	}
	if len(d.states) > d.budget { // state 0, dead, is not counted
		d.err = errPatternTooComplex
		return 0
	}
	id := int32(len(d.states))
	d.states = append(d.states, dfaState{pcs: pcs, pend: append([]byte(nil), pend...), match: match})
	d.ids[string(d.key)] = id
	return id
}

func (d *lazyDFA) Start() int { return 1 }

func (d *lazyDFA) IsMatch(s int) bool {
	st := &d.states[s]
	return st.match && len(st.pend) == 0
}

func (d *lazyDFA) CanMatch(s int) bool { return s != 0 && d.err == nil }

func (d *lazyDFA) WillAlwaysMatch(int) bool { return false }

func (d *lazyDFA) Accept(s int, b byte) int {
	if s == 0 || d.err != nil {
		return 0
	}
	if err := d.guard.step(); err != nil {
		d.err = err
		return 0
	}
	st := &d.states[s]
	if st.next != nil {
		if n := st.next[b]; n >= 0 {
			return int(n)
		}
	} else {
		st.next = new([256]int32)
		for i := range st.next {
			st.next[i] = -1
		}
	}
	n := d.step(s, b)
	d.states[s].next[b] = n // d.states may have grown: index again
	return int(n)
}

// step computes the state after byte b.
func (d *lazyDFA) step(s int, b byte) int32 {
	st := d.states[s]
	seq := append(append([]byte(nil), st.pend...), b)
	if !utf8.FullRune(seq) {
		if len(seq) >= utf8.UTFMax {
			return 0
		}
		return d.intern(slices.Clone(st.pcs), seq, false)
	}
	r, size := utf8.DecodeRune(seq)
	if r == utf8.RuneError && size <= 1 {
		return 0 // not UTF-8; terms always are
	}
	var next []uint32
	match := false
	for _, pc := range st.pcs {
		in := &d.prog.Inst[pc]
		ok := false
		switch in.Op {
		case syntax.InstRuneAny:
			ok = true
		case syntax.InstRuneAnyNotNL:
			ok = r != '\n'
		default:
			ok = in.MatchRune(r)
		}
		if ok && d.closure(in.Out, &next) {
			match = true
		}
	}
	clear(d.visited)
	return d.intern(next, nil, match)
}

// walkGuard is what a long walk over a dictionary or postings checks now
// and then: the deadline, and for a low-priority search the foreground
// searches it should step aside for.
type walkGuard struct {
	ctx   context.Context
	yield bool
	fg    *foreground // of the shard's index; nil: nothing to step aside for
	n     uint

	// For stepping aside: a low-priority walk waits for foreground calls
	// at most as long as it has worked, so it is slowed at most twofold
	// however busy the foreground is, and never starved.
	resumed        time.Time
	worked, waited time.Duration
	timer          *time.Timer
}

// stepAsideFor bounds one wait for the foreground.
const stepAsideFor = 2 * time.Millisecond

func (g *walkGuard) step() error {
	g.n++
	switch {
	case g.n&0x3fff == 0:
		return g.check()
	case g.yield && g.n&0xff == 0:
		// Often enough that a cheap search arriving finds a free P within
		// some tens of microseconds.
		g.stepAside()
	}
	return nil
}

// check steps aside (at low priority) and checks the deadline now.
func (g *walkGuard) check() error {
	if g.yield {
		g.stepAside()
	}
	if g.ctx == nil {
		return nil
	}
	return g.ctx.Err()
}

func (g *walkGuard) stepAside() {
	idle := g.fg.idleCh()
	if idle == nil {
		runtime.Gosched()
		return
	}
	now := time.Now()
	if !g.resumed.IsZero() {
		g.worked += now.Sub(g.resumed)
	}
	if d := min(stepAsideFor, g.worked-g.waited); d > 0 {
		if g.timer == nil {
			g.timer = time.NewTimer(d)
		} else {
			g.timer.Reset(d)
		}
		var done <-chan struct{}
		if g.ctx != nil {
			done = g.ctx.Done()
		}
		select {
		case <-idle:
		case <-g.timer.C:
		case <-done:
		}
		g.timer.Stop()
		after := time.Now()
		g.waited += after.Sub(now)
		now = after
	}
	g.resumed = now
}

// guardedAutomaton checks a walkGuard on every transition of another
// automaton (the Levenshtein automata of fuzzy terms).
type guardedAutomaton struct {
	segment.Automaton
	guard walkGuard
	err   error
}

func (g *guardedAutomaton) Accept(s int, b byte) int {
	if g.err != nil {
		return 0
	}
	if err := g.guard.step(); err != nil {
		g.err = err
		return 0
	}
	return g.Automaton.Accept(s, b)
}

func (g *guardedAutomaton) CanMatch(s int) bool { return g.err == nil && g.Automaton.CanMatch(s) }

func (g *guardedAutomaton) IsMatch(s int) bool { return g.err == nil && g.Automaton.IsMatch(s) }
