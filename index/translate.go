package index

import (
	"errors"

	"fmt"
	"github.com/blevesearch/bleve/v2/analysis"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/picdex/picdex/index/query"
	"github.com/picdex/picdex/index/record"
)

// MaxExpansions bounds how many terms one fuzzy, prefix, wildcard or
// regexp clause may expand to across the whole index.
const MaxExpansions = 1024

// multiTerm is a clause that matches many terms of one field.
type multiTerm struct {
	kind    string // "prefix", "regexp" or "fuzzy"
	field   string
	pattern string // prefix, regular expression or the term
	fuzz    int
}

func (m multiTerm) signature() string {
	return fmt.Sprintf("%s|%s|%d|%s", m.kind, m.field, m.fuzz, m.pattern)
}

// expander resolves a multi-term clause to the terms it matches. A shard
// in phase 1 lists its own terms; in phase 2 the union over all shards is
// handed back, so that every shard builds the same disjunction (same
// children, same coordination factor and query norm) and scores alike.
type expander func(mt multiTerm) ([]string, error)

// translator turns query syntax into bleve queries inside a shard.
type translator struct {
	text   analysis.Analyzer // analyzes fuzzy clauses into terms
	expand expander          // nil: let bleve expand natively
	cols   *columnCache      // the shard's columns, for ranges (nil outside a shard)
	guard  walkGuard         // what the shard call's range scans check
}

// translateQuery turns the request's query string into the scored bleve
// query, or nil when there is no text to score (empty query, or "*").
func translateQuery(p *plan) (bq.Query, error) { return translator{}.query(p) }

// parseQuery parses a query string with the schema's field names, so
// that "12:25" or "fruit: apples" is text rather than an unknown field.
func parseQuery(s string) (*query.Bool, error) {
	tree, err := query.ParseWith(s, query.Options{IsField: isField})
	if err != nil {
		return nil, &RequestError{Param: "q", Reason: err.Error(), Err: err}
	}
	return tree, nil
}

// isField reports whether name is a field or an alias of the schema.
func isField(name string) bool {
	_, _, ok := resolveField(name)
	return ok
}

func (tr translator) query(p *plan) (bq.Query, error) {
	tree := p.tree
	if len(tree.Clauses) == 0 {
		return nil, nil
	}
	if len(tree.Clauses) == 1 && tree.Clauses[0].Occur != query.MustNot {
		if _, ok := tree.Clauses[0].Node.(*query.MatchAll); ok {
			return nil, nil
		}
	}
	return tr.node(tree)
}

func (tr translator) node(n query.Node) (bq.Query, error) {
	switch n := n.(type) {
	case *query.Bool:
		return tr.boolean(n)
	case *query.MatchAll:
		return bq.NewMatchAllQuery(), nil
	case *query.Match:
		if q, ok, err := tr.bm25Match(n); ok || err != nil {
			return q, err
		}
		return perField(n.Field, n.Boost, n.Pos(), func(field string, spec fieldSpec) (bq.Query, error) {
			switch spec.kind {
			case kindText:
				if n.Fuzziness > 0 && tr.expand != nil {
					return tr.fuzzyMatch(field, n.Text, n.Fuzziness)
				}
				q := bq.NewMatchQuery(n.Text)
				q.SetField(field)
				q.SetOperator(bq.MatchQueryOperatorAnd)
				q.SetFuzziness(n.Fuzziness)
				return q, nil
			case kindKeyword:
				return termQuery(field, n.Text), nil
			case kindKeywordLower:
				return termQuery(field, strings.ToLower(n.Text)), nil
			case kindNumber:
				v, err := strconv.ParseFloat(n.Text, 64)
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, posError(n.Pos(), "%s is numeric; %q is not a number", field, n.Text)
				}
				t := string(numberTerm(v))
				return constantScore(&termRangeQuery{cols: tr.cols, guard: tr.guard, field: field, lo: t, hi: t, loIn: true, hiIn: true}), nil
			case kindDate:
				t, err := record.ParseTime(n.Text)
				if err != nil {
					return nil, posError(n.Pos(), "%s is a date; %q is not RFC 3339 or YYYY-MM-DD", field, n.Text)
				}
				end := t
				if !strings.Contains(n.Text, "T") {
					end = t.Add(24*time.Hour - time.Nanosecond)
				}
				return constantScore(tr.dateRange(t, end, true, true)), nil
			}
			return nil, posError(n.Pos(), "field %s cannot be searched by text", field)
		})
	case *query.Phrase:
		if q, ok, err := tr.bm25Phrase(n); ok || err != nil {
			return q, err
		}
		return perField(n.Field, n.Boost, n.Pos(), func(field string, spec fieldSpec) (bq.Query, error) {
			switch spec.kind {
			case kindText:
				q := bq.NewMatchPhraseQuery(n.Text)
				q.SetField(field)
				return q, nil
			case kindKeyword:
				return termQuery(field, n.Text), nil
			case kindKeywordLower:
				return termQuery(field, strings.ToLower(n.Text)), nil
			}
			return nil, posError(n.Pos(), "field %s cannot be searched by phrase", field)
		})
	case *query.Prefix:
		return perField(n.Field, n.Boost, n.Pos(), func(field string, spec fieldSpec) (bq.Query, error) {
			if !isTermKind(spec.kind) {
				return nil, posError(n.Pos(), "field %s cannot be searched by prefix", field)
			}
			return tr.multi(multiTerm{kind: "prefix", field: field, pattern: foldFor(spec.kind, n.Prefix)})
		})
	case *query.Wildcard:
		return perField(n.Field, n.Boost, n.Pos(), func(field string, spec fieldSpec) (bq.Query, error) {
			if !isTermKind(spec.kind) {
				return nil, posError(n.Pos(), "field %s cannot be searched by wildcard", field)
			}
			return tr.multi(multiTerm{kind: "regexp", field: field, pattern: wildcardToRegexp(foldFor(spec.kind, n.Pattern))})
		})
	case *query.Regexp:
		if _, err := compilePattern(n.Pattern); err != nil {
			return nil, posError(n.Pos(), "invalid regular expression %q: %v", n.Pattern, err)
		}
		return perField(n.Field, n.Boost, n.Pos(), func(field string, spec fieldSpec) (bq.Query, error) {
			if !isTermKind(spec.kind) {
				return nil, posError(n.Pos(), "field %s cannot be searched by regexp", field)
			}
			return tr.multi(multiTerm{kind: "regexp", field: field, pattern: n.Pattern})
		})
	case *query.Range:
		return tr.rangeQuery(n)
	}
	return nil, posError(n.Pos(), "unsupported query clause %T", n)
}

func (tr translator) boolean(b *query.Bool) (bq.Query, error) {
	var must, should, mustNot []bq.Query
	for _, c := range b.Clauses {
		q, err := tr.node(c.Node)
		if err != nil {
			return nil, err
		}
		switch c.Occur {
		case query.Must:
			must = append(must, q)
		case query.MustNot:
			mustNot = append(mustNot, q)
		default:
			should = append(should, q)
		}
	}
	if len(must) == 1 && len(should) == 0 && len(mustNot) == 0 {
		return must[0], nil
	}
	if len(should) == 1 && len(must) == 0 && len(mustNot) == 0 {
		return should[0], nil
	}
	bool := bq.NewBooleanQuery(nil, nil, nil)
	if len(must) > 0 {
		bool.AddMust(must...)
	}
	if len(should) > 0 {
		bool.AddShould(should...)
		if len(must) == 0 {
			bool.SetMinShould(1)
		}
	}
	if len(mustNot) > 0 {
		bool.AddMustNot(mustNot...)
	}
	return bool, nil
}

// perField applies build to one field, or to every default field with its
// weight, combined as a disjunction.
func perField(name string, boost float64, pos int, build func(string, fieldSpec) (bq.Query, error)) (bq.Query, error) {
	if boost == 0 {
		boost = 1
	}
	if name != "" {
		field, spec, ok := resolveField(name)
		if !ok {
			return nil, posError(pos, "unknown field %q", name)
		}
		q, err := build(field, spec)
		if err != nil {
			return nil, err
		}
		setBoost(q, boost)
		return q, nil
	}
	qs := make([]bq.Query, 0, len(DefaultFields))
	for _, wf := range DefaultFields {
		q, err := build(wf.Name, schema[wf.Name])
		if err != nil {
			return nil, err
		}
		setBoost(q, boost*wf.Boost)
		qs = append(qs, q)
	}
	return bq.NewDisjunctionQuery(qs), nil
}

func setBoost(q bq.Query, b float64) {
	if bq, ok := q.(bq.BoostableQuery); ok {
		bq.SetBoost(b)
	}
}

// bm25Match scores a plain word on text fields with bm25Query: every term
// the word analyzes to is required (a CJK word becomes several bigrams,
// "e-mail" two terms). ok is false when the clause is not a plain word on
// text fields.
func (tr translator) bm25Match(n *query.Match) (bq.Query, bool, error) {
	if tr.text == nil || n.Fuzziness > 0 {
		return nil, false, nil
	}
	fields, boost, ok, err := textFields(n.Field, n.Boost, n.Pos())
	if !ok || err != nil {
		return nil, false, err
	}
	var parts []bq.Query
	for _, tok := range tr.text.Analyze([]byte(n.Text)) {
		parts = append(parts, &bm25Query{term: string(tok.Term), fields: fields, boost: boost})
	}
	switch len(parts) {
	case 0:
		return bq.NewMatchNoneQuery(), true, nil
	case 1:
		return parts[0], true, nil
	}
	return bq.NewConjunctionQuery(parts), true, nil
}

// textFields returns the fields a word or phrase on field (none: the
// default fields) scores with BM25F, and its boost; ok is false when
// field is not a text field.
func textFields(field string, boost float64, pos int) (_ []WeightedField, _ float64, ok bool, _ error) {
	if boost == 0 {
		boost = 1
	}
	if field == "" {
		return DefaultFields, boost, true, nil
	}
	name, spec, known := resolveField(field)
	if !known {
		return nil, 0, false, posError(pos, "unknown field %q", field)
	}
	if spec.kind != kindText {
		return nil, 0, false, nil
	}
	return []WeightedField{{name, 1}}, boost, true, nil
}

// multi builds a multi-term clause: bleve's own query when nothing
// expands it, else a disjunction over exactly the expanded terms.
func (tr translator) multi(mt multiTerm) (bq.Query, error) {
	if tr.expand == nil {
		switch mt.kind {
		case "prefix":
			q := bq.NewPrefixQuery(mt.pattern)
			q.SetField(mt.field)
			return q, nil
		case "regexp":
			q := bq.NewRegexpQuery(mt.pattern)
			q.SetField(mt.field)
			return q, nil
		}
		q := bq.NewFuzzyQuery(mt.pattern)
		q.SetField(mt.field)
		q.SetFuzziness(mt.fuzz)
		return q, nil
	}
	terms, err := tr.expand(mt)
	if err != nil {
		return nil, err
	}
	if len(terms) > MaxExpansions {
		return nil, badParam("q", "%s %q on %s matches more than %d terms; make it more specific", mt.kind, mt.pattern, mt.field, MaxExpansions)
	}
	qs := make([]bq.Query, len(terms))
	for i, t := range terms {
		qs[i] = termQuery(mt.field, t)
	}
	if len(qs) == 0 {
		return bq.NewMatchNoneQuery(), nil
	}
	return bq.NewDisjunctionQuery(qs), nil
}

// fuzzyMatch analyzes a word and requires every resulting term, each
// within the edit distance.
func (tr translator) fuzzyMatch(field, text string, fuzz int) (bq.Query, error) {
	var parts []bq.Query
	for _, tok := range tr.text.Analyze([]byte(text)) {
		q, err := tr.multi(multiTerm{kind: "fuzzy", field: field, pattern: string(tok.Term), fuzz: fuzz})
		if err != nil {
			return nil, err
		}
		parts = append(parts, q)
	}
	switch len(parts) {
	case 0:
		return bq.NewMatchNoneQuery(), nil
	case 1:
		return parts[0], nil
	}
	return bq.NewConjunctionQuery(parts), nil
}

func (tr translator) rangeQuery(n *query.Range) (bq.Query, error) {
	field, spec, ok := resolveField(n.Field)
	if !ok {
		return nil, posError(n.Pos(), "unknown field %q", n.Field)
	}
	minIn, maxIn := n.MinInclusive, n.MaxInclusive
	var q bq.Query
	switch spec.kind {
	case kindNumber:
		var lo, hi string
		for _, b := range []struct {
			s   *string
			dst *string
		}{{n.Min, &lo}, {n.Max, &hi}} {
			if b.s == nil {
				continue
			}
			v, err := strconv.ParseFloat(*b.s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, posError(n.Pos(), "%s is numeric; %q is not a number", field, *b.s)
			}
			*b.dst = string(numberTerm(v))
		}
		q = &termRangeQuery{cols: tr.cols, guard: tr.guard, field: field, lo: lo, hi: hi, loIn: minIn, hiIn: maxIn}
	case kindDate:
		var lo, hi time.Time
		for _, b := range []struct {
			s   *string
			dst *time.Time
		}{{n.Min, &lo}, {n.Max, &hi}} {
			if b.s == nil {
				continue
			}
			t, err := record.ParseTime(*b.s)
			if err != nil {
				return nil, posError(n.Pos(), "%s is a date; %q is not RFC 3339 or YYYY-MM-DD", field, *b.s)
			}
			*b.dst = t
		}
		q = tr.dateRange(lo, hi, minIn, maxIn)
	case kindKeyword, kindKeywordLower:
		var lo, hi string
		if n.Min != nil {
			lo = foldFor(spec.kind, *n.Min)
		}
		if n.Max != nil {
			hi = foldFor(spec.kind, *n.Max)
		}
		q = &termRangeQuery{cols: tr.cols, guard: tr.guard, field: field, lo: lo, hi: hi, loIn: minIn, hiIn: maxIn}
	default:
		return nil, posError(n.Pos(), "field %s has no order to compare with", field)
	}
	q = constantScore(q)
	if n.Boost != 0 {
		setBoost(q, n.Boost)
	}
	return q, nil
}

// constantScore makes a clause match like q but score a constant, as
// ranges do in Lucene: how many distinct values a range spans on a shard
// says nothing about relevance, and would make scores shard-dependent.
func constantScore(q bq.Query) bq.Query {
	b := bq.NewBooleanQuery([]bq.Query{bq.NewMatchAllQuery()}, nil, nil)
	b.AddFilter(q)
	return b
}

// dateRange matches taken_at between two times (zero: unbounded) on its
// compact twin's column, as the taken_from and taken_to filters do: Unix
// seconds, which unlike bleve's date fields cover every year.
func (tr translator) dateRange(lo, hi time.Time, loIn, hiIn bool) bq.Query {
	q := &termRangeQuery{cols: tr.cols, guard: tr.guard, field: fieldTakenAtSort, loIn: loIn, hiIn: hiIn}
	if !lo.IsZero() {
		q.lo = string(numberTerm(unixSeconds(lo)))
	}
	if !hi.IsZero() {
		q.hi = string(numberTerm(unixSeconds(hi)))
	}
	return q
}

func isTermKind(k fieldKind) bool { return k == kindText || k == kindKeyword || k == kindKeywordLower }

// foldFor lower-cases a pattern for fields whose terms are lower-cased.
func foldFor(k fieldKind, s string) string {
	if k == kindKeyword {
		return s
	}
	return strings.ToLower(s)
}

// wildcardToRegexp converts the parser's wildcard pattern ('*', '?', with
// "\*", "\?", "\\" for literals) to an anchored-by-bleve regular expression.
func wildcardToRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		default:
			j := i
			for j < len(p) && p[j] != '*' && p[j] != '?' && p[j] != '\\' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(p[i:j]))
			i = j - 1
		}
	}
	return b.String()
}

func termQuery(field, term string) bq.Query {
	q := bq.NewTermQuery(term)
	q.SetField(field)
	return q
}

// posError is a query error at a position of the query string.
func posError(pos int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	pe := &query.ParseError{Pos: pos, Msg: msg}
	return &RequestError{Param: "q", Reason: pe.Error(), Err: pe}
}

// queryBuildError classifies an error from building bleve searchers: a
// problem with the query (too many expansions, bad regexp) is the caller's.
func queryBuildError(err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	msg := err.Error()
	for _, s := range []string{"too many clauses", "regexp", "fuzziness", "exceeds", "invalid", "TooManyClauses"} {
		if strings.Contains(msg, s) {
			return badParam("q", "%s", msg)
		}
	}
	return err
}

// filter builds the unscored filter: the part bleve matches (nil
// when there is none) and the numeric ranges the collector checks on
// columns. ids restricts to a set of documents (near-duplicate candidates).
func (tr translator) filter(f *Filter, ids []string) (bq.Query, []termRange, error) {
	var parts []bq.Query
	var ranges []termRange
	for _, t := range f.Tags {
		parts = append(parts, termQuery(fieldTags, t))
	}
	if len(f.Format) > 0 {
		var any []bq.Query
		for _, v := range f.Format {
			v = strings.ToLower(strings.TrimSpace(v))
			if v == "jpg" {
				v = "jpeg"
			}
			any = append(any, termQuery(fieldFormat, v))
		}
		parts = append(parts, bq.NewDisjunctionQuery(any))
	}
	if f.Make != "" {
		parts = append(parts, termQuery(fieldMake, strings.ToLower(strings.TrimSpace(f.Make))))
	}
	if f.Model != "" {
		parts = append(parts, termQuery(fieldModel, strings.ToLower(strings.TrimSpace(f.Model))))
	}
	for _, r := range []struct {
		field    string
		min, max *int
	}{{fieldWidth, f.WidthMin, f.WidthMax}, {fieldHeight, f.HeightMin, f.HeightMax}} {
		if r.min == nil && r.max == nil {
			continue
		}
		tr := termRange{field: r.field, loIn: true, hiIn: true}
		if r.min != nil {
			tr.lo = string(numberTerm(float64(*r.min)))
		}
		if r.max != nil {
			tr.hi = string(numberTerm(float64(*r.max)))
		}
		ranges = append(ranges, tr)
	}
	if f.TakenFrom != "" || f.TakenTo != "" {
		// On the compact twin, whose one term per value orders like the
		// Unix seconds it encodes.
		tr := termRange{field: fieldTakenAtSort, loIn: true, hiIn: true}
		if f.TakenFrom != "" {
			lo, _ := record.ParseTime(f.TakenFrom)
			tr.lo = string(numberTerm(unixSeconds(lo)))
		}
		if f.TakenTo != "" {
			hi, _ := record.ParseTime(f.TakenTo)
			if !strings.Contains(f.TakenTo, "T") {
				hi = hi.Add(24*time.Hour - time.Nanosecond)
			}
			tr.hi = string(numberTerm(unixSeconds(hi)))
		}
		ranges = append(ranges, tr)
	}
	if f.Near != "" {
		n, err := parseNear(f.Near)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, &geoQuery{cols: tr.cols, guard: tr.guard, near: &n})
	}
	if f.BBox != "" {
		b, err := parseBBox(f.BBox)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, &geoQuery{cols: tr.cols, guard: tr.guard, box: &b})
	}
	if ids != nil {
		parts = append(parts, bq.NewDocIDQuery(ids))
	}
	switch len(parts) {
	case 0:
		return nil, ranges, nil
	case 1:
		return parts[0], ranges, nil
	}
	return bq.NewConjunctionQuery(parts), ranges, nil
}
