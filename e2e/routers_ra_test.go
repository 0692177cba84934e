package e2e

// IPv6 router advertisements on a link with accept_ra_defrtr=0: the kernel
// flags the advertising router's neighbour entry but installs no default,
// and a pass gives the link's table one via that router.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// TestWayOutRouterAdvertisement: R2 advertises itself on em2 (dnsmasq,
// enable-ra), whose accept_ra_defrtr is 0; main's IPv6 default is em1's.
// A pass gives em2's IPv6 table "default via R2's link-local dev em2 proto
// 234 metric 1", a TCP exchange from em2's address reaches the remote
// behind R2 (R1 has no route back to em2's prefix), and once the router's
// neighbour entry is gone, so is the default.
func TestWayOutRouterAdvertisement(t *testing.T) {
	t.Parallel()
	s := newUplinks(t)
	testns.RequirePrograms(t, "dnsmasq-base", "dnsmasq")
	h := s.host
	const remote6 = "2001:db8:ff::1"
	h.sysctl("net.ipv6.conf.em2.accept_ra=1", "net.ipv6.conf.em2.accept_ra_defrtr=0", "net.ipv6.conf.em2.accept_ra_pinfo=0")
	h.ips(
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
		"-6 route add default via fe80::1 dev em1",
	)
	s.r1.ips("-6 addr add fe80::1/64 dev up0 nodad", "-6 addr add 2001:db8:1::1/64 dev up0 nodad")
	s.r2.ips("-6 addr add 2001:db8:2::1/64 dev up0 nodad")
	for _, r := range s.routers() {
		r.ips("-6 addr add " + remote6 + "/128 dev lo")
		serveTCP(t, r, "tcp6", hostPort(remote6, 7))
	}
	router := linkLocal(t, s.r2, "up0")
	ra := s.startRA(1, "2001:db8:2::")

	table := h.table("em2")
	want := "default via " + router + " dev em2 proto 234 metric 1"
	waitFor(t, "em2's IPv6 table gets R2's advertised router", daemonTimeout, func() error {
		h.pass()
		if n := h.ip("-6", "neigh", "show", "dev", "em2", router); !strings.Contains(n, " router") {
			return fmt.Errorf("no neighbour entry of %s flagged router yet: %q", router, n)
		}
		if routes := h.routes("6", table); !containsPrefix(routes, want) {
			return fmt.Errorf("table %s: %v, want %q", table, routes, want)
		}
		return nil
	})
	// The kernel took the advertisement, flagged the router and, as told,
	// installed no default through em2.
	for _, r := range h.routes("6", "main") {
		if strings.HasPrefix(r, "default ") && strings.Contains(r, " dev em2 ") {
			t.Fatalf("main holds %q with accept_ra_defrtr=0", r)
		}
	}
	assertInSync(t, h)
	mustTransfer(t, h, hostPort("2001:db8:2::2", 0), hostPort(remote6, 7))
	mustTransfer(t, h, hostPort("2001:db8:1::2", 0), hostPort(remote6, 7))

	ra.stop()
	h.ip("-6", "neigh", "del", router, "dev", "em2")
	h.pass()
	for _, r := range h.routes("6", table) {
		if strings.HasPrefix(r, "default ") {
			t.Errorf("table %s kept %q after the router's entry went", table, r)
		}
	}
	assertInSync(t, h)
}

// linkLocal is link's IPv6 link-local address in n.
func linkLocal(t *testing.T, n *ns, link string) string {
	t.Helper()
	var out string
	waitFor(t, link+"'s link-local address", daemonTimeout, func() error {
		out = n.ip("-6", "-o", "addr", "show", "dev", link, "scope", "link")
		if f := strings.Fields(out); len(f) >= 4 && f[2] == "inet6" {
			out = f[3][:strings.IndexByte(f[3], '/')]
			return nil
		}
		return fmt.Errorf("none yet: %q", out)
	})
	return out
}
