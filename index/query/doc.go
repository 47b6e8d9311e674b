// Package query parses picdex query strings into a syntax tree.
//
// The package is pure: it knows nothing about bleve, mappings or analysers.
// Parse turns a string into a *Bool of clauses; the index shards translate
// that tree into engine queries, and the API layer only ever passes strings
// or trees along. Every node renders back to query syntax with String, and
// Parse(tree.String()) yields an equal tree (positions aside), so trees can
// be logged, cached and forwarded as text.
//
// # Syntax
//
// The syntax is bleve's query string syntax, which users already know,
// plus Lucene-style parentheses and AND, OR, NOT.
//
// A query is a list of clauses separated by whitespace (any Unicode space,
// including the ideographic space U+3000). An empty or blank query has no
// clauses; executors treat it as "match everything".
//
//	bus                  word: Match on the default fields
//	"red bus"            phrase: Phrase on the default fields
//	camera.make:canon    field: Match on field camera.make (names may hold dots)
//	title:"red bus"      Phrase on a field
//	bu*  tag:bu*         Prefix: a word ending in one '*' and no other wildcard
//	b?s*  *bus  b*s      Wildcard: any other word with an unescaped '*' or '?'
//	/c[ao]t/  f:/a.+/    Regexp: a regular expression between slashes
//	iso:>100  iso:>=100  Range with a lower bound (exclusive, inclusive)
//	iso:<9  iso:<=9      Range with an upper bound
//	taken_at:>="2020-01-01"
//	                     a range value may be quoted
//	*                    MatchAll
//	f:*                  Prefix with an empty prefix: any term in field f
//
// Range values are strings; the executor decides from the field whether they
// are numbers or dates. Field names are literal text: they cannot hold an
// unescaped wildcard and cannot be empty. A range has one bound: write a closed interval as
// two required clauses, +iso:>=100 +iso:<800. Wildcards are not allowed in a
// range value, and a field cannot be followed by a group: f:(a b) is an
// error.
//
// # Occurrence
//
// A clause is SHOULD by default: it adds to the score, and a Bool with no
// MUST clause needs one SHOULD clause to match. A '+' right before a clause
// makes it MUST, a '-' makes it MUST NOT:
//
//	+camera.make:canon -tag:night sunset
//
// The prefix applies to every kind of clause, groups included, and is
// followed by the clause without any space.
//
// # Groups and operators
//
// Parentheses group clauses into a nested Bool: +(red blue) bus requires
// red or blue, and scores bus. Groups nest at most MaxDepth deep and must
// not be empty.
//
// The upper-case words AND, OR and NOT are operators when they stand alone
// (followed by whitespace, a parenthesis or the end of the query) and are
// not preceded by '+' or '-'. They follow Lucene's precedence-free rule and
// only change the occurrence of the clauses next to them:
//
//   - a AND b makes the clause before and the clause after MUST, unless
//     that clause is MUST NOT.
//   - a OR b makes the clause before SHOULD, unless it is MUST NOT; the
//     clause after keeps its own occurrence (SHOULD unless prefixed).
//   - NOT a makes the next clause MUST NOT; it cannot be combined with a
//     '+' or '-' on that clause.
//
// So "a AND b" is "+a +b", "a OR b" is "a b", "a AND NOT b" is "+a -b",
// and, because there is no precedence, "a AND b OR c" is "+a b c". Use
// parentheses to say what you mean: "(a AND b) OR c". An operator with no
// clause on one of its sides is an error. Lower-case and, or, not and words
// like ANDROID are ordinary words; so is an operator written as \AND, +AND
// or field:AND.
//
// # Boost and fuzziness
//
// A suffix ^N boosts a word, phrase, prefix, wildcard, regexp, range or
// field clause: bus^2, "red bus"^1.5, title:bus^.5. N is a positive plain
// decimal (digits and one '.'); a negative, zero, NaN, infinite or
// exponent-form boost is an error. Groups and "*" cannot be boosted.
//
// A suffix ~ or ~N makes a word fuzzy, matching terms up to N edits away:
// kitten~ is kitten~1; N is 0, 1 or 2. Only single words (with or without
// a field) take fuzziness; phrases, prefixes, wildcards, regexps and ranges
// do not. Both suffixes may be combined in either order: bus~1^2.
//
// # Escaping
//
// A backslash makes the next character literal, whatever it is. It is
// needed for characters that would otherwise mean something:
//
//	whitespace ( ) " ^ ~ \      anywhere in a word
//	:                           in a word before the field colon
//	* ?                         to match a literal star or question mark
//	+ - /                       at the start of a clause
//	/ > <                       at the start of a value after field:
//	=                           at the start of a value after field:> or field:<
//
// Escaping any other character, such as bleve's reserved = & | ! { } [ ],
// is allowed and has no effect. Inside a word, '+', '-', '/', '>', '<' and
// '=' are ordinary characters (e-mail, AC/DC), and so is ':' inside a field
// value (url:https://example.org). Clauses must be separated by whitespace:
// a"b", a(b) and "a"b are errors unless the special character is escaped.
//
// Inside a phrase a backslash escapes '"' and '\' (and makes any other
// character literal). Inside a regexp only \/ is unescaped, to a '/'; every
// other backslash sequence, such as \d, is passed to the regexp engine.
//
// # Tree
//
// Parse returns a *Bool holding Clauses; every Clause has an Occur and a
// Node: *Bool, *Match, *Phrase, *Prefix, *Wildcard, *Regexp, *Range or
// *MatchAll. Field "" means the default fields and Boost 0 means no boost.
// Wildcard patterns keep a literal '*', '?' or '\' escaped; all other text
// has its escapes resolved. Each node's Pos is its byte offset in the
// query. Walk visits a tree in pre-order.
//
// # Errors and limits
//
// Parse returns a *ParseError carrying the byte offset of the problem; it
// unwraps to ErrSyntax. Queries longer than MaxQueryBytes, nested deeper
// than MaxDepth, holding more than MaxClauses clauses (groups count) or
// containing invalid UTF-8 are rejected, so one request costs bounded work.
package query
