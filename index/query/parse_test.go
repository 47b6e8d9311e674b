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

	// Text that looks like syntax, whatever the field list.
	{"+", `\+`},
	{"a -", `a \-`},
	{"toys - a bull", `toys \- a bull`},
	{"+ a", `\+ a`},
	{"+-a", `\+-a`},
	{"--", `\--`},
	{"(+)", `(\+)`},
	{"(a -)", `(a \-)`},
	{"NOT -", `-\-`},
	{"-:x", `-\:x`},
	{":a", `\:a`},
	{": a", `\: a`},
	{"(:-)", `(\:-)`},
	{":^2", `\:^2`},
	{"red / blue", `red \/ blue`},
	{"(a /)", `(a \/)`},
	{"/", `\/`},
	{`says "PUB".`, `says "PUB" .`},
	{`"W 122 St.", "Broadway"`, `"W 122 St." , "Broadway"`},
	{`"a"'s`, `"a" 's`},
	{`"a"-b`, `"a" -b`},
	{`"a"+b`, `"a" +b`},
	{`"a"*`, `"a" *`},
	{`"a"?`, `"a" \?`},
	{`"a"...`, `"a" ...`},
	{`"a":`, `"a" \:`},
	{`("a".)`, `("a" .)`},
	{`("a").`, `("a") .`},
	{"a cat (black), sitting", "a cat (black) , sitting"},
	{"(a)-b", "(a) -b"},
	{`"a"^2 .`, `"a"^2 .`},
	{`/a/.`, `/a/ .`},
	{`/a//b/`, `/a/ /b/`},
	{`f:>"5".`, `f:>5 .`},
	{`f:"a b"!`, `f:"a b" !`},
	{"bird?", `bird\?`},
	{"bird??", `bird\?\?`},
	{"f:bird?", `f:bird\?`},
	{"?", `\?`},
	{"???", `\?\?\?`},
	{"?^2", `\?^2`},
	{"b?s?", "b?s"},
	{"bu*?", "bu*"},
	{"*?", "*"},
	{"f:*?", "f:*"},
	{`a\*b?`, `a\*b\?`},
	{`bir\?`, `bir\?`},
	{"bir?*", "bir?*"},
	{"?*", "?*"},
	{"12:25", "12:25"}, // every name is a field to Parse

	// Boost limit.
	{"a^10000", "a^10000"},
	{"a^9999.99", "a^9999.99"},

	// Duplicate clauses.
	{"bus bus", "bus^2"},
	{"bus bus bus", "bus^3"},
	{"bus^2 bus", "bus^3"},
	{"bus bus^.5", "bus^1.5"},
	{"a^.1 a^.2", "a^.3"},
	{"a^9999 a^9999", "a^10000"},
	{"a^10000 a", "a^10000"},
	{"b a b", "b^2 a"},
	{"+bus +bus", "+bus^2"},
	{"a AND a", "+a^2"},
	{"a +a -a", "a +a -a"},
	{"-a^2 -a^3", "-a^2"},
	{"-a -a", "-a"},
	{`"red bus" "red bus"^2`, `"red bus"^3`},
	{"bu* bu*", "bu*^2"},
	{"b?s b?s", "b?s^2"},
	{"/x/ /x/", "/x/^2"},
	{"f:>5 f:>5", "f:>5^2"},
	{"bus~ bus~", "bus~^2"},
	{"bus bus~ bus~1", "bus bus~^2"},
	{"f:bus bus", "f:bus bus"},
	{"* *", "*"},
	{"(a b) (a b)", "(a b)"},
	{"(a a) (a^2)", "(a^2)"},
	{"(a a) a", "(a^2) a"},
	{"+(a b) (a b)", "+(a b) (a b)"},
	{"a (a) a", "a^2 (a)"},
	{"(a) a", "(a) a"},
	{"* (*)", "* (*)"},
	{"+AND +AND", "+AND^2"},
	{`\AND \AND`, "AND^2"},
}

// knows returns an IsField predicate that knows exactly names.
func knows(names ...string) func(string) bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(name string) bool { return set[name] }
}

// fewFields knows a handful of names, enough to exercise both sides of
// every field rule.
var fewFields = Options{IsField: knows("title", "tags", "f", "camera.make", "iso", "taken_at")}

// picdexFields knows the names a picdex index accepts, aliases included.
var picdexFields = Options{IsField: knows(
	"title", "caption", "alt", "description", "tags", "tag", "creator",
	"copyright", "license", "format", "source", "url", "page_url", "width",
	"height", "bytes", "taken_at", "camera.make", "make", "camera.model",
	"model", "camera.lens", "lens", "camera.iso", "iso", "location", "phash",
	"colors", "id")}

// fieldCases maps queries to the String of their tree under fewFields.
var fieldCases = []struct{ in, want string }{
	{"12:25", `12\:25`},
	{"A watch set to 12:25 sits on the table.", `A watch set to 12\:25 sits on the table.`},
	{"fruit: apples, grapes", `fruit\: apples, grapes`},
	{"fruit:", `fruit\:`},
	{"fruit:^2", `fruit\:^2`},
	{"(fruit:)", `(fruit\:)`},
	{"https://example.com/x", `https\://example.com/x`},
	{"a:b:c", `a\:b\:c`},
	{"12:3*", `12\:3*`},
	{"ti*:a", `ti*\:a`},
	{"bird?:", `bird?\:`},
	{"AND:x", `AND\:x`},
	{"NOT a:b", `-a\:b`},
	{"+fruit: -12:00", `+fruit\: -12\:00`},
	{`my\ field:x`, `my\ field\:x`},
	{"12:25 12:25", `12\:25^2`},
	{"title:12:25", "title:12:25"},
	{"title:bus", "title:bus"},
	{"camera.make:canon", "camera.make:canon"},
	{"iso:>=100", "iso:>=100"},
	{`title:"red bus".`, `title:"red bus" .`},
	{"tags:bird?", `tags:bird\?`},
	{"f:a f:a", "f:a^2"},
	{"title:a title:a^3", "title:a^4"},
	{`title:a\:b`, "title:a:b"},
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

func TestParseWith(t *testing.T) {
	for _, tc := range fieldCases {
		t.Run(tc.in, func(t *testing.T) {
			q, err := ParseWith(tc.in, fewFields)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestParseNilIsField checks that a nil IsField and one that knows every
// name parse alike, and that Parse is ParseWith without options.
func TestParseNilIsField(t *testing.T) {
	all := Options{IsField: func(string) bool { return true }}
	for _, tc := range append(parseCases, fieldCases...) {
		want, wantErr := Parse(tc.in)
		for _, o := range []Options{{}, all} {
			got, err := ParseWith(tc.in, o)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("%q: ParseWith = %v, %v; Parse = %v, %v", tc.in, got, err, want, wantErr)
			}
		}
	}
}

// TestIsFieldCalls checks what IsField is asked: every word before a colon
// outside a field value, with its escapes resolved, and nothing else.
func TestIsFieldCalls(t *testing.T) {
	var asked []string
	o := Options{IsField: func(name string) bool {
		asked = append(asked, name)
		return name == "title"
	}}
	if _, err := ParseWith(`title:a:b my\ f:x 12:25:00 "c:d" \:e f\:g +h:i (j:k)`, o); err != nil {
		t.Fatal(err)
	}
	if want := []string{"title", "my f", "12", "h", "j"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("IsField asked %q, want %q", asked, want)
	}
}

// errorCase is a query that must fail at pos with a message containing msg.
type errorCase struct {
	in  string
	pos int
	msg string
}

func checkErrors(t *testing.T, o Options, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			q, err := ParseWith(tc.in, o)
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

func TestParseErrors(t *testing.T) {
	nested := strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1)
	tooMany := strings.TrimSpace(strings.Repeat("a ", MaxClauses+1))
	checkErrors(t, Options{}, []errorCase{
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
		{`a^`, 1, `dangling '^'`},
		{`^2`, 0, `dangling '^'`},
		{`a ~`, 2, `dangling '~'`},
		{`f:`, 1, `missing value after "f:"`},
		{`f: x`, 1, `missing value after "f:"`},
		{`(f:)`, 2, `missing value after "f:"`},
		{`f:^2`, 1, `missing value after "f:"`},
		{`f:/`, 2, "unterminated regexp"},
		{`(a)b`, 3, "unexpected 'b'"},
		{`(a)(b)`, 3, "unexpected '('"},
		{`(a)^2`, 3, "boost is not supported on a group"},
		{`/a b`, 0, "unterminated regexp"},
		{`-/a`, 1, "unterminated regexp"},
		{`https://example.com/x`, 6, "empty regexp"},
		{`f*:a`, 0, "wildcard in field name"},
		{`f:(a b)`, 2, "a group cannot follow a field name"},
		{`a^-1`, 1, "invalid boost"},
		{`a^x`, 1, "invalid boost"},
		{`a^NaN`, 1, "invalid boost"},
		{`a^Inf`, 1, "invalid boost"},
		{`a^1e3`, 1, "invalid boost"},
		{`a^0`, 1, "invalid boost"},
		{`a^.`, 1, "invalid boost"},
		{`a^` + strings.Repeat("9", 400), 1, "boost 9999999999999999… exceeds the maximum of 10000"},
		{`a^10000.001`, 1, "boost 10000.001 exceeds the maximum of 10000"},
		{`"a b"^20000`, 5, "exceeds the maximum"},
		{`-^2`, 1, `dangling '^'`},
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
		{`"a"(b)`, 3, "unexpected '('"},
		{`"a""b"`, 3, `unexpected '"'`},
		{`"a"\.`, 3, `unexpected '\\'`},
		{`"a"^2,`, 3, "invalid boost"},
		{`"a"~.`, 3, "fuzziness is not supported on a phrase"},
		{`"a".b"`, 5, `unexpected '"'`},
		{`a"b"`, 1, `unexpected '"'`},
		{`a."b"`, 2, `unexpected '"'`},
		{`/a/b`, 3, "unexpected 'b'"},
		{`/a/(b)`, 3, "unexpected '('"},
		{`bird?:x`, 0, "wildcard in field name"},
		{`f:>5?`, 2, "wildcard in range value"},
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
		// Duplicates are merged after counting: the bound is on the query
		// as written.
		{strings.Repeat("a* ", MaxClauses+1), 3 * MaxClauses, "more than 1024 clauses"},
	})
}

// TestParseWithErrors checks that a field list makes text only of what is
// not deliberate syntax: known fields and every other mistake keep their
// positioned errors.
func TestParseWithErrors(t *testing.T) {
	checkErrors(t, fewFields, []errorCase{
		{`title:`, 5, `missing value after "title:"`},
		{`title: x`, 5, `missing value after "title:"`},
		{`(camera.make:)`, 12, `missing value after "camera.make:"`},
		{`title:(`, 6, "a group cannot follow a field name"},
		{`title:(a b)`, 6, "a group cannot follow a field name"},
		{`title:"red`, 6, "unterminated phrase"},
		{`iso:>`, 4, "range without a value"},
		{`iso:>5*`, 4, "wildcard in range value"},
		{`title:/a`, 6, "unterminated regexp"},
		{`says:"hi"`, 5, `unexpected '"' after "says:" ("says" is not a field)`},
		{`says:(a b)`, 5, `unexpected '(' after "says:" ("says" is not a field)`},
		{`12:25"`, 5, `unexpected '"' (separate`},
		{`fruit:a(b)`, 7, "unexpected '('"},
		{`fruit:\`, 6, "trailing backslash"},
		{`(a b`, 0, "unterminated group"},
		{`()`, 0, "empty group"},
		{`"abc`, 0, "unterminated phrase"},
		{`/abc`, 0, "unterminated regexp"},
		{`a AND`, 2, "dangling AND"},
		{`NOT`, 0, "dangling NOT"},
		{`a^x`, 1, "invalid boost"},
		{`12:25^99999`, 5, "exceeds the maximum"},
		{`a~3`, 1, "larger than 2"},
		{"a:\xff", 2, "invalid UTF-8"},
	})
	checkErrors(t, Options{IsField: func(name string) bool { return strings.HasPrefix(name, "ti") }}, []errorCase{
		{`ti*:a`, 0, "wildcard in field name"},
	})
}

// TestMergeDuplicates checks the tree of merged clauses: the first
// occurrence keeps its position and order, and later ones only add to its
// boost.
func TestMergeDuplicates(t *testing.T) {
	cases := []struct {
		in   string
		want *Bool
	}{
		{"b a b^2 -c -c", &Bool{Clauses: []Clause{
			{Should, &Match{Text: "b", Boost: 3, Position: 0}},
			{Should, &Match{Text: "a", Position: 2}},
			{MustNot, &Match{Text: "c", Position: 9}},
		}}},
		{"(x x) y (x^2)", &Bool{Clauses: []Clause{
			{Should, &Bool{Position: 0, Clauses: []Clause{{Should, &Match{Text: "x", Boost: 2, Position: 1}}}}},
			{Should, &Match{Text: "y", Position: 6}},
		}}},
		{strings.Repeat("ma* ", 400), &Bool{Clauses: []Clause{
			{Should, &Prefix{Prefix: "ma", Boost: 400, Position: 0}},
		}}},
		{strings.Repeat("ma* ", MaxClauses), &Bool{Clauses: []Clause{
			{Should, &Prefix{Prefix: "ma", Boost: 1024, Position: 0}},
		}}},
		{strings.Repeat("-man~2 ", 50), &Bool{Clauses: []Clause{
			{MustNot, &Match{Text: "man", Fuzziness: 2, Position: 1}},
		}}},
		{strings.Repeat("a^5000 ", 3), &Bool{Clauses: []Clause{
			{Should, &Match{Text: "a", Boost: MaxBoost, Position: 0}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.in[:min(len(tc.in), 40)], func(t *testing.T) {
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
		opts Options
		want *Bool
	}{
		{"", Options{}, &Bool{}},
		{`+camera.make:canon^2 -"red bus" tag:bu* f:b?s`, Options{}, &Bool{Clauses: []Clause{
			{Must, &Match{Field: "camera.make", Text: "canon", Boost: 2, Position: 1}},
			{MustNot, &Phrase{Text: "red bus", Position: 22}},
			{Should, &Prefix{Field: "tag", Prefix: "bu", Position: 32}},
			{Should, &Wildcard{Field: "f", Pattern: "b?s", Position: 40}},
		}}},
		{`a\*b* kitten~2 /c.t/ *`, Options{}, &Bool{Clauses: []Clause{
			{Should, &Prefix{Prefix: "a*b", Position: 0}},
			{Should, &Match{Text: "kitten", Fuzziness: 2, Position: 6}},
			{Should, &Regexp{Pattern: "c.t", Position: 15}},
			{Should, &MatchAll{Position: 21}},
		}}},
		{`iso:>=100 taken_at:<"2020-01-01"`, Options{}, &Bool{Clauses: []Clause{
			{Should, &Range{Field: "iso", Min: ptr("100"), MinInclusive: true, Position: 0}},
			{Should, &Range{Field: "taken_at", Max: ptr("2020-01-01"), Position: 10}},
		}}},
		{"강아지 +(東京 タワー)", Options{}, &Bool{Clauses: []Clause{
			{Should, &Match{Text: "강아지", Position: 0}},
			{Must, &Bool{Position: 11, Clauses: []Clause{
				{Should, &Match{Text: "東京", Position: 12}},
				{Should, &Match{Text: "タワー", Position: 19}},
			}}},
		}}},
		{`12:25 fruit: "PUB". bird? - x`, fewFields, &Bool{Clauses: []Clause{
			{Should, &Match{Text: "12:25", Position: 0}},
			{Should, &Match{Text: "fruit:", Position: 6}},
			{Should, &Phrase{Text: "PUB", Position: 13}},
			{Should, &Match{Text: ".", Position: 18}},
			{Should, &Match{Text: "bird?", Position: 20}},
			{Should, &Match{Text: "-", Position: 26}},
			{Should, &Match{Text: "x", Position: 28}},
		}}},
		{`title:"a"-b?s? :c +-`, fewFields, &Bool{Clauses: []Clause{
			{Should, &Phrase{Field: "title", Text: "a", Position: 0}},
			{MustNot, &Wildcard{Pattern: "b?s", Position: 10}},
			{Should, &Match{Text: ":c", Position: 15}},
			{Should, &Match{Text: "+-", Position: 18}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			q, err := ParseWith(tc.in, tc.opts)
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

// checkRoundTrip asserts that the rendering of a query parsed with o is at
// most twice as long as the query and, unless it exceeds MaxQueryBytes,
// parses with o to the same tree and renders identically. A merged tree
// must be a fixed point: parsing its rendering merges nothing more.
func checkRoundTrip(t testing.TB, in string, q *Bool, o Options) {
	t.Helper()
	out := q.String()
	if len(out) > 2*len(in) {
		t.Fatalf("input %q (fields=%t) rendered more than twice as long as %q", in, o.IsField != nil, out)
	}
	if len(out) > MaxQueryBytes {
		return
	}
	again, err := ParseWith(out, o)
	if err != nil {
		t.Fatalf("input %q (fields=%t) rendered as %q: %v", in, o.IsField != nil, out, err)
	}
	if s := again.String(); s != out {
		t.Fatalf("input %q (fields=%t) rendered as %q, then as %q", in, o.IsField != nil, out, s)
	}
	if a, b := withoutPositions(q), withoutPositions(again); !reflect.DeepEqual(a, b) {
		t.Fatalf("input %q (fields=%t) rendered as %q parses to a different tree:\n%s\n%s", in, o.IsField != nil, out, dump(a), dump(b))
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
			fmt.Fprintf(&sb, "Range@%d(%s)", r.Position, r)
			return false
		}
		fmt.Fprintf(&sb, "%T@%d(%s)", n, n.Pos(), n)
		return false
	})
	return sb.String()
}

// TestRoundTrip renders every valid query of the tables under both the
// default options and a short field list, and parses the rendering back
// under the same options.
func TestRoundTrip(t *testing.T) {
	for _, o := range []Options{{}, fewFields} {
		for _, tc := range append(parseCases, fieldCases...) {
			q, err := ParseWith(tc.in, o)
			if err != nil {
				continue // "12:25" with every name a field, for one
			}
			checkRoundTrip(t, tc.in, q, o)
		}
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
		{&Match{Text: "12:25"}, `12\:25`},
		{&Match{Text: "-"}, `\-`},
		{&Match{Text: "+-a"}, `\+-a`},
		{&Match{Text: "bird?"}, `bird\?`},
		{&Match{Text: ":)"}, `\:\)`},
		{&Match{Text: "/"}, `\/`},
		{&Bool{Clauses: []Clause{{Should, &Phrase{Text: "PUB"}}, {Should, &Match{Text: "."}}}}, `"PUB" .`},
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
