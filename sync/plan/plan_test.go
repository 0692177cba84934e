package plan

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Test fixtures: the seed host (lo 1, em1 2, em2 3) and builders that keep
// each case to what it changes.

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func seedLinks() []Link {
	return []Link{
		{Index: 1, Name: "lo", Loopback: true},
		{Index: 2, Name: "em1"},
		{Index: 3, Name: "em2"},
	}
}

func seedAddrs() []Addr {
	return []Addr{
		{Link: 1, Prefix: pfx("127.0.0.1/8"), Scope: ScopeHost},
		{Link: 2, Prefix: pfx("10.0.0.2/16")},
		{Link: 3, Prefix: pfx("192.168.0.2/24")},
		{Link: 2, Prefix: pfx("fe80::2/64"), Scope: ScopeLink},
	}
}

func defaultRules() []Rule {
	return []Rule{
		{Family: FamilyV4, Priority: 0, Table: TableLocal, Action: RuleActionLookup, Protocol: 2},
		{Family: FamilyV4, Priority: 32766, Table: TableMain, Action: RuleActionLookup, Protocol: 2},
		{Family: FamilyV4, Priority: 32767, Table: 253, Action: RuleActionLookup, Protocol: 2},
		{Family: FamilyV6, Priority: 0, Table: TableLocal, Action: RuleActionLookup, Protocol: 2},
		{Family: FamilyV6, Priority: 32766, Table: TableMain, Action: RuleActionLookup, Protocol: 2},
	}
}

// linkRoute is what the kernel adds for an address: "proto kernel scope link src".
func linkRoute(table uint32, dst string, link int, src string) Route {
	return Route{Family: FamilyV4, Table: table, Dst: pfx(dst), Type: RouteUnicast, Protocol: 2,
		Scope: ScopeLink, Link: link, Src: ip(src)}
}

// gwRoute is a DHCP client's route: "proto dhcp metric M via GW".
func gwRoute(table uint32, dst, gw string, link int, metric uint32) Route {
	fam := uint8(FamilyV4)
	if pfx(dst).Addr().Is6() {
		fam = FamilyV6
	}
	return Route{Family: fam, Table: table, Dst: pfx(dst), Type: RouteUnicast, Protocol: 16,
		Gw: ip(gw), Link: link, Priority: metric}
}

// throwRoute is symroute's throw of another link's subnet.
func throwRoute(table uint32, dst string, metric uint32) Route {
	fam := uint8(FamilyV4)
	if pfx(dst).Addr().Is6() {
		fam = FamilyV6
	}
	return Route{Family: fam, Table: table, Dst: pfx(dst), Type: RouteThrow, Protocol: Protocol, Priority: metric}
}

func seedRoutes() []Route {
	return []Route{
		gwRoute(TableMain, "0.0.0.0/0", "10.0.0.1", 2, 105),
		gwRoute(TableMain, "0.0.0.0/0", "192.168.0.1", 3, 106),
		linkRoute(TableMain, "10.0.0.0/16", 2, "10.0.0.2"),
		linkRoute(TableMain, "192.168.0.0/24", 3, "192.168.0.2"),
	}
}

func seedState() *State {
	return &State{Links: seedLinks(), Addrs: seedAddrs(), Rules: defaultRules(), Routes: seedRoutes()}
}

// seedSynced is the seed host after a pass.
func seedSynced() *State {
	st := seedState()
	// The throws first: a compact state holds the routes that are no
	// copies before the copies, and plans must not differ by form.
	st.Routes = append(st.Routes,
		throwRoute(1002, "192.168.0.0/24", 0),
		throwRoute(1003, "10.0.0.0/16", 0),
		gwRoute(1002, "0.0.0.0/0", "10.0.0.1", 2, 105),
		linkRoute(1002, "10.0.0.0/16", 2, "10.0.0.2"),
		gwRoute(1003, "0.0.0.0/0", "192.168.0.1", 3, 106),
		linkRoute(1003, "192.168.0.0/24", 3, "192.168.0.2"),
	)
	st.Rules = append(st.Rules,
		Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.0.0.2/32"), Table: 1002, Action: RuleActionLookup, Protocol: Protocol},
		Rule{Family: FamilyV4, Priority: 32765, Src: pfx("192.168.0.2/32"), Table: 1003, Action: RuleActionLookup, Protocol: Protocol},
		oifRule(FamilyV4, "em1", 1002),
		oifRule(FamilyV4, "em2", 1003),
	)
	return st
}

// fromRule is st's rule from src.
func fromRule(st *State, src string) *Rule {
	for i := range st.Rules {
		if st.Rules[i].Src == pfx(src) {
			return &st.Rules[i]
		}
	}
	panic("no rule from " + src)
}

// oifRule is symroute's rule of sockets bound to a link.
func oifRule(fam uint8, link string, table uint32) Rule {
	return Rule{Family: fam, Priority: 32765, Oif: link, Table: table, Action: RuleActionLookup, Protocol: Protocol}
}

func render(st *State, p Plan) []string {
	rn := NewRenderer(st)
	out := []string{}
	for _, op := range p.Ops {
		out = append(out, rn.Render(op))
	}
	return out
}

func TestCompute(t *testing.T) {
	// seedRemoval removes the seed host's mirror: rules, then routes.
	// The oif rules go first, as every rule narrowed by a link does.
	seedRemoval := []string{
		"ip -4 rule del priority 32765 oif em1 unicast table 1002 protocol 234",
		"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
		"ip -4 rule del priority 32765 from 10.0.0.2/32 unicast table 1002 protocol 234",
		"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
		"ip -4 route del default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
		"ip -4 route del throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
		"ip -4 route del 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
		"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
		"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
		"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
	}
	seedPlan := []string{
		"ip -4 route add throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
		"ip -4 route add 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
		"ip -4 route add default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
		"ip -4 route add throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
		"ip -4 route add 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
		"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
		"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
		"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
		"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
		"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
	}
	runCompute(t, []computeCase{
		{name: "seed host", state: seedState, want: seedPlan},
		{name: "seed host in sync", state: seedSynced, want: []string{}},
		{
			name: "input order does not matter",
			state: func() *State {
				st := seedState()
				st.Routes[0], st.Routes[3] = st.Routes[3], st.Routes[0]
				st.Routes[1], st.Routes[2] = st.Routes[2], st.Routes[1]
				return st
			},
			want: []string{
				"ip -4 route add throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 route add default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
				"ip -4 route add throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route add 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
		},
		{
			name: "ipv6 default via link-local gateway, fe80::/64 copied into its link's table only",
			state: func() *State {
				st := seedState()
				st.Addrs = []Addr{{Link: 2, Prefix: pfx("fe80::2/64"), Scope: ScopeLink}, {Link: 2, Prefix: pfx("2001:db8:1::2/64")}}
				st.Routes = []Route{
					{Family: FamilyV6, Table: TableMain, Dst: pfx("2001:db8:1::/64"), Type: RouteUnicast, Protocol: 2, Link: 2, Priority: 256},
					{Family: FamilyV6, Table: TableMain, Dst: pfx("fe80::/64"), Type: RouteUnicast, Protocol: 2, Link: 2, Priority: 256},
					{Family: FamilyV6, Table: TableMain, Dst: pfx("fe80::/64"), Type: RouteUnicast, Protocol: 2, Link: 3, Priority: 256},
					gwRoute(TableMain, "::/0", "fe80::1", 2, 1024),
				}
				return st
			},
			// A socket bound to em1 is routed by 1002 (its oif rule): its
			// default must not take fe80::/10; em2 has no table.
			want: []string{
				"ip -6 route add 2001:db8:1::/64 dev em1 table 1002 proto 2 scope 0 metric 256",
				"ip -6 route add fe80::/64 dev em1 table 1002 proto 2 scope 0 metric 256",
				"ip -6 route add default via fe80::1 dev em1 table 1002 proto 16 scope 0 metric 1024",
				"ip -6 rule add priority 32765 from 2001:db8:1::2/128 table 1002 protocol 234",
				"ip -6 rule add priority 32765 oif em1 table 1002 protocol 234",
			},
		},
		{
			name: "oif-rules off: no oif rule, no link-local copy, and ours removed",
			state: func() *State {
				st := seedSynced()
				st.Addrs = append(st.Addrs, Addr{Link: 2, Prefix: pfx("2001:db8:1::2/64")})
				st.Routes = append(st.Routes,
					Route{Family: FamilyV6, Table: TableMain, Dst: pfx("fe80::/64"), Type: RouteUnicast, Protocol: 2, Link: 2, Priority: 256},
					Route{Family: FamilyV6, Table: 1002, Dst: pfx("fe80::/64"), Type: RouteUnicast, Protocol: 2, Link: 2, Priority: 256})
				st.Rules = append(st.Rules, Rule{Family: FamilyV6, Priority: 32765, Src: pfx("2001:db8:1::2/128"), Table: 1002, Action: RuleActionLookup, Protocol: Protocol},
					oifRule(FamilyV6, "em1", 1002))
				return st
			},
			opts: func(o *Options) { o.OifRules = false },
			want: []string{
				"ip -4 rule del priority 32765 oif em1 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -6 rule del priority 32765 oif em1 unicast table 1002 protocol 234",
				"ip -6 route del fe80::/64 dev em1 table 1002 proto 2 metric 256",
			},
		},
		{
			name: "renamed link: its oif rule goes, one of the new name comes",
			state: func() *State {
				st := seedSynced()
				st.Links[2].Name = "wan0"
				return st
			},
			// The delete first, as of every rule narrowed by a link.
			want: []string{
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif wan0 table 1003 protocol 234",
			},
		},
		{
			name: "two ipv6 defaults of equal metric (one multipath in main) split per link",
			state: func() *State {
				st := seedState()
				st.Addrs = []Addr{{Link: 2, Prefix: pfx("2001:db8:1::2/64")}, {Link: 3, Prefix: pfx("2001:db8:2::2/64")}}
				st.Routes = []Route{{Family: FamilyV6, Table: TableMain, Dst: pfx("::/0"), Type: RouteUnicast, Protocol: 9, Priority: 1024,
					Nexthops: []Nexthop{{Link: 2, Gw: ip("fe80::1"), Weight: 1}, {Link: 3, Gw: ip("fe80::1"), Weight: 1}}}}
				return st
			},
			want: []string{
				"ip -6 route add default via fe80::1 dev em1 table 1002 proto 9 scope 0 metric 1024",
				"ip -6 route add default via fe80::1 dev em2 table 1003 proto 9 scope 0 metric 1024",
				"ip -6 rule add priority 32765 from 2001:db8:1::2/128 table 1002 protocol 234",
				"ip -6 rule add priority 32765 from 2001:db8:2::2/128 table 1003 protocol 234",
				"ip -6 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -6 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
		},
		{
			name: "ipv4 multipath: each link's nexthops, two on one link stay multipath",
			state: func() *State {
				st := seedSynced()
				st.Routes = append(st.Routes, Route{Family: FamilyV4, Table: TableMain, Dst: pfx("172.16.0.0/12"), Type: RouteUnicast, Protocol: 4,
					Nexthops: []Nexthop{{Link: 2, Gw: ip("10.0.0.1"), Weight: 1}, {Link: 3, Gw: ip("192.168.0.1"), Weight: 3}, {Link: 2, Gw: ip("10.0.0.9"), Weight: 2}}})
				return st
			},
			want: []string{
				"ip -4 route add 172.16.0.0/12 table 1002 proto 4 scope 0 metric 0 nexthop via 10.0.0.1 dev em1 nexthop via 10.0.0.9 dev em1 weight 2",
				"ip -4 route add 172.16.0.0/12 via 192.168.0.1 dev em2 table 1003 proto 4 scope 0 metric 0",
			},
		},
		{
			name: "blackhole and route via excluded docker0 go to every table",
			state: func() *State {
				st := seedSynced()
				st.Links = append(st.Links, Link{Index: 4, Name: "docker0", Kind: "bridge"})
				st.Addrs = append(st.Addrs, Addr{Link: 4, Prefix: pfx("172.17.0.1/16")})
				st.Routes = append(st.Routes,
					Route{Family: FamilyV4, Table: TableMain, Dst: pfx("10.99.0.0/16"), Type: RouteBlackhole, Protocol: 4},
					linkRoute(TableMain, "172.17.0.0/16", 4, "172.17.0.1"))
				return st
			},
			want: []string{
				"ip -4 route add blackhole 10.99.0.0/16 table 1002 proto 4 scope 0 metric 0",
				"ip -4 route add 172.17.0.0/16 dev docker0 table 1002 proto 2 scope 253 metric 0 src 172.17.0.1",
				"ip -4 route add blackhole 10.99.0.0/16 table 1003 proto 4 scope 0 metric 0",
				"ip -4 route add 172.17.0.0/16 dev docker0 table 1003 proto 2 scope 253 metric 0 src 172.17.0.1",
			},
		},
		{
			name: "metric change: new key added before the old goes",
			state: func() *State {
				st := seedSynced()
				st.Routes[0].Priority = 205
				return st
			},
			want: []string{
				"ip -4 route add default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 205",
				"ip -4 route del default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
			},
		},
		{
			name: "gateway change is a replace in place",
			state: func() *State {
				st := seedSynced()
				st.Routes[1].Gw = ip("192.168.0.254")
				return st
			},
			want: []string{"ip -4 route replace default via 192.168.0.254 dev em2 table 1003 proto 16 scope 0 metric 106"},
		},
		{
			name: "linkdown route skipped, its copy removed",
			state: func() *State {
				st := seedSynced()
				st.Routes[1].Linkdown = true
				return st
			},
			want: []string{"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106"},
		},
		{
			name: "set-route-metric on every copy",
			state: func() *State {
				st := seedSynced()
				st.Routes[0].Metrics = "mtu lock 1500"
				return st
			},
			opts: func(o *Options) { o.RouteMetrics = []Metric{{ID: 2, Value: 1400}, {ID: 11, Value: 10}} },
			want: []string{
				"ip -4 route replace 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2 mtu 1400 initcwnd 10",
				"ip -4 route replace default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105 mtu lock 1400 initcwnd 10",
				"ip -4 route replace 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2 mtu 1400 initcwnd 10",
				"ip -4 route replace default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106 mtu 1400 initcwnd 10",
			},
		},
		{
			name: "clash: a foreign rule looks up em2's table",
			state: func() *State {
				st := seedState()
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx("10.5.0.0/16"), Table: 1003, Action: RuleActionLookup})
				st.Routes = append(st.Routes, gwRoute(1003, "10.5.0.0/16", "192.168.0.7", 3, 0))
				return st
			},
			want: []string{
				"ip -4 route add throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 route add default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
			},
			clashes: []Clash{{Link: "em2", Index: 3, Table: 1003, Reason: "a rule not made by symroute ('100: from 10.5.0.0/16 lookup 1003')"}},
		},
		{
			name: "clash: a VRF is bound to em1's table",
			state: func() *State {
				st := seedState()
				st.Links = append(st.Links, Link{Index: 9, Name: "vrf-blue", Kind: "vrf", VRFTable: 1002})
				return st
			},
			want: []string{
				"ip -4 route add throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route add 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
			clashes: []Clash{{Link: "em1", Index: 2, Table: 1002, Reason: "VRF vrf-blue"}},
		},
		{
			name: "clash: rt_tables names em1's table",
			state: func() *State {
				st := seedState()
				st.TableNames = map[uint32]string{1002: "isp1", 1003: "symroute-em2"}
				return st
			},
			want:    append(append([]string{}, seedPlan[3:6]...), seedPlan[7], seedPlan[9]),
			clashes: []Clash{{Link: "em1", Index: 2, Table: 1002, Reason: `the name "isp1" in rt_tables`}},
		},
		{
			name: "legacy symrouted rules replaced, no clash",
			state: func() *State {
				st := seedSynced()
				st.Rules = append(defaultRules(),
					Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.0.0.2/32"), Table: 1002, Action: RuleActionLookup},
					Rule{Family: FamilyV4, Priority: 32764, Src: pfx("192.168.0.2/32"), Table: 1003, Action: RuleActionLookup})
				return st
			},
			want: []string{
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 10.0.0.2/32 unicast table 1002",
				"ip -4 rule del priority 32764 from 192.168.0.2/32 unicast table 1003",
			},
		},
		{
			name: "kernel without rule protocols: our rules told by priority and table",
			state: func() *State {
				st := seedSynced()
				st.Rules = st.Rules[:len(st.Rules)-2] // no oif rules there
				for i := range st.Rules {
					st.Rules[i].Protocol = 0
				}
				// A rule in our range that is not ours: other selectors.
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Table: 51820, Action: RuleActionLookup, Other: true})
				st.Routes = append(st.Routes, gwRoute(51820, "0.0.0.0/0", "10.0.0.1", 2, 0))
				return st
			},
			want: []string{},
		},
		{
			name: "kernel without rule protocols: no oif rules, no link-local copies",
			state: func() *State {
				st := seedState()
				st.Rules = nil // not even the kernel's rules carry a protocol
				st.Addrs = append(st.Addrs, Addr{Link: 2, Prefix: pfx("2001:db8:1::2/64")})
				st.Routes = append(st.Routes,
					Route{Family: FamilyV6, Table: TableMain, Dst: pfx("fe80::/64"), Type: RouteUnicast, Protocol: 2, Link: 2, Priority: 256},
					gwRoute(TableMain, "::/0", "fe80::1", 2, 1024))
				return st
			},
			want: append(append(append([]string{}, seedPlan[:3]...),
				"ip -6 route add default via fe80::1 dev em1 table 1002 proto 16 scope 0 metric 1024"),
				seedPlan[3], seedPlan[4], seedPlan[5], seedPlan[6], seedPlan[7],
				"ip -6 rule add priority 32765 from 2001:db8:1::2/128 table 1002 protocol 234"),
		},
		{
			name: "excluded link: no rule, its table cleared",
			state: func() *State {
				st := seedSynced()
				return st
			},
			opts: func(o *Options) { o.Exclude = []string{"em2"} },
			// em2 is now a link we do not manage: like a container bridge,
			// its routes hold for every managed address.
			want: []string{
				"ip -4 route replace 192.168.0.0/24 dev em2 table 1002 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1002 proto 16 scope 0 metric 106",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
			},
		},
		{
			name:  "include list limits managed links",
			state: seedSynced,
			opts:  func(o *Options) { o.Include = []string{"em1"} },
			want: []string{
				"ip -4 route replace 192.168.0.0/24 dev em2 table 1002 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1002 proto 16 scope 0 metric 106",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
			},
		},
		{
			name: "address gone: rule removed, table emptied",
			state: func() *State {
				st := seedSynced()
				st.Addrs = st.Addrs[:2]
				st.Routes = append(st.Routes[:3:3], st.Routes[4:]...) // main loses em2's link route
				st.Routes = append(st.Routes[:1:1], st.Routes[2:]...) // and its default
				return st
			},
			want: []string{
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 route del throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
			},
		},
		{
			name: "deleted link: its rule and the deviceless copies in its table go",
			state: func() *State {
				st := seedSynced()
				bh := Route{Family: FamilyV4, Dst: pfx("10.99.0.0/16"), Type: RouteBlackhole, Protocol: 4}
				for _, t := range []uint32{TableMain, 1002, 1003, 1007} {
					r := bh
					r.Table = t
					st.Routes = append(st.Routes, r)
				}
				// em7 (ifindex 7) is gone; the kernel took its routes, not
				// our rule nor the blackhole copy.
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.7.0.2/32"), Table: 1007, Action: RuleActionLookup, Protocol: Protocol})
				return st
			},
			want: []string{
				"ip -4 rule del priority 32765 from 10.7.0.2/32 unicast table 1007 protocol 234",
				"ip -4 route del blackhole 10.99.0.0/16 table 1007 proto 4 scope 0 metric 0",
			},
		},
		{
			name:  "table base raised: the old tables our rules looked up are cleared",
			state: seedSynced,
			opts:  func(o *Options) { o.TableBase = 2000 },
			want: append([]string{
				"ip -4 route add throw 192.168.0.0/24 table 2002 proto 234 scope 0 metric 0",
				"ip -4 route add 10.0.0.0/16 dev em1 table 2002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 route add default via 10.0.0.1 dev em1 table 2002 proto 16 scope 0 metric 105",
				"ip -4 route add throw 10.0.0.0/16 table 2003 proto 234 scope 0 metric 0",
				"ip -4 route add 192.168.0.0/24 dev em2 table 2003 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 2003 proto 16 scope 0 metric 106",
				seedRemoval[0], seedRemoval[1],
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 2002 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 2003 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 2002 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 2003 protocol 234",
			}, seedRemoval[2:]...),
		},
		{
			name: "lease router gives a table the default main lacks",
			state: func() *State {
				st := seedSynced()
				st.Routes = append(st.Routes[:1:1], st.Routes[2:]...) // main lost em2's default
				st.Routers = []Router{{Link: 3, Gw: ip("192.168.0.1"), Source: RouterLease}, {Link: 2, Gw: ip("10.0.0.1"), Source: RouterLease}}
				return st
			},
			// em1 has its default in main: its lease record changes nothing.
			want: []string{
				"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
			},
		},
		{
			name: "unexplained table in range is not ours",
			state: func() *State {
				st := seedSynced()
				st.Routes = append(st.Routes, gwRoute(1050, "0.0.0.0/0", "10.0.0.1", 2, 0))
				return st
			},
			want: []string{},
		},
		{
			name: "address on two links: one rule, lowest ifindex, and a warning",
			state: func() *State {
				st := seedSynced()
				st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("10.0.0.2/16")})
				st.Host.ConfAll.ArpIgnore = 1 // no ARP flux warning (TestWarnings)
				return st
			},
			want:     []string{},
			warnings: []string{"address 10.0.0.2 is on em1 and em2: its rule goes to em1"},
		},
		{
			name: "flush removes ours only",
			state: func() *State {
				st := seedSynced()
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx("10.5.0.0/16"), Table: 1050, Action: RuleActionLookup})
				st.Routes = append(st.Routes, gwRoute(1050, "0.0.0.0/0", "10.0.0.1", 2, 0))
				return st
			},
			opts: func(o *Options) { o.Flush = true },
			want: seedRemoval,
		},
		{
			name: "link names are quoted for sh",
			state: func() *State {
				st := seedState()
				st.Links[1].Name = "$(reboot)"
				st.Routes = st.Routes[2:3]
				st.Addrs = st.Addrs[1:2]
				return st
			},
			want: []string{
				"ip -4 route add 10.0.0.0/16 dev '$(reboot)' table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif '$(reboot)' table 1002 protocol 234",
			},
		},
	})
}

// computeCase is a golden plan: a state, options, and the plan wanted (as
// Describe writes it: as Render, but a table write on one line).
type computeCase struct {
	name       string
	state      func() *State
	opts       func(*Options)
	want       []string // nil: not compared, in cases about findings only
	clashes    []Clash
	ingressErr string // its start; "" for none
	warnings   []string
}

func runCompute(t *testing.T, tests []computeCase) {
	t.Helper()
	for _, tc := range tests {
		// Every plan is made from the state as given, and from it compact
		// as the kernel adapter reads it: the two must not differ.
		for _, compact := range []bool{false, true} {
			name := tc.name
			if compact {
				name += "/compact"
			}
			t.Run(name, func(t *testing.T) {
				st := tc.state()
				if compact {
					Compact(st)
				}
				o := DefaultOptions()
				if tc.opts != nil {
					tc.opts(&o)
				}
				if err := o.Validate(); err != nil {
					t.Fatal(err)
				}
				m := Desire(st, o)
				p := Diff(st, m)
				if diff := cmp.Diff(tc.want, describe(st, p)); tc.want != nil && diff != "" {
					t.Errorf("plan (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.clashes, p.Clashes); diff != "" {
					t.Errorf("clashes (-want +got):\n%s", diff)
				}
				if !strings.HasPrefix(p.IngressErr, tc.ingressErr) || (tc.ingressErr == "") != (p.IngressErr == "") {
					t.Errorf("ingress error %q, want it to start with %q", p.IngressErr, tc.ingressErr)
				}
				// In any order: Desire sorts them, and cases list them as they read.
				if diff := cmp.Diff(tc.warnings, append(warningTexts(t, p.Warnings), noWayOuts(st, m)...), cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestValidate(t *testing.T) {
	with := func(f func(o *Options)) Options {
		o := DefaultOptions()
		f(&o)
		return o
	}
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", DefaultOptions(), true},
		{"base 254 could reach 255", with(func(o *Options) { o.TableBase = 254 }), false},
		{"base 255", with(func(o *Options) { o.TableBase = 255 }), true},
		{"base 0", with(func(o *Options) { o.TableBase = 0 }), false},
		{"base wraps", with(func(o *Options) { o.TableBase = 1<<32 - 1 }), false},
		{"largest base", with(func(o *Options) { o.TableBase = 1 << 31 }), true},
		{"priority 0", with(func(o *Options) { o.Priority = 0 }), false},
		{"priority of main", with(func(o *Options) { o.Priority = 32766 }), false},
		{"bad glob", with(func(o *Options) { o.Exclude = []string{"["} }), false},
		{"mask of no bits", with(func(o *Options) { o.IngressMask = 0 }), false},
		{"mask of one bit", with(func(o *Options) { o.IngressMask = 0x8000 }), false},
		{"mask of two scattered bits", with(func(o *Options) { o.IngressMask = 0x80000001 }), true},
		{"priority 1 without follow-ingress", with(func(o *Options) { o.Priority = 1 }), true},
		{"priority 1 with follow-ingress", with(func(o *Options) { o.Priority, o.FollowIngress = 1, true }), false},
		{"priority 2 with follow-ingress", with(func(o *Options) { o.Priority, o.FollowIngress = 2, true }), false},
		{"priority 3 with follow-ingress", with(func(o *Options) { o.Priority, o.FollowIngress = 3, true }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	in := []Metric{{ID: 8, Value: 1360}, {ID: 2, Value: 1400, Lock: true}, {ID: 16, Name: "bbr"}, {ID: 12, Value: 1}}
	enc := EncodeMetrics(in)
	if want := "mtu lock 1400 advmss 1360 features ecn congctl bbr"; enc != want {
		t.Fatalf("EncodeMetrics = %q, want %q", enc, want)
	}
	dec, err := DecodeMetrics(enc)
	if err != nil {
		t.Fatal(err)
	}
	if EncodeMetrics(dec) != enc {
		t.Errorf("round trip: %q != %q", EncodeMetrics(dec), enc)
	}
	for _, bad := range []string{"mtu", "mtu=", "=5", "nosuch=1", "mtu=-1", "mtu=99999999999", "congctl=a;b"} {
		if _, err := ParseMetricSetting(bad); err == nil {
			t.Errorf("ParseMetricSetting(%q) accepted", bad)
		}
	}
	if m, err := ParseMetricSetting("initcwnd=10"); err != nil || m != (Metric{ID: 11, Value: 10}) {
		t.Errorf("ParseMetricSetting(initcwnd=10) = %+v, %v", m, err)
	}
}

// warningTexts is how the log says ws, each checked to be one of the
// planner's IDs (the host's are package report's) and to hold its text.
func warningTexts(t *testing.T, ws []Warning) []string {
	t.Helper()
	out := make([]string, len(ws))
	for i, w := range ws {
		switch w.ID {
		case WarnRouterOffSubnet, WarnNoFirstHost, WarnAddressOnTwoLinks, WarnRoutesNotMirrored, WarnNoMarkValue:
		default:
			t.Errorf("warning of ID %q, not the planner's: %+v", w.ID, w)
		}
		if w.Text == "" {
			t.Errorf("warning with no text: %+v", w)
		}
		out[i] = w.String()
	}
	return out
}

// noWayOuts are the links m notes as having no way out (report warns of
// them), as noWayOutWarning spells one.
func noWayOuts(st *State, m *Mirror) []string {
	var out []string
	for _, lf := range m.NoWayOut() {
		fam := "IPv4"
		if lf.Family == FamilyV6 {
			fam = "IPv6"
		}
		out = append(out, noWayOutWarning(LinkName(st.LinksByIndex(), lf.Link), fam))
	}
	return out
}

// The rule index finds every key, the last rule of a key where several
// share it, whether keys share a hash or not.
func TestRuleIndex(t *testing.T) {
	var rules []Rule
	for i := 0; i < 50; i++ {
		rules = append(rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx(fmt.Sprintf("10.0.0.%d/32", i%40)), Table: uint32(1000 + i%40%3), Action: RuleActionLookup}) // 40-49 repeat 0-9
	}
	collide := func(*RuleKey) uint64 { return 7 }
	for name, hash := range map[string]func(*RuleKey) uint64{"hashed": nil, "colliding": collide} {
		x := newRuleIndex(rules)
		if hash != nil {
			x.byHash, x.spill, x.hash = map[uint64]int32{}, nil, hash
			x.fill()
			if len(x.spill) == 0 {
				t.Fatalf("%s: no key spilled", name)
			}
		}
		for i := range rules {
			j, ok := x.find(rules[i].Key())
			last := i
			for k := range rules {
				if rules[k].Key() == rules[i].Key() {
					last = k
				}
			}
			if !ok || j != last {
				t.Errorf("%s: rule %d found at %d, %v; want %d", name, i, j, ok, last)
			}
		}
		other := rules[0]
		other.Table = 9999
		if j, ok := x.find(other.Key()); ok {
			t.Errorf("%s: a key no rule has found at %d", name, j)
		}
	}
}
