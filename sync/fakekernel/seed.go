package fakekernel

import (
	"net/netip"

	"github.com/symroute/symroute/sync/plan"
)

// SeedHost is the tests' seed host before a pass: em1 (10.0.0.2/16,
// default via 10.0.0.1) and em2 (192.168.0.2/24, default via
// 192.168.0.1), with the kernel's rules and main's routes only.
func SeedHost() plan.State {
	return plan.State{
		Links: []plan.Link{{Index: 1, Name: "lo", Loopback: true}, {Index: 2, Name: "em1"}, {Index: 3, Name: "em2"}},
		Addrs: []plan.Addr{{Link: 2, Prefix: netip.MustParsePrefix("10.0.0.2/16")}, {Link: 3, Prefix: netip.MustParsePrefix("192.168.0.2/24")}},
		Rules: []plan.Rule{
			{Family: plan.FamilyV4, Priority: 0, Table: 255, Action: 1, Protocol: 2},
			{Family: plan.FamilyV4, Priority: 32766, Table: 254, Action: 1, Protocol: 2},
		},
		Routes: []plan.Route{
			{Family: 2, Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: 1, Protocol: 16, Gw: netip.MustParseAddr("10.0.0.1"), Link: 2, Priority: 105},
			{Family: 2, Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: 1, Protocol: 16, Gw: netip.MustParseAddr("192.168.0.1"), Link: 3, Priority: 106},
			{Family: 2, Table: 254, Dst: netip.MustParsePrefix("10.0.0.0/16"), Type: 1, Protocol: 2, Scope: 253, Link: 2, Src: netip.MustParseAddr("10.0.0.2")},
			{Family: 2, Table: 254, Dst: netip.MustParsePrefix("192.168.0.0/24"), Type: 1, Protocol: 2, Scope: 253, Link: 3, Src: netip.MustParseAddr("192.168.0.2")},
		},
	}
}
