package plan

import (
	"net/netip"
	"testing"
)

// Each table throws the other managed links' connected subnets (subnets.go),
// and only those.
func TestComputeThrows(t *testing.T) {
	v6 := func(table uint32, dst string, link int, metric uint32) Route {
		return Route{Family: FamilyV6, Table: table, Dst: pfx(dst), Type: RouteUnicast, Protocol: 2, Link: link, Priority: metric}
	}
	runCompute(t, []computeCase{
		{
			name: "two NICs in one subnet: neither throws it, each keeps its own",
			state: func() *State {
				st := seedState()
				st.Addrs[2].Prefix = pfx("10.0.0.3/16")
				st.Links[1].ArpIgnore, st.Links[2].ArpIgnore = 1, 1 // no ARP flux warning
				st.Routes = []Route{
					gwRoute(TableMain, "0.0.0.0/0", "10.0.0.1", 2, 105),
					gwRoute(TableMain, "0.0.0.0/0", "10.0.0.1", 3, 106),
					linkRoute(TableMain, "10.0.0.0/16", 2, "10.0.0.2"),
					linkRoute(TableMain, "10.0.0.0/16", 3, "10.0.0.3"),
				}
				return st
			},
			want: []string{
				"ip -4 route add 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 route add default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
				"ip -4 route add 10.0.0.0/16 dev em2 table 1003 proto 2 scope 253 metric 0 src 10.0.0.3",
				"ip -4 route add default via 10.0.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.0.3/32 table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
		},
		{
			name: "IPv6 subnets are thrown at their metric, link-local ones never: each link's own is copied",
			state: func() *State {
				st := seedSynced()
				st.Addrs = append(st.Addrs, Addr{Link: 2, Prefix: pfx("2001:db8:1::2/64")}, Addr{Link: 3, Prefix: pfx("2001:db8:2::2/64")})
				st.Routes = append(st.Routes,
					v6(TableMain, "2001:db8:1::/64", 2, 256), v6(TableMain, "2001:db8:2::/64", 3, 256),
					v6(TableMain, "fe80::/64", 2, 256), v6(TableMain, "fe80::/64", 3, 256))
				return st
			},
			want: []string{
				"ip -6 route add throw 2001:db8:2::/64 table 1002 proto 234 scope 0 metric 256",
				"ip -6 route add 2001:db8:1::/64 dev em1 table 1002 proto 2 scope 0 metric 256",
				"ip -6 route add fe80::/64 dev em1 table 1002 proto 2 scope 0 metric 256",
				"ip -6 route add throw 2001:db8:1::/64 table 1003 proto 234 scope 0 metric 256",
				"ip -6 route add 2001:db8:2::/64 dev em2 table 1003 proto 2 scope 0 metric 256",
				"ip -6 route add fe80::/64 dev em2 table 1003 proto 2 scope 0 metric 256",
				"ip -6 rule add priority 32765 from 2001:db8:1::2/128 table 1002 protocol 234",
				"ip -6 rule add priority 32765 from 2001:db8:2::2/128 table 1003 protocol 234",
				"ip -6 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -6 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
			// Main has no IPv6 default at all: no link lacks one more than
			// plain Linux does, so no warning.
		},
		{
			name: "a subnet of a link symroute does not manage is copied, not thrown",
			state: func() *State {
				st := seedSynced()
				st.Links = append(st.Links, Link{Index: 4, Name: "docker0", Kind: "bridge"})
				st.Routes = append(st.Routes, linkRoute(TableMain, "172.17.0.0/16", 4, "172.17.0.1"))
				return st
			},
			want: []string{
				"ip -4 route add 172.17.0.0/16 dev docker0 table 1002 proto 2 scope 253 metric 0 src 172.17.0.1",
				"ip -4 route add 172.17.0.0/16 dev docker0 table 1003 proto 2 scope 253 metric 0 src 172.17.0.1",
			},
		},
		{
			name: "a device route with no gateway is a subnet; a default one is not",
			state: func() *State {
				st := seedSynced()
				dev := linkRoute(TableMain, "10.9.0.0/16", 3, "192.168.0.2")
				dev.Priority, dev.Protocol, dev.Src = 50, 4, netip.Addr{}
				def := dev
				def.Dst, def.Priority = pfx("0.0.0.0/0"), 300
				st.Routes = append(st.Routes, dev, def)
				return st
			},
			want: []string{
				"ip -4 route add throw 10.9.0.0/16 table 1002 proto 234 scope 0 metric 50",
				"ip -4 route add 10.9.0.0/16 dev em2 table 1003 proto 4 scope 253 metric 50",
				"ip -4 route add default dev em2 table 1003 proto 4 scope 253 metric 300",
			},
		},
		{
			name: "main holds a subnet's key twice: the table keeps the copy, no throw",
			state: func() *State {
				st := seedSynced()
				st.Routes = append(st.Routes, gwRoute(TableMain, "192.168.0.0/24", "10.0.0.1", 2, 0))
				return st
			},
			want: []string{
				"ip -4 route replace 192.168.0.0/24 via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 0",
			},
		},
		{
			name: "a multipath route with no gateway is a subnet of each of its links",
			state: func() *State {
				st := seedSynced()
				st.Links = append(st.Links, Link{Index: 4, Name: "em3"})
				st.Addrs = append(st.Addrs, Addr{Link: 4, Prefix: pfx("10.3.0.2/24")})
				st.Routes = append(st.Routes, linkRoute(TableMain, "10.3.0.0/24", 4, "10.3.0.2"),
					Route{Family: FamilyV4, Table: TableMain, Dst: pfx("10.5.0.0/24"), Type: RouteUnicast, Protocol: 3,
						Nexthops: []Nexthop{{Link: 3, Weight: 1}, {Link: 4, Weight: 1}}})
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.3.0.2/32"), Table: 1004,
					Action: RuleActionLookup, Protocol: Protocol})
				return st
			},
			want: []string{
				"ip -4 route add throw 10.3.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add throw 10.5.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add throw 10.3.0.0/24 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route add 10.5.0.0/24 dev em2 table 1003 proto 3 scope 0 metric 0",
				"ip -4 route add throw 10.0.0.0/16 table 1004 proto 234 scope 0 metric 0",
				"ip -4 route add throw 192.168.0.0/24 table 1004 proto 234 scope 0 metric 0",
				"ip -4 route add 10.3.0.0/24 dev em3 table 1004 proto 2 scope 253 metric 0 src 10.3.0.2",
				"ip -4 route add 10.5.0.0/24 dev em3 table 1004 proto 3 scope 0 metric 0",
				"ip -4 rule add priority 32765 oif em3 table 1004 protocol 234",
			},
			warnings: []string{noWayOutWarning("em3", "IPv4")},
		},
		{
			name: "an unmanaged link's routes, not copied while it is down, are thrown in every table (not a default)",
			state: func() *State {
				st := seedSynced()
				st.Links = append(st.Links, Link{Index: 4, Name: "docker0", Kind: "bridge"})
				bridge := linkRoute(TableMain, "172.17.0.0/16", 4, "172.17.0.1")
				bridge.Linkdown = true
				behind := gwRoute(TableMain, "10.50.0.0/16", "172.17.0.5", 4, 0)
				behind.Linkdown = true
				def := gwRoute(TableMain, "0.0.0.0/0", "172.17.0.5", 4, 900)
				def.Linkdown = true
				st.Routes = append(st.Routes, bridge, behind, def)
				return st
			},
			want: []string{
				"ip -4 route add throw 172.17.0.0/16 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add throw 10.50.0.0/16 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route add throw 172.17.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route add throw 10.50.0.0/16 table 1003 proto 234 scope 0 metric 0",
			},
		},
		{
			name: "a subnet whose link lost its carrier is still thrown",
			state: func() *State {
				st := seedSynced()
				st.Routes[1].Linkdown = true
				st.Routes[3].Linkdown = true
				return st
			},
			want: []string{
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
			},
		},
	})
}
