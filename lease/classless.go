package lease

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxClassless bounds a rendering of RFC 3442 classless static routes: far
// above what a DHCP option can carry (255 bytes, a few options at most),
// low enough that a hostile value costs nothing.
const MaxClassless = 4096

// ParseRouter reads one IPv4 router as a client names it: a dotted quad a
// default route can go via (see UsableRouter).
func ParseRouter(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	if !UsableRouter(a) { // IPv4, but not one a route can go via
		return netip.Addr{}, fmt.Errorf("%s is not a unicast address", a)
	}
	return a, nil
}

// FirstRouter is the first of a space-separated list of routers (the
// Router option as dhclient, dhcpcd, NetworkManager and systemd-networkd
// render it); ok is false for an empty list. Every router must parse: a
// list with one that does not is not trusted at all.
func FirstRouter(list string) (r netip.Addr, ok bool, err error) {
	if len(list) > MaxClassless {
		return r, false, errors.New("too long")
	}
	f := strings.Fields(list)
	for i, s := range f {
		a, err := ParseRouter(s)
		if err != nil {
			return netip.Addr{}, false, err
		}
		if i == 0 {
			r = a
		}
	}
	return r, len(f) > 0, nil
}

// ClasslessDefault finds the router of the default route among RFC 3442
// classless static routes, in any of the renderings the clients use:
//
//	dhclient (and NetworkManager run with it): decimal bytes, each route a
//	    prefix length, the destination's significant octets and the
//	    router: "0 192 168 0 1 16 10 9 192 168 0 7"
//	dhcpcd and NetworkManager's internal client: "DEST/LEN ROUTER" pairs:
//	    "0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7"
//	systemd-networkd's lease file: "DEST/LEN,ROUTER" words:
//	    "0.0.0.0/0,192.168.0.1 10.9.0.0/16,192.168.0.7"
//
// ok is false when there is no default, or when it is on the link itself
// (router 0.0.0.0): no router then. Every route must parse.
func ClasslessDefault(s string) (netip.Addr, bool, error) {
	if len(s) > MaxClassless {
		return netip.Addr{}, false, errors.New("too long")
	}
	var routes [][2]string
	switch {
	case strings.Contains(s, ","):
		for _, w := range strings.Fields(s) {
			dst, gw, _ := strings.Cut(w, ",")
			routes = append(routes, [2]string{dst, gw})
		}
	case strings.Contains(s, "/"):
		f := strings.Fields(s)
		if len(f)%2 != 0 {
			return netip.Addr{}, false, errors.New("not a list of destination and router pairs")
		}
		for i := 0; i < len(f); i += 2 {
			routes = append(routes, [2]string{f[i], f[i+1]})
		}
	default:
		return rfc3442Bytes(s)
	}
	return defaultOfPairs(routes)
}

// defaultOfPairs is the router of the first default route of routes
// (destination prefix, router).
func defaultOfPairs(routes [][2]string) (netip.Addr, bool, error) {
	var def netip.Addr
	found := false
	for _, r := range routes {
		dst, err := netip.ParsePrefix(r[0])
		if err != nil || !dst.Addr().Is4() {
			return netip.Addr{}, false, fmt.Errorf("%q is not an IPv4 destination", r[0])
		}
		gw, err := netip.ParseAddr(r[1])
		if err != nil || !gw.Is4() {
			return netip.Addr{}, false, fmt.Errorf("%q is not an IPv4 address", r[1])
		}
		if dst.Bits() != 0 || found {
			continue
		}
		found = true
		if def, err = onLinkOrRouter(gw); err != nil {
			return netip.Addr{}, false, err
		}
	}
	return def, def.IsValid(), nil
}

// onLinkOrRouter is gw as a classless route's router: none (the zero
// Addr) for 0.0.0.0, a route on the link itself.
func onLinkOrRouter(gw netip.Addr) (netip.Addr, error) {
	if gw.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return ParseRouter(gw.String())
}

// rfc3442Bytes reads dhclient's rendering of option 121.
func rfc3442Bytes(s string) (netip.Addr, bool, error) {
	var b []byte
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return netip.Addr{}, false, errors.New("not a list of bytes")
		}
		b = append(b, byte(n))
	}
	var def netip.Addr
	found := false
	for len(b) > 0 {
		width := int(b[0])
		if width > 32 {
			return netip.Addr{}, false, errors.New("prefix length over 32")
		}
		n := 1 + (width+7)/8 + 4
		if len(b) < n {
			return netip.Addr{}, false, errors.New("truncated")
		}
		if width == 0 && !found {
			found = true
			var err error
			if def, err = onLinkOrRouter(netip.AddrFrom4([4]byte(b[n-4 : n]))); err != nil {
				return netip.Addr{}, false, err
			}
		}
		b = b[n:]
	}
	return def, def.IsValid(), nil
}
