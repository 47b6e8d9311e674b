package index

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func flatOf(n, seed int) flatList {
	var l flatList
	for i := range n {
		l.docs = append(l.docs, uint32(seed+i))
		l.freqs = append(l.freqs, uint32(seed*2+i))
		l.lens = append(l.lens, uint32(seed*3+i))
	}
	return l
}

// TestFlatLists: every list added is found under its own field and term
// and no other, through chains of equal hashes too.
func TestFlatLists(t *testing.T) {
	fl := newFlatLists()
	for i := range 2000 {
		fl.add("caption", fmt.Sprint("t", i), flatOf(i%7, i))
	}
	fl.add("ab", "c", flatOf(1, 1))
	fl.add("a", "bc", flatOf(2, 2))
	for i := range 2000 {
		j := fl.find("caption", fmt.Sprint("t", i))
		require.GreaterOrEqual(t, j, 0)
		want := flatOf(i%7, i)
		got := fl.list(j)
		require.Equal(t, len(want.docs), len(got.docs))
		for k := range want.docs {
			require.Equal(t, want.docs[k], got.docs[k])
			require.Equal(t, want.freqs[k], got.freqs[k])
			require.Equal(t, want.lens[k], got.lens[k])
		}
	}
	require.Equal(t, -1, fl.find("caption", "t2000"))
	require.Equal(t, -1, fl.find("title", "t1"))
	require.Len(t, fl.list(fl.find("ab", "c")).docs, 1)
	require.Len(t, fl.list(fl.find("a", "bc")).docs, 2)

	// Keys that share a hash chain.
	fl = newFlatLists()
	for i := range 5 {
		l := flatOf(i+1, i)
		fl.addHashed(42, "f", fmt.Sprint(i), l.docs, l.freqs, l.lens)
	}
	for i := range 5 {
		j := fl.findHashed(42, "f", fmt.Sprint(i))
		require.GreaterOrEqual(t, j, 0)
		require.Len(t, fl.list(j).docs, i+1)
		require.Equal(t, uint32(i), fl.list(j).docs[0])
	}
	require.Equal(t, -1, fl.findHashed(42, "f", "5"))
}

// TestShortListsStartAfresh: past its budget the cache starts afresh, and
// a list read before stays intact.
func TestShortListsStartAfresh(t *testing.T) {
	var s shortLists
	s.keep("caption", "a", flatOf(3, 10), 10)
	held, ok := s.lookup("caption", "a")
	require.True(t, ok)
	s.keep("caption", "a", flatOf(3, 99), 10) // already kept
	s.keep("caption", "b", flatOf(5, 20), 10)
	s.keep("caption", "c", flatOf(5, 30), 10) // over budget: afresh
	_, ok = s.lookup("caption", "a")
	require.False(t, ok, "dropped when the cache started afresh")
	c, ok := s.lookup("caption", "c")
	require.True(t, ok)
	require.Equal(t, []uint32{30, 31, 32, 33, 34}, c.docs)
	require.Equal(t, []uint32{10, 11, 12}, held.docs)
	require.Equal(t, []uint32{20, 21, 22}, held.freqs)
	require.Equal(t, []uint32{30, 31, 32}, held.lens)
	s.keep("caption", "empty", flatList{}, 10)
	e, ok := s.lookup("caption", "empty")
	require.True(t, ok, "a list the dictionary lacks is kept as empty")
	require.Empty(t, e.docs)
}
