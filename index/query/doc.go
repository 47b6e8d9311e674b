// Package query parses picdex query strings into a syntax tree.
//
// The package is pure: it knows nothing about bleve, mappings or analysers.
// Parse turns a string into a *Bool of clauses; ParseWith does the same
// with Options, of which Options.IsField tells the parser which names are
// fields of the caller's schema. The index shards translate the tree into
// engine queries, and the API layer only ever passes strings or trees
// along. Every node renders back to query syntax with String, and parsing
// that rendering with the same Options yields an equal tree (positions
// aside), so trees can be logged, cached and forwarded as text.
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
// are numbers or dates. Field names are literal text and cannot hold an
// unescaped wildcard (with a field list, such a word is text; see below).
// A range has one bound: write a closed interval as two
// required clauses, +iso:>=100 +iso:<800. Wildcards are not allowed in a
// range value (a trailing '?' included), and a field cannot be followed by a
// group: f:(a b) is an error.
//
// # Text that looks like syntax
//
// A caption or a sentence pasted into the search box searches: characters
// that are not deliberate syntax are text. Deliberate syntax with a mistake
// in it, such as title:( or an unterminated group, is still an error.
//
//   - A word followed by a colon is a field only if Options.IsField says
//     so (with Parse, or a nil IsField, every word is). Otherwise the colon
//     and the rest of the word, further colons included, are text:
//     12:25, fruit: and https://example.org/a are single words. A word
//     ending in such a colon cannot be followed directly by a quote or a
//     parenthesis: says:"hi" and says:(a) are errors that name the
//     unknown field.
//   - A clause that starts with a colon is text: :-D is one word.
//   - A '+' or '-' is a prefix only when a clause follows it directly.
//     Followed by whitespace, ')', the end of the query or another '+' or
//     '-', it starts an ordinary word: in "toys - a bull" the '-' is a
//     word, and so are +, +-a and --.
//   - A '/' followed by whitespace, ')' or the end of the query is a word,
//     not the start of a regexp: "red / blue".
//   - Right after the closing quote of a phrase or of a quoted range value,
//     the closing slash of a regexp and the closing parenthesis of a group,
//     a punctuation or symbol character other than ( " \ starts the next
//     clause without whitespace: says "PUB". is the phrase PUB and the
//     word ".", "W 122 St.", "Broadway" is two phrases and two commas, and
//     in "a cat (black), sitting" the comma is a word. That character is
//     read as the start of any clause, so "a"-b is "a" -b and in "a"/"b"
//     the slash opens a regexp that is never closed, an error. A ^ or ~
//     right after the quote is still a boost or fuzziness suffix.
//   - Unescaped '?'s at the end of a word are the punctuation of a question,
//     not wildcards: bird? is the word "bird?" (the analyser drops the
//     '?'), and a word of nothing but '?'s is a word too. A prefix or
//     wildcard pattern leaves them out: b?s? is the wildcard b?s, bu*? is
//     the prefix bu and *? is "*". To match exactly one more character at
//     the end of a word, use a regexp, /bir./, or put the '?' before a
//     '*' or another character: bir?* matches one character or more.
//
// Words that consist only of punctuation ("-", ".", "?") analyse to no
// terms; the executor decides what they match.
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
// decimal (digits and one '.') of at most MaxBoost; a negative, zero, NaN,
// larger or exponent-form boost is an error. Groups and "*" cannot be
// boosted.
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
//	+ - /                       at the start of a clause, when they would
//	                            otherwise be a prefix or open a regexp
//	/ > <                       at the start of a value after field:
//	=                           at the start of a value after field:> or field:<
//
// Escaping any other character, such as bleve's reserved = & | ! { } [ ],
// is allowed and has no effect. Inside a word, '+', '-', '/', '>', '<' and
// '=' are ordinary characters (e-mail, AC/DC), and so is ':' inside a field
// value (url:https://example.org) and after a word that is no field.
// Clauses are separated by whitespace; the only exception is the
// punctuation that may follow a closing quote, slash or parenthesis (see
// above). So a"b", a(b), "a"b, "a"(b) and /a/b are errors unless the
// special character is escaped.
//
// Inside a phrase a backslash escapes '"' and '\' (and makes any other
// character literal). Inside a regexp only \/ is unescaped, to a '/'; every
// other backslash sequence, such as \d, is passed to the regexp engine.
//
// # Duplicate clauses
//
// Clauses of one Bool (the query, or a group) that have the same occurrence
// and are the same clause apart from their boost are merged into the first
// of them, at its position. A repeated SHOULD or MUST word, phrase, prefix,
// wildcard, regexp or range keeps its weight: its boost is the sum of the
// boosts written (no boost counts as 1), at most MaxBoost, so "bus bus" is
// bus^2 and "a^.5 a" is a^1.5. A repeated MUST NOT clause, group or "*" is
// kept once. Groups are compared after their own duplicates are merged, so
// (a a) and (a^2) are the same group. MaxClauses counts the clauses as
// written, before merging.
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
//
// A rendering escapes what the query could leave bare (12:25 with a field
// list that lacks 12 renders as 12\:25, bird? as bird\?) and separates every
// clause by a space, so it can be longer than the query, at most twice as
// long. The rendering of a query close to MaxQueryBytes can therefore
// exceed it; within the limit it parses back to an equal tree.
package query
