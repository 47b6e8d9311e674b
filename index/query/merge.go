package query

import "strconv"

// mergeDuplicates folds repeated clauses of one Bool into their first
// occurrence, so that a query repeating a costly clause ("ma*" four hundred
// times) costs the executor one clause. Two clauses are duplicates when they
// have the same Occur and render alike once their boosts are set aside.
//
// A repeated SHOULD or MUST clause that takes a boost keeps the weight of
// its repetitions as the sum of their boosts (no boost counts as 1), so
// "bus bus" scores as "bus^2" did when each clause was scored on its own.
// A MUST NOT clause excludes the same documents however often it is
// written, and groups and "*" have no boost: their repetitions are dropped.
//
// The Bools below are merged before this one (parseBool returns them
// merged), so two groups that differ only by duplicates inside compare
// equal here. The result is its own fixed point: merging a merged list
// changes nothing, which keeps Parse(tree.String()) equal to tree.
func mergeDuplicates(cs []Clause) []Clause {
	if len(cs) < 2 {
		return cs
	}
	first := make(map[string]int, len(cs))
	out := cs[:0]
	for _, c := range cs {
		key := clauseKey(c)
		i, dup := first[key]
		if !dup {
			first[key] = len(out)
			out = append(out, c)
			continue
		}
		if kept, b := boostOf(out[i].Node), boostOf(c.Node); kept != nil && b != nil && c.Occur != MustNot {
			*kept = sumBoosts(*kept, *b)
		}
	}
	return out
}

// clauseKey is the same for two clauses exactly when they are duplicates:
// their occurrence and their rendering as a clause with the boost set
// aside. A group is keyed with its parentheses, which its String leaves
// out, so that the group (a) is not taken for the word a.
func clauseKey(c Clause) string {
	n := c.Node
	if _, group := n.(*Bool); group {
		return c.Occur.String() + "\x00(" + n.String() + ")"
	}
	b := boostOf(n)
	if b == nil {
		return c.Occur.String() + "\x00" + n.String()
	}
	saved := *b
	*b = 0
	s := n.String()
	*b = saved
	return c.Occur.String() + "\x00" + s
}

// sumBoosts adds two boosts, reading "no boost" as 1, and caps the sum at
// MaxBoost. The sum is rounded to 15 significant digits, which removes the
// binary noise of adding decimals: .1 and .2 make .3, not
// .30000000000000004, so the merged boost renders as a person would write
// it.
func sumBoosts(a, b float64) float64 {
	if a == 0 {
		a = 1
	}
	if b == 0 {
		b = 1
	}
	sum, _ := strconv.ParseFloat(strconv.FormatFloat(a+b, 'g', 15, 64), 64)
	return min(sum, MaxBoost)
}
