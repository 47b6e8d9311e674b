package web

import (
	"bufio"
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/picdex/picdex/crawler/page"
)

// maxRobotsBytes is how much of a robots.txt is read; RFC 9309 asks
// crawlers to parse at least 500 KiB.
const maxRobotsBytes = 512 << 10

// robots is one host's robots.txt as it applies to our user agent.
type robots struct {
	rules []robotsRule
	delay time.Duration // Crawl-delay, 0 when absent
	// all is set when every path is allowed (no file) or disallowed
	// (the server failed), whatever the rules say.
	all *bool
	// err is why the file could not be read, when it could not.
	err error
}

type robotsRule struct {
	allow   bool
	pattern string // path pattern: '*' any run, trailing '$' end of path
}

var (
	allowAll    = true
	disallowAll = false
)

// robotsAllowAll applies when a host has no robots.txt (4xx).
func robotsAllowAll() *robots { return &robots{all: &allowAll} }

// robotsDisallowAll applies while a host's robots.txt cannot be read
// (5xx, network error): RFC 9309 says to assume complete disallow.
func robotsDisallowAll() *robots { return &robots{all: &disallowAll} }

// parseRobots reads the groups of a robots.txt that apply to agent (the
// product token of our User-Agent, matched case-insensitively), falling
// back to the '*' group. Several groups for the same agent are merged.
// Lines it cannot make sense of are ignored, as the RFC asks.
func parseRobots(body []byte, agent string) *robots {
	if len(body) > maxRobotsBytes {
		body = body[:maxRobotsBytes]
	}
	agent = strings.ToLower(agent)
	var mine, star robots
	var haveMine, haveStar bool
	// The agents of the group being read, and whether the previous line
	// was a user-agent line (consecutive ones share a group).
	var forMine, forStar, inAgents bool
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxRobotsBytes)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		switch key {
		case "user-agent":
			if !inAgents {
				forMine, forStar = false, false
			}
			inAgents = true
			ua := strings.ToLower(value)
			if ua == "*" {
				forStar, haveStar = true, true
			} else if ua != "" && ua == agent {
				forMine, haveMine = true, true
			}
			continue
		case "allow", "disallow":
			if value == "" {
				// "Disallow:" with nothing means nothing is disallowed.
				break
			}
			r := robotsRule{allow: key == "allow", pattern: page.NormalizeEscapes(value)}
			if forMine {
				mine.rules = append(mine.rules, r)
			}
			if forStar {
				star.rules = append(star.rules, r)
			}
		case "crawl-delay":
			if d, err := strconv.ParseFloat(value, 64); err == nil && d > 0 && d < 1e6 {
				delay := time.Duration(d * float64(time.Second))
				if forMine {
					mine.delay = delay
				}
				if forStar {
					star.delay = delay
				}
			}
		}
		inAgents = false
	}
	switch {
	case haveMine:
		return &mine
	case haveStar:
		return &star
	}
	return robotsAllowAll()
}

// allowed reports whether u's path (with its query) may be fetched: the
// longest matching rule wins, allow on a tie; no match allows.
func (r *robots) allowed(u *url.URL) bool {
	if r.all != nil {
		return *r.all
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if path == "/robots.txt" {
		return true
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	path = page.NormalizeEscapes(path)
	best, allow := -1, true
	for _, rule := range r.rules {
		if !robotsMatch(rule.pattern, path) {
			continue
		}
		n := len(rule.pattern)
		if n > best || (n == best && rule.allow) {
			best, allow = n, rule.allow
		}
	}
	return allow
}

// robotsMatch matches path against pattern, where '*' matches any run of
// characters and a trailing '$' anchors the end. Without '$' a pattern is
// a prefix. Segments between stars are matched greedily left to right,
// which is exact for this kind of pattern and linear in the path.
func robotsMatch(pattern, path string) bool {
	anchored := strings.HasSuffix(pattern, "$")
	if anchored {
		pattern = pattern[:len(pattern)-1]
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(path, parts[0]) {
		return false
	}
	rest := path[len(parts[0]):]
	if len(parts) == 1 {
		return !anchored || rest == ""
	}
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	last := parts[len(parts)-1]
	if anchored {
		return strings.HasSuffix(rest, last)
	}
	return strings.Contains(rest, last)
}
