package e2e

import (
	"strings"
	"testing"
)

// remote6 is on R2's loopback in TestDeviceBoundTraffic: reachable only
// through em2's router.
const remote6 = "2001:db8:ffff::1"

// TestDeviceBoundTraffic: sockets bound to a link (ping -I em2, resolved's
// per-link DNS, chrony) are routed by its table, by symroute's "oif LINK"
// rules. em2 has no default in main (never-default, a cloud's second NIC):
// its table's comes from --gateway, in both families, so `ping -I em2
// remote` is answered only with the oif rules. Nothing else changes:
// unbound traffic follows main, and device-bound traffic to em2's subnet,
// to its IPv6 link-local router and to another neighbour on its link (NB,
// a macvlan of R2's up0: what a default would send to the router, which
// never forwards link-local), and multicast and broadcast, go as before.
func TestDeviceBoundTraffic(t *testing.T) {
	t.Parallel()
	s := newUplinks(t)
	h, r2 := s.host, s.r2
	h.ips(
		"addr add 10.0.0.2/16 dev em1",
		"addr add 192.168.0.2/24 dev em2",
		"route add default via 10.0.0.1 dev em1 metric 105",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
	)
	// A remote is no neighbour: R2 answers ARP only for up0's own
	// addresses, not for remote on its lo, which a socket bound to em2
	// with no route would ask for on the link.
	r2.sysctl("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.up0.arp_ignore=1")
	r2.ips(
		"-6 addr add fe80::1/64 dev up0 nodad",
		"-6 addr add 2001:db8:2::1/64 dev up0 nodad",
		"-6 addr add "+remote6+"/128 dev lo",
		"link add nb0 link up0 type macvlan mode bridge",
	)
	nb := h.sibling("nb")
	r2.ip("link", "set", "nb0", "netns", nb.Name)
	nb.ips("-6 addr add fe80::2/64 dev nb0 nodad", "link set nb0 up")
	t1, t2 := h.tables()
	gw := []string{"--gateway", "em2=192.168.0.1", "--gateway", "em2=fe80::1"}
	with := func(args ...string) []string { return append(append([]string{}, args...), gw...) }

	// Without a rule, a socket bound to em2 has main's routes through em2
	// only: the remote is taken for a neighbour, and never answers.
	pingBound(t, h, "em2", remote, false)
	unchanged := func(when string) {
		t.Helper()
		for _, dst := range []string{"192.168.0.1", "fe80::1", "fe80::2"} {
			pingBound(t, h, "em2", dst, true)
		}
		mustPing(t, h, "", remote) // unbound: main's default, by em1
		routeGets(t, h, when)
	}
	unchanged("before a pass")

	if r := h.symroute(with("--once")...); r.code != 0 {
		t.Fatalf("--once %s: %s", strings.Join(gw, " "), r)
	}
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		{"ip -6 rule", rulesOf(h, "6"), plus(defaultRules6, ruleLine("2001:db8:2::2", t2), oifRuleLine("em2", t2))},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), []string{
			"192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2",
			"default via 192.168.0.1 dev em2 proto 234",
			seedThrow2,
		}},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{
			"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium",
			linkLocal6("em2"),
			"default via fe80::1 dev em2 proto 234 metric 1 pref medium",
		}},
	})
	assertInSync(t, h, with()...)
	for _, dst := range []string{remote, remote6} {
		pingBound(t, h, "em2", dst, true)
	}
	pingBound(t, h, "em1", remote, true)
	unchanged("with the oif rules")

	// Off: the rules and the link-local copy go, and with them the way
	// out of a socket bound to em2.
	if r := h.symroute(with("--once", "--oif-rules=false")...); r.code != 0 {
		t.Fatalf("--once --oif-rules=false: %s", r)
	}
	checkReadbacks(t, []readback{
		{"ip -4 rule (oif-rules off)", rulesOf(h, "4"), rulesWith(ruleLine("10.0.0.2", t1), ruleLine("192.168.0.2", t2))},
		{"ip -6 rule (oif-rules off)", rulesOf(h, "6"), plus(defaultRules6, ruleLine("2001:db8:2::2", t2))},
	})
	if got := h.routes("6", t2); contains(got, linkLocal6("em2")) {
		t.Errorf("table %s keeps the copy of fe80::/64 with the option off: %q", t2, got)
	}
	assertInSync(t, h, with("--oif-rules=false")...)
	pingBound(t, h, "em2", remote, false)
	unchanged("with the oif rules off")

	// Back on by --dry-run replayed with sh.
	dry := h.symroute(with("--dry-run")...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "rule add priority 32765 oif em2 table "+t2) {
		t.Fatalf("--dry-run: want exit 0 and em2's oif rule, got %s", dry)
	}
	sh := h.execCmd("sh", "-e", "-x")
	sh.Stdin = strings.NewReader(dry.stdout)
	if r := runResult(t, sh); r.code != 0 {
		t.Fatalf("replaying --dry-run with sh: %s\nplan:\n%s", r, dry.stdout)
	}
	assertInSync(t, h, with()...)
	pingBound(t, h, "em2", remote, true)

	// --flush leaves nothing of ours.
	if r := h.symroute("--flush"); r.code != 0 {
		t.Fatalf("--flush: %s", r)
	}
	checkReadbacks(t, []readback{
		{"ip -4 rule (flushed)", rulesOf(h, "4"), rulesWith()},
		{"ip -6 rule (flushed)", rulesOf(h, "6"), defaultRules6},
		{"ip -4 table " + t2 + " (flushed)", tableOf(h, "4", t2), nil},
		{"ip -6 table " + t2 + " (flushed)", tableOf(h, "6", t2), nil},
	})
}

// routeGets checks the kernel's own choices for flows bound to em2 that
// the oif rules must not change: its link-local neighbours on the link
// itself, never through a router; multicast and broadcast out of em2 with
// no gateway (IPv4 skips the rules for 224.0.0.0/24 and 255.255.255.255,
// finds the broadcast of em2's subnet in local, and sends other groups
// out of the bound link whichever table answers; IPv6 finds its groups in
// local, ahead of every rule); and an unbound IPv4 flow by main. (An
// unbound IPv6 flow main has no route for is given a source address and
// looked up again, by its address rule: not the oif rules' doing.)
func routeGets(t *testing.T, h *ns, when string) {
	t.Helper()
	for _, g := range []struct {
		fam, dst string
		want     []string
	}{
		{"-6", "fe80::2", []string{"fe80::2 ", " dev em2 "}},
		{"-6", "ff02::1", []string{"multicast ff02::1 ", " dev em2 ", " table local "}},
		{"-4", "224.0.0.251", []string{"multicast 224.0.0.251 dev em2 "}},
		{"-4", "239.1.2.3", []string{"multicast 239.1.2.3 dev em2 "}},
		{"-4", "255.255.255.255", []string{"broadcast 255.255.255.255 dev em2 "}},
		{"-4", "192.168.0.255", []string{"broadcast 192.168.0.255 dev em2 "}},
	} {
		out := h.ip(g.fam, "route", "get", g.dst, "oif", "em2")
		for _, w := range g.want {
			if !strings.Contains(out, w) || strings.Contains(out, " via ") {
				t.Errorf("%s: ip %s route get %s oif em2: want %q and no gateway, got %q", when, g.fam, g.dst, w, out)
			}
		}
	}
	if out := h.ip("route", "get", remote); !strings.HasPrefix(out, remote+" via 10.0.0.1 dev em1 ") {
		t.Errorf("%s: ip route get %s (unbound): want main's default by em1, got %q", when, remote, out)
	}
}
