package page

import (
	"strconv"
	"strings"
)

// candidate is one entry of a srcset.
type candidate struct {
	url   string
	width float64 // "w" descriptor, 0 when absent
	dens  float64 // "x" descriptor, 1 when absent
}

// largest returns the srcset's candidate for the biggest screen; empty
// when it has none.
func largest(srcset string) string { return pickLargest(parseSrcset(srcset)) }

// parseSrcset follows the HTML standard's srcset grammar: a URL runs to
// whitespace (trailing commas end the candidate), then descriptors run to
// a comma outside parentheses. Candidates with bad descriptors are
// dropped, as browsers do. At most maxCandidates are read.
func parseSrcset(s string) []candidate {
	const maxCandidates = 64
	var out []candidate
	i := 0
	for i < len(s) && len(out) < maxCandidates {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		start := i
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		u := s[start:i]
		if u == "" {
			break
		}
		c := candidate{url: strings.TrimRight(u, ","), dens: 1}
		if strings.HasSuffix(u, ",") {
			if c.url != "" {
				out = append(out, c)
			}
			continue
		}
		// Descriptors, up to a comma outside parentheses.
		dstart, depth := i, 0
		for i < len(s) {
			if s[i] == '(' {
				depth++
			} else if s[i] == ')' && depth > 0 {
				depth--
			} else if s[i] == ',' && depth == 0 {
				break
			}
			i++
		}
		if descriptors(s[dstart:i], &c) {
			out = append(out, c)
		}
		if i < len(s) {
			i++ // the comma
		}
	}
	return out
}

func descriptors(d string, c *candidate) bool {
	for _, f := range strings.Fields(d) {
		if len(f) < 2 {
			return false
		}
		v, err := strconv.ParseFloat(f[:len(f)-1], 64)
		if err != nil || v <= 0 || v > 1e6 {
			return false
		}
		switch f[len(f)-1] {
		case 'w':
			c.width = v
		case 'x':
			c.dens = v
		case 'h':
		default:
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
