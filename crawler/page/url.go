package page

import (
	"hash/fnv"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
)

// Normalize returns the canonical form of an http(s) URL, or nil for any
// other URL: scheme and host lower-cased, an internationalised host in
// its ASCII (punycode) form, the default port dropped, user info and
// fragment dropped, dot segments removed, an empty path made "/",
// percent-escapes upper-cased and escapes of unreserved characters
// decoded. The query is kept as it is, but an empty "?" goes. Two URLs a
// server must treat as the same resource normalise to the same string.
func Normalize(u *url.URL) *url.URL {
	if u == nil || u.Opaque != "" {
		return nil
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return nil
	}
	if !strings.Contains(host, ":") { // not an IPv6 literal
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return nil
		}
		host = ascii
	} else {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + strings.TrimLeft(port, "0")
	}
	path := NormalizeEscapes(removeDotSegments(u.EscapedPath()))
	if path == "" {
		path = "/"
	}
	n := &url.URL{Scheme: scheme, Host: host, RawQuery: NormalizeEscapes(u.RawQuery)}
	p, err := url.PathUnescape(path)
	if err != nil {
		return nil
	}
	n.Path = p
	if n.EscapedPath() != path {
		n.RawPath = path
	}
	return n
}

// Resolve resolves ref, as written in an attribute of a page whose base is
// base, to a normalised absolute http(s) URL; nil for javascript:, data:,
// mailto: and other schemes, and for what does not parse.
func Resolve(base *url.URL, ref string) *url.URL {
	ref = strings.Trim(ref, " \t\n\f\r")
	if ref == "" || len(ref) > maxURLBytes {
		return nil
	}
	// Browsers drop tabs and newlines anywhere in a URL.
	if strings.ContainsAny(ref, "\t\n\r") {
		ref = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(ref)
	}
	r, err := url.Parse(ref)
	if err != nil {
		return nil
	}
	if base != nil {
		r = base.ResolveReference(r)
	}
	return Normalize(r)
}

// maxURLBytes is the longest URL kept; longer ones are junk or attacks.
const maxURLBytes = 8 << 10

// Fingerprint is a stable 64-bit hash (FNV-1a) of u's normalised form. It
// must not change between versions: crawl state stores it.
func Fingerprint(u *url.URL) uint64 {
	n := Normalize(u)
	if n == nil {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(n.String()))
	return h.Sum64()
}

// removeDotSegments applies RFC 3986 section 5.2.4 to an escaped path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}

// NormalizeEscapes upper-cases the percent-escapes of an escaped URL part
// and decodes those of unreserved characters (RFC 3986 section 6.2.2), so
// that two spellings of one path compare equal.
func NormalizeEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isUnreserved(c) {
				b.WriteByte(c)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(s[i+1 : i+3]))
			}
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
