package e2e

// What the mirror holds after a pass on the seed (bed_topology_test.go):
// per-address rules, and each link's table holding main's routes through
// it (IPv4 and IPv6, multipath shares, null routes, container bridges,
// linkdown routes skipped), old tables cleared.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// 1. The point of it all: a reply from em2's address leaves by em2.
func TestSymmetricReplies(t *testing.T) {
	t.Parallel()
	s := newSeed(t, true)
	h := s.host
	t1, t2 := h.tables()

	mustPing(t, s.client, "", "10.0.0.2")
	// The reply from 192.168.0.2 follows main's lowest default, out of
	// em1, and R1's strict rp_filter drops it.
	mustNotPing(t, s.client, "", "192.168.0.2")

	h.pass()

	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		{"ip -6 rule", rulesOf(h, "6"), defaultRules6},
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), seedMirror1},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), seedMirror2},
		// Only link-local IPv6 addresses: no IPv6 rule, so no copy of
		// fe80::/64 either.
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), nil},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), nil},
		{"ip -4 route show table main", tableOf(h, "4", "main"), plus(seedTable1, seedTable2...)},
	})
	mustPing(t, s.client, "", "10.0.0.2")
	mustPing(t, s.client, "", "192.168.0.2")
	assertInSync(t, h)
}

// 7. IPv6: each table gets its share of main's multipath default.
func TestIPv6(t *testing.T) {
	t.Parallel()
	h, t1, t2 := newSeedHost(t)
	h.ips(seedIPv6...)
	h.ips(seedIPv6Default...)
	wantMain := "default metric 1024 pref medium nexthop via fe80::1 dev em1 weight 1 nexthop via fe80::1 dev em2 weight 1"
	if main := h.routes("6", "main"); !contains(main, wantMain) {
		t.Fatalf("setup: the kernel did not merge the IPv6 defaults into %q; main is:\n%s", wantMain, strings.Join(main, "\n"))
	}
	h.pass()
	checkReadbacks(t, []readback{
		{"ip -6 rule", rulesOf(h, "6"), []string{
			"0: from all lookup local",
			ruleLine("2001:db8:1::2", t1),
			ruleLine("2001:db8:2::2", t2),
			oifRuleLine("em1", t1),
			oifRuleLine("em2", t2),
			"32766: from all lookup main",
		}},
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		// Of fe80::/64, each table has its own link's only: for the
		// sockets its oif rule sends there.
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), []string{
			"2001:db8:1::/64 dev em1 proto kernel metric 256 pref medium",
			linkLocal6("em1"),
			"default via fe80::1 dev em1 metric 1024 pref medium",
			"throw 2001:db8:2::/64 dev lo proto 234 metric 256 pref medium",
		}},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{
			"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium",
			linkLocal6("em2"),
			"default via fe80::1 dev em2 metric 1024 pref medium",
			"throw 2001:db8:1::/64 dev lo proto 234 metric 256 pref medium",
		}},
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), seedMirror1},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), seedMirror2},
	})
	assertInSync(t, h)
}

// 8. An IPv4 multipath route gives each table its own nexthop.
func TestIPv4Multipath(t *testing.T) {
	t.Parallel()
	h, t1, t2 := newSeedHost(t)
	h.ip("route", "add", "172.16.0.0/12", "nexthop", "via", "10.0.0.1", "dev", "em1", "nexthop", "via", "192.168.0.1", "dev", "em2")
	h.pass()
	checkReadbacks(t, []readback{
		{"table " + t1, tableOf(h, "4", t1), plus(seedMirror1, "172.16.0.0/12 via 10.0.0.1 dev em1")},
		{"table " + t2, tableOf(h, "4", t2), plus(seedMirror2, "172.16.0.0/12 via 192.168.0.1 dev em2")},
	})
	assertInSync(t, h)
}

// 9. Null routes in main hold for every source address.
func TestNullRoutesInEveryTable(t *testing.T) {
	t.Parallel()
	h, t1, t2 := newSeedHost(t)
	h.ips(seedIPv6...)
	h.ips(
		"route add blackhole 10.99.0.0/16",
		"-6 route add unreachable 2001:db8:dead::/48",
	)
	h.pass()
	const unreach = "unreachable 2001:db8:dead::/48 dev lo metric 1024 pref medium"
	checkReadbacks(t, []readback{
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), plus(seedMirror1, "blackhole 10.99.0.0/16")},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), plus(seedMirror2, "blackhole 10.99.0.0/16")},
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), []string{"2001:db8:1::/64 dev em1 proto kernel metric 256 pref medium", linkLocal6("em1"), unreach, "throw 2001:db8:2::/64 dev lo proto 234 metric 256 pref medium"}},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium", linkLocal6("em2"), unreach, "throw 2001:db8:1::/64 dev lo proto 234 metric 256 pref medium"}},
	})
	assertInSync(t, h)
}

// 10. An excluded container bridge gets no table, and its route goes into
// every managed table, so the host reaches containers from every address.
func TestContainerBridge(t *testing.T) {
	t.Parallel()
	h, t1, t2 := newSeedHost(t)
	c := h.sibling("container")
	h.ips(
		"link add docker0 type bridge",
		"addr add 172.17.0.1/16 dev docker0",
		"link set docker0 up",
	)
	veth(t, h, "vethc0", "", c, "eth0", "172.17.0.2/16")
	h.ip("link", "set", "vethc0", "master", "docker0")
	c.ip("route", "add", "default", "via", "172.17.0.1", "dev", "eth0")
	const bridgeRoute = "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"
	eventually(t, "docker0's route is up in main", func() error {
		if main := h.routes("4", "main"); !contains(main, bridgeRoute) {
			return fmt.Errorf("main is %q", main)
		}
		return nil
	})
	tDocker, tVeth := h.table("docker0"), h.table("vethc0")

	h.pass()
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		{"table " + t1, tableOf(h, "4", t1), plus(seedMirror1, bridgeRoute)},
		{"table " + t2, tableOf(h, "4", t2), plus(seedMirror2, bridgeRoute)},
		{"table " + tDocker + " (docker0)", tableOf(h, "4", tDocker), nil},
		{"table " + tVeth + " (vethc0)", tableOf(h, "4", tVeth), nil},
		{"ip -6 table " + tDocker + " (docker0)", tableOf(h, "6", tDocker), nil},
	})
	assertInSync(t, h)

	for _, src := range []string{"192.168.0.2", "10.0.0.2"} {
		// The policy route is the one in use.
		if out := h.ip("route", "get", "172.17.0.2", "from", src); !strings.Contains(out, "dev docker0") {
			t.Errorf("ip route get 172.17.0.2 from %s: want dev docker0, got %q", src, out)
		}
		mustPing(t, h, src, "172.17.0.2")
	}
}

// 11. A route through a link whose carrier is down is skipped, not an
// error, and mirrored once the link comes up.
func TestLinkdownSkipped(t *testing.T) {
	t.Parallel()
	h, t1, t2 := newSeedHost(t)
	r3 := h.sibling("r3")
	h.ip("link", "add", "em3", "type", "veth", "peer", "name", "up0", "netns", r3.Name)
	h.ips("addr add 10.3.0.2/24 dev em3", "link set em3 up")
	h.ip("route", "add", "10.33.0.0/16", "via", "10.3.0.1", "dev", "em3")
	t3 := h.table("em3")
	eventually(t, "em3's routes flagged linkdown in main", func() error {
		main := h.routes("4", "main")
		if !contains(main, "10.3.0.0/24 dev em3 proto kernel scope link src 10.3.0.2 linkdown") ||
			!contains(main, "10.33.0.0/16 via 10.3.0.1 dev em3 linkdown") {
			return fmt.Errorf("main is %q", main)
		}
		return nil
	})

	r := h.symroute("--once")
	if r.code != 0 {
		t.Fatalf("pass with a linkdown route: want exit 0, got %s", r)
	}
	rules := plus(seedRules(t1, t2), ruleLine("10.3.0.2", t3), oifRuleLine("em3", t3))
	const throw3 = "throw 10.3.0.0/24 proto 234"
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), rules},
		// em3's subnet is thrown while its carrier is down too: a
		// throw needs no link, and main keeps the route.
		{"table " + t3 + " (em3, down)", tableOf(h, "4", t3), []string{seedThrow2, seedThrow1}},
		{"table " + t1, tableOf(h, "4", t1), plus(seedMirror1, throw3)},
		{"table " + t2, tableOf(h, "4", t2), plus(seedMirror2, throw3)},
	})
	assertInSync(t, h)

	r3.ip("link", "set", "up0", "up")
	eventually(t, "em3's routes up in main", func() error {
		for _, l := range h.routes("4", "main") {
			if strings.Contains(l, "linkdown") {
				return fmt.Errorf("still %q", l)
			}
		}
		return nil
	})
	h.pass()
	checkReadbacks(t, []readback{
		{"ip -4 rule (em3 up)", rulesOf(h, "4"), rules},
		{"table " + t3 + " (em3 up)", tableOf(h, "4", t3), []string{
			"10.3.0.0/24 dev em3 proto kernel scope link src 10.3.0.2",
			"10.33.0.0/16 via 10.3.0.1 dev em3",
			seedThrow2, seedThrow1,
		}},
	})
}

// Beyond the list: a table one of our rules looks up is ours, and "when the
// pass removes the last of our rules for a table, it also clears what we
// put there" (README, "How it decides") — also when that table is below the table base,
// as after raising --table-base, or for a legacy symrouted rule (always at
// 1000+ifindex) on a host run with another base.
func TestOldTablesClearedWhenBaseRaised(t *testing.T) {
	t.Parallel()

	t.Run("base raised from 1000 to 2000", func(t *testing.T) {
		t.Parallel()
		h := newSeed(t, false).host
		i1, i2 := h.ifindex("em1"), h.ifindex("em2")
		old1, old2 := strconv.Itoa(1000+i1), strconv.Itoa(1000+i2)
		new1, new2 := strconv.Itoa(2000+i1), strconv.Itoa(2000+i2)
		h.pass()
		if r := h.symroute("--once", "--table-base", "2000"); r.code != 0 {
			t.Fatalf("pass with --table-base 2000: want exit 0, got %s", r)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), seedRules(new1, new2)},
			{"table " + new1, tableOf(h, "4", new1), seedMirror1},
			{"table " + new2, tableOf(h, "4", new2), seedMirror2},
			{"old table " + old1 + " (its rule removed: cleared)", tableOf(h, "4", old1), nil},
			{"old table " + old2 + " (its rule removed: cleared)", tableOf(h, "4", old2), nil},
		})
	})

	t.Run("legacy rule under base 2000", func(t *testing.T) {
		t.Parallel()
		h := newSeed(t, false).host
		i1, i2 := h.ifindex("em1"), h.ifindex("em2")
		legacy1 := strconv.Itoa(1000 + i1)
		new1, new2 := strconv.Itoa(2000+i1), strconv.Itoa(2000+i2)
		// What the original symrouted left: no protocol, 1000+ifindex.
		h.ips(
			"rule add from 10.0.0.2 table "+legacy1+" priority 32765",
			"route add 10.0.0.0/16 dev em1 proto kernel scope link src 10.0.0.2 table "+legacy1,
			"route add default via 10.0.0.1 dev em1 metric 105 table "+legacy1,
		)
		if r := h.symroute("--once", "--table-base", "2000"); r.code != 0 {
			t.Fatalf("pass with --table-base 2000: want exit 0, got %s", r)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), seedRules(new1, new2)},
			{"table " + new1, tableOf(h, "4", new1), seedMirror1},
			{"legacy table " + legacy1 + " (its rule replaced: cleared)", tableOf(h, "4", legacy1), nil},
		})
	})
}
