package plan

import (
	"strings"
	"testing"
)

// Deletes touch only what they name: a rule of ours of any shape goes,
// and is never taken for a wanted rule that shares its source, priority
// and table.
func TestComputeRulesOfOtherShapes(t *testing.T) {
	runCompute(t, []computeCase{
		{
			name: "a rule of ours with selectors or an action we do not write is deleted, the wanted one added",
			state: func() *State {
				st := seedSynced()
				// em1's rule with an oif; em2's a blackhole; and an oif
				// rule beside the wanted one, with a selector more. The
				// rules with other selectors go first: the kernel may
				// refuse a wanted rule as existing while they are there.
				em1 := fromRule(st, "10.0.0.2/32")
				em1.Other, em1.Selectors, em1.Raw = true, "oif em1", "raw"
				fromRule(st, "192.168.0.2/32").Action = ruleActionBlackhole
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Table: 1003, Action: RuleActionLookup,
					Protocol: Protocol, Other: true, Selectors: "oif em2 ipproto 6", Raw: "raw"})
				return st
			},
			want: []string{
				"ip -4 rule del priority 32765 from 10.0.0.2/32 oif em1 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32765 oif em2 ipproto 6 unicast table 1003 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 blackhole table 1003 protocol 234",
			},
		},
	})
}

// A route the snapshot read without its down nexthops (FlagHopsDropped) is
// what the kernel holds as far as a copy goes: the bit makes no wanted
// copy differ from the kernel's, which never carries it. But it is no
// Copy of main's either: a Copy is deleted in main's form, and main's
// form names no nexthop where the copy's names them all.
func TestHopsDropped(t *testing.T) {
	dropped := func() *State {
		st := seedSynced()
		// main's default via em1 was multipath with a nexthop down; its
		// copy in em1's table, written by a pass, has the live one only.
		st.Routes[0].Flags |= FlagHopsDropped
		return st
	}
	st := dropped()
	if p := Compute(st, DefaultOptions()); len(p.Ops) != 0 {
		t.Errorf("a copy of a route read without its down nexthops is planned again:\n%s", strings.Join(render(st, p), "\n"))
	}
	st = dropped()
	Compact(st)
	for _, c := range st.Copies {
		if c.Table == 1002 && st.Routes[c.Of].Flags&FlagHopsDropped != 0 {
			t.Errorf("em1's default (no dropped nexthops) read as a Copy of main's (dropped): it would be deleted in main's form")
		}
	}
	if p := Compute(st, DefaultOptions()); len(p.Ops) != 0 {
		t.Errorf("compact: a copy of a route read without its down nexthops is planned again:\n%s", strings.Join(render(st, p), "\n"))
	}
}

// A route delete names all the kernel compares of the route: the nexthop
// (IPv4: its gateway and device, or the whole multipath list; IPv6 the
// same, and lo for a route with no device), and for IPv4 the preferred
// source and the metrics (without their locks: a lock bit of a metric the
// dump does not show would make the delete match nothing). A route read
// without its down nexthops names none.
func TestRenderRouteDelete(t *testing.T) {
	st := seedSynced()
	rn := NewRenderer(st)
	v4 := gwRoute(1002, "198.51.100.0/24", "10.0.0.1", 2, 7)
	v4.Src, v4.Metrics = ip("10.0.0.2"), "mtu lock 1400 advmss 1360"
	multi := Route{Family: FamilyV4, Table: 1002, Dst: pfx("172.16.0.0/12"), Type: RouteUnicast, Protocol: 4,
		Nexthops: []Nexthop{{Link: 2, Gw: ip("10.0.0.1"), Weight: 1}, {Link: 3, Gw: ip("192.168.0.1"), Weight: 3}}}
	dropped := multi
	dropped.Flags = FlagHopsDropped
	v6 := gwRoute(1002, "::/0", "fe80::1", 2, 1024)
	v6.Src, v6.Metrics = ip("2001:db8::2"), "mtu 1400"
	v6multi := multi
	v6multi.Family, v6multi.Dst, v6multi.Priority = FamilyV6, pfx("2001:db8:9::/48"), 1024
	v6multi.Nexthops = []Nexthop{{Link: 2, Gw: ip("fe80::1"), Weight: 1}, {Link: 3, Gw: ip("fe80::2"), Weight: 1}}
	unreachable6 := Route{Family: FamilyV6, Table: 1002, Dst: pfx("2001:db8:dead::/48"), Type: RouteUnreachable, Protocol: 4, Priority: 1024}
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{v4, "ip -4 route del 198.51.100.0/24 via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 7 src 10.0.0.2 mtu 1400 advmss 1360"},
		{multi, "ip -4 route del 172.16.0.0/12 table 1002 proto 4 scope 0 metric 0 nexthop via 10.0.0.1 dev em1 nexthop via 192.168.0.1 dev em2 weight 3"},
		{dropped, "ip -4 route del 172.16.0.0/12 table 1002 proto 4 scope 0 metric 0"},
		{v6, "ip -6 route del default via fe80::1 dev em1 table 1002 proto 16 metric 1024"},
		{v6multi, "ip -6 route del 2001:db8:9::/48 table 1002 proto 4 metric 1024 nexthop via fe80::1 dev em1 nexthop via fe80::2 dev em2"},
		{unreachable6, "ip -6 route del unreachable 2001:db8:dead::/48 dev lo table 1002 proto 4 metric 1024"},
	} {
		if got := rn.Render(Op{Kind: RouteDel, Route: &tc.r}); got != tc.want {
			t.Errorf("delete of %+v:\n got %s\nwant %s", tc.r, got, tc.want)
		}
	}
}
