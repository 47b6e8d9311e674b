package web

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestRobots(t *testing.T) {
	const file = `
# comments and blank lines are ignored

User-agent: otherbot
Disallow: /

User-agent: *
Disallow: /private/
Crawl-delay: 7

User-agent: PicDex
User-agent: friend
Disallow: /tmp/
Allow: /tmp/ok
Disallow: /*.pdf$
Disallow: /search*q=
Allow: /a
Disallow: /ab
Disallow: /%7Euser/
nonsense line
Crawl-delay: 1.5

User-agent: picdex
Disallow: /merged/
`
	r := parseRobots([]byte(file), "picdex")
	assert.Equal(t, 1500*time.Millisecond, r.delay)
	for path, want := range map[string]bool{
		"/":                   true,
		"/private/x":          true, // the picdex group replaces '*'
		"/tmp/x":              false,
		"/tmp/ok/fine":        true, // longer allow wins
		"/doc.pdf":            false,
		"/doc.pdf?x=1":        true, // '$' anchors the end
		"/search?q=cats":      false,
		"/search":             true,
		"/abc":                false, // /ab is longer than /a
		"/a":                  true,
		"/merged/x":           false, // groups for one agent merge
		"/~user/page":         false, // %7E and ~ are the same
		"/robots.txt":         true,
		"/%E6%97%A5%E6%9C%AC": true,
	} {
		assert.Equal(t, want, r.allowed(mustURL(t, "https://example.com"+path)), path)
	}

	star := parseRobots([]byte(file), "somebot")
	assert.False(t, star.allowed(mustURL(t, "https://example.com/private/x")))
	assert.Equal(t, 7*time.Second, star.delay)

	assert.True(t, parseRobots(nil, "picdex").allowed(mustURL(t, "https://example.com/x")))
	assert.True(t, robotsAllowAll().allowed(mustURL(t, "https://example.com/x")))
	assert.False(t, robotsDisallowAll().allowed(mustURL(t, "https://example.com/x")))

	// An allow and a disallow of the same length: allow.
	tie := parseRobots([]byte("User-agent: *\nDisallow: /page\nAllow: /page\n"), "picdex")
	assert.True(t, tie.allowed(mustURL(t, "https://example.com/page")))
	// Empty Disallow allows everything.
	empty := parseRobots([]byte("User-agent: *\nDisallow:\n"), "picdex")
	assert.True(t, empty.allowed(mustURL(t, "https://example.com/anything")))
}

func TestRobotsHostileInput(t *testing.T) {
	// Many stars against a long path stay linear.
	pattern := "/" + strings.Repeat("a*", 5000) + "b$"
	r := parseRobots([]byte("User-agent: *\nDisallow: "+pattern+"\n"), "picdex")
	assert.True(t, r.allowed(mustURL(t, "https://example.com/"+strings.Repeat("a", 100000))))
	// Oversized files are read up to the cap, long lines included.
	big := "User-agent: *\nDisallow: /x\n" + strings.Repeat("#", 2*maxRobotsBytes)
	assert.False(t, parseRobots([]byte(big), "picdex").allowed(mustURL(t, "https://example.com/x")))
	// Absurd crawl delays are ignored.
	assert.Zero(t, parseRobots([]byte("User-agent: *\nCrawl-delay: 1e300\n"), "picdex").delay)
	assert.Zero(t, parseRobots([]byte("User-agent: *\nCrawl-delay: -4\n"), "picdex").delay)
}

func FuzzRobots(f *testing.F) {
	f.Add([]byte("User-agent: *\nDisallow: /private/\nAllow: /private/ok$\nCrawl-delay: 2\n"), "/private/ok")
	f.Add([]byte("user-agent: picdex\ndisallow: /*.gif$\n"), "/a.gif")
	f.Add([]byte("User-agent: *\nDisallow: /%7e*\x00\n"), "/~x")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		r := parseRobots(body, "picdex")
		u, err := url.Parse("https://example.com/" + strings.TrimPrefix(path, "/"))
		if err != nil {
			return
		}
		r.allowed(u)
		if r.delay < 0 {
			t.Fatalf("negative delay %v", r.delay)
		}
	})
}

func TestPublicAddress(t *testing.T) {
	for a, want := range map[string]bool{
		"8.8.8.8":              true,
		"2606:4700::1111":      true,
		"127.0.0.1":            false,
		"10.1.2.3":             false,
		"172.16.0.1":           false,
		"192.168.1.1":          false,
		"169.254.169.254":      false, // cloud metadata
		"100.64.0.1":           false,
		"0.0.0.0":              false,
		"::1":                  false,
		"fe80::1":              false,
		"fc00::1":              false,
		"::ffff:127.0.0.1":     false,
		"::ffff:10.0.0.1":      false,
		"224.0.0.1":            false,
		"255.255.255.255":      false,
		"2001:db8::1":          false,
		"::ffff:93.184.216.34": true,
	} {
		assert.Equal(t, want, publicAddress(netip.MustParseAddr(a)), a)
	}
}
