package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned for a connection to an address a crawl
// must not reach by default: loopback, private, link-local and the like.
var ErrForbiddenAddress = errors.New("address not allowed")

// Ranges a public crawl never connects to besides what netip classifies:
// "this network", carrier-grade NAT, IETF protocol assignments, the
// documentation and benchmarking nets, and the reserved class E.
var extraForbidden = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicAddress reports whether a may be connected to by a crawl that
// does not allow private addresses.
func publicAddress(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() ||
		a.IsUnspecified() {
		return false
	}
	for _, p := range extraForbidden {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// guardedDialer returns a dial function that checks the address each
// connection actually goes to, after name resolution. Checking there, and
// not on the URL's host name, also covers redirects, DNS names that
// resolve to internal addresses and DNS rebinding.
func guardedDialer(d *net.Dialer, allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if allowPrivate {
		return d.DialContext
	}
	guarded := *d
	guarded.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		if !publicAddress(ap.Addr()) {
			return fmt.Errorf("%w: %s is not a public address (use --allow-private to crawl it)", ErrForbiddenAddress, ap.Addr())
		}
		return nil
	}
	return guarded.DialContext
}
