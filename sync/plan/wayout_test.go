package plan

import (
	"testing"
)

// noWayOut is the seed host in sync, but main has no default through em2
// (never-default, UseGateway=no, a cloud's secondary NIC): em2's table has
// its subnet and the throw of em1's, nothing else.
func noWayOut() *State {
	st := seedSynced()
	var routes []Route
	for _, r := range st.Routes {
		if !(r.Dst.Bits() == 0 && r.Link == 3) {
			routes = append(routes, r)
		}
	}
	st.Routes = routes
	return st
}

func gateways(vs ...string) func(*Options) {
	return func(o *Options) {
		for _, v := range vs {
			g, err := ParseGateway(v)
			if err != nil {
				panic(err)
			}
			o.Gateways = append(o.Gateways, g)
		}
	}
}

func TestComputeWayOut(t *testing.T) {
	v6 := func(st *State) *State {
		st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("2001:db8:2::2/64")})
		st.Routes = append(st.Routes, Route{Family: FamilyV6, Table: TableMain, Dst: pfx("2001:db8:2::/64"), Type: RouteUnicast,
			Protocol: 2, Link: 3, Priority: 256})
		st.Rules = append(st.Rules, Rule{Family: FamilyV6, Priority: 32765, Src: pfx("2001:db8:2::2/128"), Table: 1003,
			Action: RuleActionLookup, Protocol: Protocol})
		return st
	}
	withV6Table := func() *State {
		st := v6(noWayOut())
		st.Routes = append(st.Routes, Route{Family: FamilyV6, Table: 1003, Dst: pfx("2001:db8:2::/64"), Type: RouteUnicast,
			Protocol: 2, Link: 3, Priority: 256})
		st.Rules = append(st.Rules, oifRule(FamilyV6, "em2", 1003))
		return st
	}
	runCompute(t, []computeCase{
		{
			name:     "no router anywhere: nothing to add",
			state:    noWayOut,
			want:     []string{},
			warnings: []string{noWayOutWarning("em2", "IPv4")},
		},
		{
			name: "main has no IPv4 default at all: no warning",
			state: func() *State {
				st := noWayOut()
				var routes []Route
				for _, r := range st.Routes {
					if r.Dst.Bits() != 0 { // main's and em1's table's
						routes = append(routes, r)
					}
				}
				st.Routes = routes
				return st
			},
			want: []string{},
		},
		{
			name:  "--gateway gives em2 its default, symroute's",
			state: noWayOut,
			opts:  gateways("em2=192.168.0.1"),
			want:  []string{"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0"},
		},
		{
			name:  "main's default through the link wins over --gateway",
			state: seedSynced,
			opts:  gateways("em2=192.168.0.254", "em1=10.0.0.254"),
			want:  []string{},
		},
		{
			name:  "the first --gateway matching a link and family wins; a glob matches",
			state: noWayOut,
			opts:  gateways("em[23]=192.168.0.7", "em2=192.168.0.1", "em*=first-host"),
			want:  []string{"ip -4 route add default via 192.168.0.7 dev em2 table 1003 proto 234 scope 0 metric 0"},
		},
		{
			name: "--gateway beats a lease, which beats first-host",
			state: func() *State {
				st := noWayOut()
				st.Routers = []Router{{Link: 3, Gw: ip("192.168.0.9"), Source: RouterLease, Stack: "dhcpcd"}}
				return st
			},
			opts: gateways("em2=first-host"),
			want: []string{"ip -4 route add default via 192.168.0.9 dev em2 table 1003 proto 234 scope 0 metric 0"},
		},
		{
			name:  "first-host: the first host of the link's subnet",
			state: noWayOut,
			opts:  gateways("em*=first-host"),
			want:  []string{"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0"},
		},
		{
			name: "first-host on a /32: none, said so",
			state: func() *State {
				st := noWayOut()
				st.Addrs[2].Prefix = pfx("192.168.0.2/32")
				return st
			},
			opts:     gateways("em2=first-host"),
			want:     []string{},
			warnings: []string{noWayOutWarning("em2", "IPv4"), "gateway em2=first-host: link em2 has no IPv4 subnet whose first host is another's (a /31 or /32, or its own address): no default from it; give its router (gateway = em2=ROUTER)"},
		},
		{
			name: "a lease router off a /32 address's link is reached onlink (GCP)",
			state: func() *State {
				st := noWayOut()
				st.Addrs[2].Prefix = pfx("192.168.0.2/32")
				st.Routers = []Router{{Link: 3, Gw: ip("192.168.0.1"), Source: RouterLease}}
				return st
			},
			want: []string{"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0 onlink"},
		},
		{
			name:     "a router on none of the link's subnets is not used, said so",
			state:    noWayOut,
			opts:     gateways("em2=172.16.9.9"),
			want:     []string{},
			warnings: []string{noWayOutWarning("em2", "IPv4"), "router 172.16.9.9 of link em2 (--gateway em2=172.16.9.9) is on none of its subnets: not used; give a router on one of its subnets (gateway = em2=ROUTER)"},
		},
		{
			name: "IPv6: an advertised router, link-local, at metric 1",
			state: func() *State {
				st := withV6Table()
				st.Routers = []Router{{Link: 3, Gw: ip("fe80::1"), Source: RouterRA}}
				return st
			},
			want:     []string{"ip -6 route add default via fe80::1 dev em2 table 1003 proto 234 scope 0 metric 1"},
			warnings: []string{noWayOutWarning("em2", "IPv4")},
		},
		{
			name: "IPv6: --gateway before the advertised router; an IPv4 one gives IPv4 only",
			state: func() *State {
				st := withV6Table()
				st.Routers = []Router{{Link: 3, Gw: ip("fe80::1"), Source: RouterRA}}
				return st
			},
			opts: gateways("em2=192.168.0.1", "em2=fe80::2"),
			want: []string{
				"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0",
				"ip -6 route add default via fe80::2 dev em2 table 1003 proto 234 scope 0 metric 1",
			},
		},
		{
			name: "the option dropped: symroute's default goes",
			state: func() *State {
				st := noWayOut()
				st.Routes = append(st.Routes, Route{Family: FamilyV4, Table: 1003, Dst: pfx("0.0.0.0/0"), Type: RouteUnicast,
					Protocol: Protocol, Gw: ip("192.168.0.1"), Link: 3})
				return st
			},
			want:     []string{"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0"},
			warnings: []string{noWayOutWarning("em2", "IPv4")},
		},
		{
			name: "LINK=none: a link with no router on purpose (a storage network) gets no default and no warning, whatever a lease says",
			state: func() *State {
				st := v6(noWayOut())
				st.Routes = append(st.Routes, Route{Family: FamilyV6, Table: TableMain, Dst: pfx("::/0"), Type: RouteUnicast,
					Protocol: 3, Gw: ip("fe80::9"), Link: 2, Priority: 1024})
				st.Routers = []Router{{Link: 3, Gw: ip("192.168.0.1"), Source: RouterLease}}
				return st
			},
			opts: gateways("em2=none", "em*=192.168.0.1"),
			want: []string{
				"ip -6 route add 2001:db8:2::/64 dev em2 table 1003 proto 2 scope 0 metric 256",
				"ip -6 rule add priority 32765 oif em2 table 1003 protocol 234",
			},
		},
		{
			name:  "LINK=none after a match of the link is not reached: the first that matches wins",
			state: noWayOut,
			opts:  gateways("em2=192.168.0.1", "em*=none"),
			want:  []string{"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0"},
		},
		{
			name: "a default of main through an unmanaged link gives way in the table where the key is one",
			state: func() *State {
				st := noWayOut()
				st.Links = append(st.Links, Link{Index: 4, Name: "wg0", Kind: "wireguard"})
				st.Routes = append(st.Routes, Route{Family: FamilyV4, Table: TableMain, Dst: pfx("0.0.0.0/0"), Type: RouteUnicast,
					Protocol: 3, Link: 4, Scope: ScopeLink})
				return st
			},
			opts: gateways("em2=192.168.0.1"),
			want: []string{
				"ip -4 route add default dev wg0 table 1002 proto 3 scope 253 metric 0",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1003 proto 234 scope 0 metric 0",
			},
		},
	})
}

func TestParseGateway(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Gateway
		err  string
	}{
		{in: "em2=192.168.0.1", want: Gateway{Links: "em2", Addr: ip("192.168.0.1")}},
		{in: "eth*=first-host", want: Gateway{Links: "eth*", FirstHost: true}},
		{in: "san*=none", want: Gateway{Links: "san*", None: true}},
		{in: "em2=fe80::1", want: Gateway{Links: "em2", Addr: ip("fe80::1")}},
		{in: "em2=2001:db8::1", want: Gateway{Links: "em2", Addr: ip("2001:db8::1")}},
		{in: "em2", err: `gateway "em2": want LINK=ADDR, GLOB=first-host or GLOB=none`},
		{in: "=192.168.0.1", err: `gateway "=192.168.0.1": want LINK=ADDR, GLOB=first-host or GLOB=none`},
		{in: "em2=", err: `gateway "em2=": want LINK=ADDR, GLOB=first-host or GLOB=none`},
		{in: "em[=192.168.0.1", err: `gateway "em[=192.168.0.1": bad glob "em["`},
		{in: "em2=first_host", err: `gateway "em2=first_host": "first_host" is neither an address, first-host nor none`},
		{in: "em2=192.168.0.0/24", err: `gateway "em2=192.168.0.0/24": "192.168.0.0/24" is neither an address, first-host nor none`},
		{in: "em2=0.0.0.0", err: `gateway "em2=0.0.0.0": 0.0.0.0 is not a unicast address a route can go via`},
		{in: "em2=::", err: `gateway "em2=::": :: is not a unicast address a route can go via`},
		{in: "em2=224.0.0.1", err: `gateway "em2=224.0.0.1": 224.0.0.1 is not a unicast address a route can go via`},
		{in: "em2=ff02::1", err: `gateway "em2=ff02::1": ff02::1 is not a unicast address a route can go via`},
		{in: "em2=255.255.255.255", err: `gateway "em2=255.255.255.255": 255.255.255.255 is not a unicast address a route can go via`},
		{in: "em2=127.0.0.1", err: `gateway "em2=127.0.0.1": 127.0.0.1 is not a unicast address a route can go via`},
		{in: "em2=::1", err: `gateway "em2=::1": ::1 is not a unicast address a route can go via`},
		{in: "em2=169.254.0.1", err: `gateway "em2=169.254.0.1": 169.254.0.1 is IPv4 link-local`},
		{in: "em2=fe80::1%em2", err: `gateway "em2=fe80::1%em2": no zone: the link names it`},
		{in: "em2=::ffff:10.0.0.1", err: `gateway "em2=::ffff:10.0.0.1": an IPv4-mapped address; give it as IPv4`},
	} {
		got, err := ParseGateway(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseGateway(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || len(err.Error()) < len(tc.err) || err.Error()[:len(tc.err)] != tc.err):
			t.Errorf("ParseGateway(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseGateway(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// noWayOutWarning stands for a link the mirror notes as having no way
// out in a family (fam "IPv4" or "IPv6"), which package report warns of.
func noWayOutWarning(link, fam string) string { return "no way out: " + link + " " + fam }
