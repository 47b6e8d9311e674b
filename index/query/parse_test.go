package query

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseCases maps valid queries to the String of their tree.
var parseCases = []struct{ in, want string }{
	{"", ""},
	{" \t\n ", ""},
	{"bus", "bus"},
	{"red  bus", "red bus"},
	{"+bus -car", "+bus -car"},
	{"camera.make:canon", "camera.make:canon"},
	{"+camera.make:canon -exif.lens.model:50mm", "+camera.make:canon -exif.lens.model:50mm"},
	{`title:"red bus"`, `title:"red bus"`},
	{`"a phrase"`, `"a phrase"`},
	{`"say \"hi\" \\ bye"`, `"say \"hi\" \\ bye"`},
	{`"a\b"`, `"ab"`},

	// Boost and fuzziness.
	{"bus^2", "bus^2"},
	{"bus^1.5", "bus^1.5"},
	{"bus^0.5", "bus^.5"},
	{"bus^2.0", "bus^2"},
	{"bus^007", "bus^7"},
	{`"red bus"^3`, `"red bus"^3`},
	{"f:x^2", "f:x^2"},
	{"bus~", "bus~"},
	{"bus~1", "bus~"},
	{"bus~2", "bus~2"},
	{"bus~0", "bus"},
	{"bus^2~1", "bus~^2"},
	{"f:bus~2^3", "f:bus~2^3"},
	{"AND^2", "AND^2"},

	// Wildcards, prefixes, regexps, match all.
	{"bu*", "bu*"},
	{"f:bu*", "f:bu*"},
	{"b*s", "b*s"},
	{"b?s", "b?s"},
	{"bu**", "bu**"},
	{"*bus", "*bus"},
	{`b\*s*`, `b\*s*`},
	{`a\?b*c`, `a\?b*c`},
	{`a\:b*c`, `a\:b*c`},
	{"*", "*"},
	{"+*", "+*"},
	{"f:*", "f:*"},
	{`\*`, `\*`},
	{"/ab+c/", "/ab+c/"},
	{`/a\d+/`, `/a\d+/`},
	{`f:/a\/b/`, `f:/a\/b/`},
	{`/a\\/`, `/a\\/`},
	{"/x/^2", "/x/^2"},

	// Ranges.
	{"size:>5", "size:>5"},
	{"size:>=5", "size:>=5"},
	{"size:<10", "size:<10"},
	{"size:<=10", "size:<=10"},
	{"size:>-5", "size:>-5"},
	{`taken_at:>="2020-01-01"`, "taken_at:>=2020-01-01"},
	{`taken_at:<"2020-01-01 10:00"`, `taken_at:<2020-01-01\ 10:00`},
	{`f:>"((((("`, `f:>"((((("`},
	{`f:>\=5`, `f:>\=5`},
	{`f:>==5`, `f:>==5`},
	{`f:>>5`, `f:>>5`},
	{"f:>5^2", "f:>5^2"},

	// Escapes.
	{`a\:b`, `a\:b`},
	{`\+a`, `\+a`},
	{`\-a`, `\-a`},
	{`+\-a`, `+\-a`},
	{`e-mail`, `e-mail`},
	{`a\ b`, `a\ b`},
	{`\a`, `a`},
	{`a\(b\)`, `a\(b\)`},
	{`\/a`, `\/a`},
	{`f:\/a`, `f:\/a`},
	{`f:\>5`, `f:\>5`},
	{`f:-5`, `f:-5`},
	{`f:a:b`, `f:a:b`},
	{`my\ field:x`, `my\ field:x`},
	{`\*:x`, `\*:x`},
	{`url:http://example.org/a`, `url:http://example.org/a`},
	{`>5`, `>5`},
	{`a&b|c!{d}[e]`, `a&b|c!{d}[e]`},

	// CJK and other scripts.
	{"강아지", "강아지"},
	{"東京 タワー", "東京 タワー"},
	{"東京\u3000タワー", "東京 タワー"},
	{"title:東京タワー^2", "title:東京タワー^2"},
	{`"東京 タワー"`, `"東京 タワー"`},
	{"東京*", "東京*"},
	{"명소:강아지", "명소:강아지"},

	// Groups.
	{"+(red blue) bus", "+(red blue) bus"},
	{"((a))", "((a))"},
	{"( a  b )", "(a b)"},
	{"-(a +(b c))", "-(a +(b c))"},

	// AND, OR, NOT.
	{"a AND b", "+a +b"},
	{"a OR b", "a b"},
	{"NOT a", "-a"},
	{"a NOT b", "a -b"},
	{"a AND NOT b", "+a -b"},
	{"NOT a AND b", "-a +b"},
	{"a AND b OR c", "+a b c"},
	{"+a OR b", "a b"},
	{"-a OR b", "-a b"},
	{"a AND -b", "+a -b"},
	{"NOT(a b)", "-(a b)"},
	{"(a OR b) AND c", "+(a b) +c"},
	{"a AND(b)", "+a +(b)"},
	{"and or not", "and or not"},
	{"+AND -NOT", "+AND -NOT"},
	{`\AND`, `\AND`},
	{"AND:x", "AND:x"},
	{"f:AND", "f:AND"},
	{"ANDROID ORB NOTE", "ANDROID ORB NOTE"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.in, func(t *testing.T) {
			q, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	nested := strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1)
	tooMany := strings.TrimSpace(strings.Repeat("a ", MaxClauses+1))
	cases := []struct {
		in  string
		pos int
		msg string
	}{
		{`"abc`, 0, "unterminated phrase"},
		{`a "abc`, 2, "unterminated phrase"},
		{`"abc\`, 0, "unterminated phrase"},
		{`""`, 0, "empty phrase"},
		{`/abc`, 0, "unterminated regexp"},
		{`f:/abc\/`, 2, "unterminated regexp"},
		{`//`, 0, "empty regexp"},
		{`(a b`, 0, "unterminated group"},
		{`a (b (c)`, 2, "unterminated group"},
		{`()`, 0, "empty group"},
		{`a)`, 1, `unmatched ")"`},
		{`+`, 0, `dangling '+'`},
		{`a -`, 2, `dangling '-'`},
		{`+ a`, 0, `dangling '+'`},
		{`+-a`, 0, `dangling '+'`},
		{`(+)`, 1, `dangling '+'`},
		{`a^`, 1, `dangling '^'`},
		{`^2`, 0, `dangling '^'`},
		{`a ~`, 2, `dangling '~'`},
		{`f:`, 1, `missing value after "f:"`},
		{`f: x`, 1, `missing value after "f:"`},
		{`(f:)`, 2, `missing value after "f:"`},
		{`f:^2`, 1, `missing value after "f:"`},
		{`:a`, 0, "empty field name"},
		{`f*:a`, 0, "wildcard in field name"},
		{`f:(a b)`, 2, "a group cannot follow a field name"},
		{`a^-1`, 1, "invalid boost"},
		{`a^x`, 1, "invalid boost"},
		{`a^NaN`, 1, "invalid boost"},
		{`a^Inf`, 1, "invalid boost"},
		{`a^1e3`, 1, "invalid boost"},
		{`a^0`, 1, "invalid boost"},
		{`a^.`, 1, "invalid boost"},
		{`a^` + strings.Repeat("9", 400), 1, "invalid boost"},
		{`a^2^3`, 3, "duplicate boost"},
		{`a~3`, 1, "fuzziness 3 is larger than 2"},
		{`a~99999999999999999999999`, 1, "larger than 2"},
		{`a~x`, 1, "invalid fuzziness"},
		{`a~~`, 2, "duplicate fuzziness"},
		{`"a b"~`, 5, "fuzziness is not supported on a phrase"},
		{`a*~`, 2, "fuzziness is not supported on a prefix"},
		{`*^2`, 1, `boost is not supported on "*"`},
		{`(a)^2`, 3, "boost is not supported on a group"},
		{`f:>`, 2, "range without a value"},
		{`f:>=`, 2, "range without a value"},
		{`f:<""`, 2, "range without a value"},
		{`f:< 5`, 2, "range without a value"},
		{`f:>5*`, 2, "wildcard in range value"},
		{`f:>"5`, 3, "unterminated phrase"},
		{`ab\`, 2, "trailing backslash"},
		{`f:ab\`, 4, "trailing backslash"},
		{`a(b)`, 1, "unexpected '('"},
		{`"a"b`, 3, "unexpected 'b'"},
		{`a"b"`, 1, `unexpected '"'`},
		{`/a/b`, 3, "unexpected 'b'"},
		{`AND a`, 0, "AND must follow a clause"},
		{`(OR a)`, 1, "OR must follow a clause"},
		{`a AND`, 2, "dangling AND"},
		{`(a AND)`, 3, "dangling AND"},
		{`a OR OR b`, 5, "unexpected OR"},
		{`a NOT AND b`, 6, "unexpected AND"},
		{`NOT`, 0, "dangling NOT"},
		{`NOT NOT a`, 4, "NOT NOT"},
		{`NOT -a`, 4, "cannot follow NOT"},
		{strings.Repeat("a", MaxQueryBytes+1), MaxQueryBytes, "longer than 4096 bytes"},
		{"\xff", 0, "invalid UTF-8"},
		{"ab \xe6\x9d", 3, "invalid UTF-8"},
		{nested, MaxDepth, "nested deeper than 32"},
		{tooMany, 2 * MaxClauses, "more than 1024 clauses"},
	}
	for _, tc := range cases {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			q, err := Parse(tc.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, %v; want a *ParseError", q, err)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("%v does not wrap ErrSyntax", err)
			}
			if pe.Pos != tc.pos || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("got %v; want position %d and %q", err, tc.pos, tc.msg)
			}
			if pe.Query != tc.in {
				t.Errorf("Query = %q", pe.Query)
			}
		})
	}
}

func TestParseLimitsAccepted(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth),
		strings.TrimSpace(strings.Repeat("a ", MaxClauses)),
		strings.Repeat("a", MaxQueryBytes),
	} {
		if _, err := Parse(in); err != nil {
			t.Error(err)
		}
	}
}

func TestParseError(t *testing.T) {
	_, err := Parse(`title:"red bus`)
	const want = "query syntax error at position 6: unterminated phrase"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func ptr(s string) *string { return &s }

func TestParseTree(t *testing.T) {
	cases := []struct {
		in   string
		want *Bool
	}{
		{"", &Bool{}},
		{`+camera.make:canon^2 -"red bus" tag:bu* f:b?s`, &Bool{Clauses: []Clause{
			{Must, &Match{Field: "camera.make", Text: "canon", Boost: 2, Position: 1}},
			{MustNot, &Phrase{Text: "red bus", Position: 22}},
			{Should, &Prefix{Field: "tag", Prefix: "bu", Position: 32}},
			{Should, &Wildcard{Field: "f", Pattern: "b?s", Position: 40}},
		}}},
		{`a\*b* kitten~2 /c.t/ *`, &Bool{Clauses: []Clause{
			{Should, &Prefix{Prefix: "a*b", Position: 0}},
			{Should, &Match{Text: "kitten", Fuzziness: 2, Position: 6}},
			{Should, &Regexp{Pattern: "c.t", Position: 15}},
			{Should, &MatchAll{Position: 21}},
		}}},
		{`iso:>=100 taken_at:<"2020-01-01"`, &Bool{Clauses: []Clause{
			{Should, &Range{Field: "iso", Min: ptr("100"), MinInclusive: true, Position: 0}},
			{Should, &Range{Field: "taken_at", Max: ptr("2020-01-01"), Position: 10}},
		}}},
		{"강아지 +(東京 タワー)", &Bool{Clauses: []Clause{
			{Should, &Match{Text: "강아지", Position: 0}},
			{Must, &Bool{Position: 11, Clauses: []Clause{
				{Should, &Match{Text: "東京", Position: 12}},
				{Should, &Match{Text: "タワー", Position: 19}},
			}}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			q, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(q, tc.want) {
				t.Errorf("got  %s\nwant %s", dump(q), dump(tc.want))
			}
		})
	}
}

// withoutPositions zeroes every position so trees parsed from different
// renderings of the same query compare equal.
func withoutPositions(q *Bool) *Bool {
	Walk(q, func(n Node) bool {
		switch n := n.(type) {
		case *Bool:
			n.Position = 0
		case *Match:
			n.Position = 0
		case *Phrase:
			n.Position = 0
		case *Prefix:
			n.Position = 0
		case *Wildcard:
			n.Position = 0
		case *Regexp:
			n.Position = 0
		case *Range:
			n.Position = 0
		case *MatchAll:
			n.Position = 0
		}
		return true
	})
	return q
}

// checkRoundTrip asserts that the rendering of a parsed query parses to the
// same tree and renders identically, and is no longer than the input.
func checkRoundTrip(t testing.TB, in string, q *Bool) {
	t.Helper()
	out := q.String()
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("input %q rendered as %q: %v", in, out, err)
	}
	if s := again.String(); s != out {
		t.Fatalf("input %q rendered as %q, then as %q", in, out, s)
	}
	if a, b := withoutPositions(q), withoutPositions(again); !reflect.DeepEqual(a, b) {
		t.Fatalf("input %q rendered as %q parses to a different tree:\n%s\n%s", in, out, dump(a), dump(b))
	}
	if len(out) > len(in) {
		t.Fatalf("input %q rendered longer as %q", in, out)
	}
}

// dump shows a tree with its node types and fields, for failure messages.
func dump(n Node) string {
	var sb strings.Builder
	Walk(n, func(n Node) bool {
		if b, ok := n.(*Bool); ok {
			fmt.Fprintf(&sb, "Bool@%d[", b.Position)
			for _, c := range b.Clauses {
				fmt.Fprintf(&sb, "%v:%s ", c.Occur, dump(c.Node))
			}
			sb.WriteString("]")
			return false
		}
		if r, ok := n.(*Range); ok {
			fmt.Fprintf(&sb, "%+v(min=%v max=%v)", *r, deref(r.Min), deref(r.Max))
			return false
		}
		fmt.Fprintf(&sb, "%T%+v", n, n)
		return false
	})
	return sb.String()
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range parseCases {
		q, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, tc.in, q)
	}
}

func TestStringOfBuiltTrees(t *testing.T) {
	cases := []struct {
		n    Node
		want string
	}{
		{&Match{Text: "AND"}, `\AND`},
		{&Match{Text: "-5"}, `\-5`},
		{&Match{Field: "f", Text: "-5"}, `f:-5`},
		{&Match{Text: "a b:c*"}, `a\ b\:c\*`},
		{&Prefix{Field: "tag", Prefix: "a b"}, `tag:a\ b*`},
		{&Wildcard{Pattern: `-a\*b*`}, `\-a\*b*`},
		{&Regexp{Field: "f", Pattern: "a/b"}, `f:/a\/b/`},
		{&Range{Field: "f", Min: ptr("1"), Max: ptr("9"), MaxInclusive: true}, `(+f:>1 +f:<=9)`},
		{&Range{Field: "f"}, `f:*`},
		{&Bool{Clauses: []Clause{{MustNot, &Bool{Clauses: []Clause{{Must, &Match{Text: "AND"}}}}}}}, `-(+AND)`},
	}
	for _, tc := range cases {
		if got := tc.n.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", dump(tc.n), got, tc.want)
		}
	}
}

func TestWalk(t *testing.T) {
	q, err := Parse("a +(b (c d)) e")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	Walk(q, func(n Node) bool {
		if m, ok := n.(*Match); ok {
			seen = append(seen, m.Text)
		}
		return n.Pos() != 6 // skip the group (c d)
	})
	if want := []string{"a", "b", "e"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("visited %q, want %q", seen, want)
	}
	Walk(nil, func(Node) bool { t.Fatal("called on nil"); return true })
}
