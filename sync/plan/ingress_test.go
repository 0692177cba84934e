package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fixtures for --follow-ingress: the seed host in sync, with the option's
// fwmark rules, table and src_valid_mark in place.

const v1, v2, v3 = 0x01000000, 0x02000000, 0x03000000

func markRule(fam uint8, mark uint32, table uint32) Rule {
	return Rule{Family: fam, Priority: DefaultPriority - 1, Mark: mark, Mask: DefaultIngressMask, Table: table,
		Action: RuleActionLookup, Protocol: Protocol}
}

// forwardRule is the rule that routes what a link's value marks as it
// comes in by main's routes other than a default.
func forwardRule(fam uint8, mark uint32, link string) Rule {
	return Rule{Family: fam, Priority: DefaultPriority - 2, Iif: link, Mark: mark, Mask: DefaultIngressMask, Table: TableMain,
		SuppressDefault: true, Action: RuleActionLookup, Protocol: Protocol}
}

// ingressSynced is the seed host after a pass with --follow-ingress.
func ingressSynced() *State {
	st := seedSynced()
	st.Rules = append(st.Rules, forwardRule(FamilyV4, v1, "em1"), markRule(FamilyV4, v1, 1002),
		forwardRule(FamilyV4, v2, "em2"), markRule(FamilyV4, v2, 1003))
	st.Ingress.Table = &Ingress{Mask: DefaultIngressMask,
		Links: []IngressLink{{2, v1}, {3, v2}}, SrcValidMark: []int{2, 3}}
	st.Links[1].SrcValidMark = true
	st.Links[2].SrcValidMark = true
	return st
}

func follow(o *Options) { o.FollowIngress = true }

// describe renders a plan one line an op, a table write summed up.
func describe(st *State, p Plan) []string {
	rn := NewRenderer(st)
	out := []string{}
	for _, op := range p.Ops {
		out = append(out, rn.Describe(op))
	}
	return out
}

func TestComputeIngress(t *testing.T) {
	write12 := "nft: write table inet symroute, mask 0xff000000, links em1=0x01000000 em2=0x02000000"
	runCompute(t, []computeCase{
		{
			name: "switched on: rules, then the table, then src_valid_mark",
			state: func() *State {
				st := seedSynced()
				return st
			},
			opts: follow,
			want: []string{
				"ip -4 rule add priority 32763 fwmark 0x1000000/0xff000000 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x1000000/0xff000000 table 1002 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x2000000/0xff000000 iif em2 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x2000000/0xff000000 table 1003 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000 em2=0x02000000",
				"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=1'",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'",
			},
		},
		{name: "in sync", state: ingressSynced, opts: follow, want: []string{}},
		{
			name: "src_valid_mark turned off by someone: set again, table untouched",
			state: func() *State {
				st := ingressSynced()
				st.Links[2].SrcValidMark = false
				return st
			},
			opts: follow,
			want: []string{"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'"},
		},
		{
			name: "src_valid_mark on already, and not by symroute: neither recorded nor set",
			state: func() *State {
				st := seedSynced()
				st.Links[1].SrcValidMark = true
				return st
			},
			opts: follow,
			want: []string{
				"ip -4 rule add priority 32763 fwmark 0x1000000/0xff000000 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x1000000/0xff000000 table 1002 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x2000000/0xff000000 iif em2 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x2000000/0xff000000 table 1003 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000 em2=0x02000000",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'",
			},
		},
		{
			name: "a link gone: its value forgotten, its rules deleted, the others kept",
			state: func() *State {
				st := ingressSynced()
				// The kernel takes a link's addresses and routes with it;
				// rules stay.
				st.Links = st.Links[:2]
				st.Addrs = st.Addrs[:2]
				// Throws have no device: they stay.
				st.Routes = []Route{st.Routes[0], st.Routes[2], st.Routes[4], st.Routes[5], st.Routes[6], st.Routes[7]}
				return st
			},
			opts: follow,
			want: []string{
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000, retired 0x02000000",
				"conntrack -D -m 0x02000000/0xff000000 || :",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
				"ip -4 route del throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
			},
		},
		{
			name: "a link re-created with a new ifindex gets a new value, never the retired one",
			state: func() *State {
				st := ingressSynced()
				st.Links[2] = Link{Index: 8, Name: "em2"}
				st.Addrs[2].Link = 8
				var routes []Route
				for _, r := range st.Routes {
					if r.Table == TableMain && r.Link == 3 {
						r.Link = 8
					}
					if r.Table != 1003 {
						routes = append(routes, r)
					}
				}
				st.Routes = routes
				return st
			},
			opts: follow,
			want: []string{
				"ip -4 route add throw 10.0.0.0/16 table 1008 proto 234 scope 0 metric 0",
				"ip -4 route add 192.168.0.0/24 dev em2 table 1008 proto 2 scope 253 metric 0 src 192.168.0.2",
				"ip -4 route add default via 192.168.0.1 dev em2 table 1008 proto 16 scope 0 metric 106",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1008 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1008 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x3000000/0xff000000 iif em2 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x3000000/0xff000000 table 1008 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000 em2=0x03000000, retired 0x02000000",
				"conntrack -D -m 0x02000000/0xff000000 || :",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000 em2=0x03000000",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
			},
		},
		{
			name: "switched off: what symroute set is reset, values forgotten, table and rules gone",
			state: func() *State {
				st := ingressSynced()
				st.Ingress.Table.SrcValidMark = []int{3} // em1's was on already
				return st
			},
			want: []string{
				"ip -4 rule del priority 32763 fwmark 0x1000000/0xff000000 iif em1 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links none, retired 0x01000000 0x02000000",
				"conntrack -D -m 0x01000000/0xff000000 || :",
				"conntrack -D -m 0x02000000/0xff000000 || :",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=0'",
				"nft delete table inet symroute",
				"ip -4 rule del priority 32764 fwmark 0x1000000/0xff000000 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
			},
		},
		{
			name:  "flush takes it all, option or not",
			state: ingressSynced,
			opts:  func(o *Options) { o.Flush = true },
			want: []string{
				"ip -4 rule del priority 32765 oif em1 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x1000000/0xff000000 iif em1 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links none, retired 0x01000000 0x02000000",
				"conntrack -D -m 0x01000000/0xff000000 || :",
				"conntrack -D -m 0x02000000/0xff000000 || :",
				"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=0'",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=0'",
				"nft delete table inet symroute",
				"ip -4 rule del priority 32765 from 10.0.0.2/32 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x1000000/0xff000000 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
				"ip -4 route del default via 10.0.0.1 dev em1 table 1002 proto 16 scope 0 metric 105",
				"ip -4 route del throw 192.168.0.0/24 table 1002 proto 234 scope 0 metric 0",
				"ip -4 route del 10.0.0.0/16 dev em1 table 1002 proto 2 scope 253 metric 0 src 10.0.0.2",
				"ip -4 route del default via 192.168.0.1 dev em2 table 1003 proto 16 scope 0 metric 106",
				"ip -4 route del throw 10.0.0.0/16 table 1003 proto 234 scope 0 metric 0",
				"ip -4 route del 192.168.0.0/24 dev em2 table 1003 proto 2 scope 253 metric 0 src 192.168.0.2",
			},
		},
		{
			name: "values retired last round: forgotten again, before the write that drops them",
			state: func() *State {
				st := ingressSynced()
				st.Ingress.Table.Retired = []uint32{v3}
				return st
			},
			opts: follow,
			want: []string{"conntrack -D -m 0x03000000/0xff000000 || :", write12},
		},
		{
			name: "switched off, the round after: forgotten again, then the table goes",
			state: func() *State {
				st := seedSynced()
				st.Ingress.Table = &Ingress{Mask: DefaultIngressMask, SrcValidMark: []int{3}, Retired: []uint32{v1, v2}}
				return st
			},
			want: []string{
				"conntrack -D -m 0x01000000/0xff000000 || :",
				"conntrack -D -m 0x02000000/0xff000000 || :",
				"nft delete table inet symroute",
			},
		},
		{
			// The old mask's bits may be another program's now (the reason
			// to move): nothing is forgotten by them.
			name:  "a new mask moves every value and forgets nothing",
			state: ingressSynced,
			opts:  func(o *Options) { o.FollowIngress, o.IngressMask = true, 0x00f00000 },
			want: []string{
				"ip -4 rule del priority 32763 fwmark 0x1000000/0xff000000 iif em1 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x100000/0xf00000 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x100000/0xf00000 table 1002 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x200000/0xf00000 iif em2 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x200000/0xf00000 table 1003 protocol 234",
				"nft: write table inet symroute, mask 0x00f00000, links em1=0x00100000 em2=0x00200000",
				"ip -4 rule del priority 32764 fwmark 0x1000000/0xff000000 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
			},
		},
		{
			// As the review of issue 17 planted it: well formed, but the
			// values are an AWS VPC CNI's (0x80) under a mask not ours.
			name: "a record of another mask forgets nothing, option off",
			state: func() *State {
				st := seedSynced()
				st.Ingress.Table = &Ingress{Mask: 0xff, Links: []IngressLink{{99, 0x80}}, Retired: []uint32{0x81}}
				return st
			},
			opts: func(o *Options) {},
			want: []string{"nft delete table inet symroute"},
		},
		{
			name: "a table edited by hand is written anew",
			state: func() *State {
				st := ingressSynced()
				st.Ingress.Drift = "rule 3 of chain prerouting is not symroute's"
				return st
			},
			opts: follow,
			want: []string{write12},
		},
		{
			name: "a value outside the mask and one given twice: written anew, nothing forgotten, the value stays with the first link",
			state: func() *State {
				st := ingressSynced()
				st.Ingress.Table.Links = []IngressLink{{2, v1}, {3, v1}, {9, 0x80}}
				return st
			},
			opts: follow,
			want: []string{write12},
		},
		{
			name: "option off, a retired value 0 recorded: nothing forgotten (0 matches every unmarked entry)",
			state: func() *State {
				st := ingressSynced()
				st.Ingress.Table.Retired = []uint32{0}
				return st
			},
			opts: func(o *Options) {},
			want: []string{
				"ip -4 rule del priority 32763 fwmark 0x1000000/0xff000000 iif em1 unicast table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule del priority 32763 fwmark 0x2000000/0xff000000 iif em2 unicast table 254 suppress_prefixlength 0 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links none",
				"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=0'",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=0'",
				"nft delete table inet symroute",
				"ip -4 rule del priority 32764 fwmark 0x1000000/0xff000000 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32764 fwmark 0x2000000/0xff000000 unicast table 1003 protocol 234",
			},
		},
		{
			name: "a kernel without rule protocols refuses the option, the rest goes on",
			state: func() *State {
				st := seedState()
				for i := range st.Rules {
					st.Rules[i].Protocol = 0
				}
				return st
			},
			opts: follow,
			// Nor oif rules there: the plan of a kernel with protocols
			// and the option off.
			want:       render(seedState(), Compute(seedState(), Options{TableBase: 1000, Priority: 32765, IngressMask: DefaultIngressMask})),
			ingressErr: "follow-ingress: this kernel keeps no rule protocol",
		},
		{
			name: "no nftables: refused, nothing of it planned",
			state: func() *State {
				st := seedSynced()
				st.Ingress.Err = errors.New("protocol not supported")
				return st
			},
			opts:       follow,
			want:       []string{},
			ingressErr: "follow-ingress: nftables cannot be used: protocol not supported",
		},
		{
			name: "no nftables and the option off: nothing to do, nothing wrong",
			state: func() *State {
				st := seedSynced()
				st.Ingress.Err = errors.New("protocol not supported")
				return st
			},
			want: []string{},
		},
		{
			name: "values run out: the links past them are not steered, and said so",
			state: func() *State {
				st := &State{Links: []Link{{Index: 1, Name: "lo", Loopback: true}}, Rules: defaultRules()}
				for i := 2; i <= 5; i++ {
					st.Links = append(st.Links, Link{Index: i, Name: "em" + string(rune('0'+i-1))})
					st.Addrs = append(st.Addrs, Addr{Link: i, Prefix: pfx("10.0." + string(rune('0'+i)) + ".2/24")})
				}
				return st
			},
			opts: func(o *Options) { o.FollowIngress, o.IngressMask = true, 0x3 },
			want: []string{
				"ip -4 rule add priority 32765 from 10.0.2.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.3.2/32 table 1003 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.4.2/32 table 1004 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.5.2/32 table 1005 protocol 234",
				"ip -4 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -4 rule add priority 32765 oif em2 table 1003 protocol 234",
				"ip -4 rule add priority 32765 oif em3 table 1004 protocol 234",
				"ip -4 rule add priority 32765 oif em4 table 1005 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x1/0x3 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x1/0x3 table 1002 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x2/0x3 iif em2 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x2/0x3 table 1003 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x3/0x3 iif em3 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x3/0x3 table 1004 protocol 234",
				"nft: write table inet symroute, mask 0x00000003, links em1=0x00000001 em2=0x00000002 em3=0x00000003",
				"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=1'",
				"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'",
				"sysctl -qw 'net/ipv4/conf/em3/src_valid_mark=1'",
			},
			warnings: []string{"follow-ingress: no mark value left under mask 0x00000003 for link em4: its replies are not steered; use a wider --ingress-mark-mask"},
		},
		{
			name: "a clashing link, an excluded one and docker0 are not steered; IPv6 gets its rule",
			state: func() *State {
				st := seedSynced()
				st.Links = append(st.Links, Link{Index: 4, Name: "docker0", Kind: "bridge"})
				st.Addrs = append(st.Addrs, Addr{Link: 4, Prefix: pfx("172.17.0.1/16")},
					Addr{Link: 2, Prefix: pfx("2001:db8:1::2/64")})
				// Someone else's rule looks up em2's table.
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx("10.9.0.0/16"), Table: 1003, Action: RuleActionLookup})
				return st
			},
			opts: follow,
			want: []string{
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -6 rule add priority 32765 from 2001:db8:1::2/128 table 1002 protocol 234",
				"ip -6 rule add priority 32765 oif em1 table 1002 protocol 234",
				"ip -4 rule add priority 32763 fwmark 0x1000000/0xff000000 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -4 rule add priority 32764 fwmark 0x1000000/0xff000000 table 1002 protocol 234",
				"ip -6 rule add priority 32763 fwmark 0x1000000/0xff000000 iif em1 table 254 suppress_prefixlength 0 protocol 234",
				"ip -6 rule add priority 32764 fwmark 0x1000000/0xff000000 table 1002 protocol 234",
				"nft: write table inet symroute, mask 0xff000000, links em1=0x01000000",
				"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=1'",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 unicast table 1003 protocol 234",
			},
			clashes: []Clash{{Link: "em2", Index: 3, Table: 1003, Reason: "a rule not made by symroute ('100: from 10.9.0.0/16 lookup 1003')"}},
		},
	})
}

// Each way a record read back can make no sense, and one that makes sense.
func TestIngressInsane(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Ingress
		want string
	}{
		{"sane", Ingress{Mask: DefaultIngressMask, Links: []IngressLink{{2, v1}, {3, v2}}, Retired: []uint32{v3}}, ""},
		{"no mask", Ingress{Links: []IngressLink{{2, v1}}}, "its mask 0x00000000 has fewer than two bits"},
		{"a mask of one bit", Ingress{Mask: 0x80}, "its mask 0x00000080 has fewer than two bits"},
		{"a link's value 0", Ingress{Mask: DefaultIngressMask, Links: []IngressLink{{2, 0}}}, "link 2 has value 0"},
		{"a retired value 0", Ingress{Mask: DefaultIngressMask, Retired: []uint32{0}}, "a retired value has value 0"},
		{"a link's value outside the mask", Ingress{Mask: DefaultIngressMask, Links: []IngressLink{{2, v1 | 0x80}}},
			"link 2 has value 0x01000080, outside the mask 0xff000000"},
		{"a retired value outside the mask", Ingress{Mask: DefaultIngressMask, Retired: []uint32{0x80}},
			"a retired value has value 0x00000080, outside the mask 0xff000000"},
		{"two links, one value", Ingress{Mask: DefaultIngressMask, Links: []IngressLink{{2, v1}, {3, v1}}}, "value 0x01000000 is given twice"},
		{"a link's value retired too", Ingress{Mask: DefaultIngressMask, Links: []IngressLink{{2, v1}}, Retired: []uint32{v1}},
			"value 0x01000000 is given twice"},
	} {
		if got := tc.t.Insane(); got != tc.want {
			t.Errorf("%s: Insane() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIngressNft(t *testing.T) {
	tbl := &Ingress{Mask: 0xff000000, Links: []IngressLink{{2, v1}, {3, v2}}, SrcValidMark: []int{3}, Retired: []uint32{v3}}
	names := map[int]string{2: "em1", 3: "up\x1b[31m"}
	want := `table inet symroute {
	set src_valid_mark {
		type iface_index
		elements = { 3 }
	}
	set retired {
		type mark
		elements = { 0x03000000 }
	}
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta mark != 0x00000000 return
		iif 2 ct state new fib daddr type local ct mark set ct mark and 0x00ffffff or 0x01000000 # em1
		iif 3 ct state new fib daddr type local ct mark set ct mark and 0x00ffffff or 0x02000000 # up\x1b[31m
		ct mark and 0xff000000 == 0x00000000 return
		ct direction original iif 2 ct mark and 0xff000000 == 0x01000000 meta mark set 0x01000000 # em1
		ct direction reply ct mark and 0xff000000 == 0x01000000 meta mark set 0x01000000
		ct direction original iif 3 ct mark and 0xff000000 == 0x02000000 meta mark set 0x02000000 # up\x1b[31m
		ct direction reply ct mark and 0xff000000 == 0x02000000 meta mark set 0x02000000
	}
	chain output {
		type route hook output priority mangle; policy accept;
		meta mark != 0x00000000 return
		ct mark and 0xff000000 == 0x00000000 return
		ct direction reply ct mark and 0xff000000 == 0x01000000 meta mark set 0x01000000
		ct direction reply ct mark and 0xff000000 == 0x02000000 meta mark set 0x02000000
	}
	chain dnatted {
		type filter hook prerouting priority dstnat + 10; policy accept;
		iif 2 ct state new ct status dnat ct mark and 0xff000000 == 0x00000000 ct mark set ct mark and 0x00ffffff or 0x01000000 meta mark set meta mark and 0x00ffffff or 0x01000000 # em1
		iif 3 ct state new ct status dnat ct mark and 0xff000000 == 0x00000000 ct mark set ct mark and 0x00ffffff or 0x02000000 meta mark set meta mark and 0x00ffffff or 0x02000000 # up\x1b[31m
	}
}
`
	if diff := cmp.Diff(want, tbl.Nft(func(i int) string { return names[i] })); diff != "" {
		t.Errorf("nft text (-want +got):\n%s", diff)
	}
	// Sets of several elements list them comma-separated; an empty one has
	// no elements line (nft rejects "elements = { }").
	sets := (&Ingress{Mask: 0xff000000, SrcValidMark: []int{2, 3}}).Nft(func(int) string { return "" })
	wantSets := "\tset src_valid_mark {\n\t\ttype iface_index\n\t\telements = { 2, 3 }\n\t}\n\tset retired {\n\t\ttype mark\n\t}\n"
	if !strings.Contains(sets, wantSets) {
		t.Errorf("sets of a table with two src_valid_mark links and nothing retired:\n%s\nwant them as:\n%s", sets, wantSets)
	}
	// No link: the chains only let everything through.
	empty := (&Ingress{Mask: 0xff}).Rules()
	if len(empty) != 4 {
		t.Errorf("rules of a table without links: %+v", empty)
	}
}

func TestRenderIngressOps(t *testing.T) {
	rn := Renderer{LinkName: func(i int) string { return map[int]string{2: "em1.100", 3: "$(x)"}[i] }}
	tbl := &Ingress{Mask: 0xff000000, Links: []IngressLink{{2, v1}}}
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: IngressDelete, Ingress: &IngressOp{}}, "nft delete table inet symroute"},
		{Op{Kind: ConntrackForget, Ingress: &IngressOp{Mark: v3, Mask: 0xff000000}}, "conntrack -D -m 0x03000000/0xff000000 || :"},
		{Op{Kind: SrcValidMarkSet, Ingress: &IngressOp{Link: 2, Value: 1}}, "sysctl -qw 'net/ipv4/conf/em1.100/src_valid_mark=1'"},
		{Op{Kind: SrcValidMarkSet, Ingress: &IngressOp{Link: 3}}, `sysctl -qw 'net/ipv4/conf/$(x)/src_valid_mark=0'`},
		{Op{Kind: IngressWrite, Ingress: &IngressOp{Table: tbl}},
			"nft -f - <<'SYMROUTE_NFT'\nadd table inet symroute\ndelete table inet symroute\n" + tbl.Nft(rn.LinkName) + "SYMROUTE_NFT"},
	} {
		if got := rn.Render(tc.op); got != tc.want {
			t.Errorf("Render(%v) = %q, want %q", tc.op.Kind, got, tc.want)
		}
	}
}

func TestMarkValue(t *testing.T) {
	for _, tc := range []struct {
		mask, n, want uint32
	}{
		{0xff000000, 1, 0x01000000},
		{0xff000000, 255, 0xff000000},
		{0xff000000, 256, 0}, // does not fit
		{0x80000001, 1, 0x1},
		{0x80000001, 2, 0x80000000},
		{0x80000001, 3, 0x80000001},
		{0x0000f0f0, 0x1f, 0x000010f0},
	} {
		if got := MarkValue(tc.mask, tc.n); got != tc.want {
			t.Errorf("MarkValue(%#x, %d) = %#x, want %#x", tc.mask, tc.n, got, tc.want)
		}
	}
	if got := MarkValues(0xff000000); got != 255 {
		t.Errorf("MarkValues(0xff000000) = %d", got)
	}
	if got := MarkValues(0xffffffff); got != 1<<32-1 {
		t.Errorf("MarkValues(0xffffffff) = %d", got)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"em1":           "em1",
		"a\x1b]0;x\x07": `a\x1b]0;x\a`,
		"b\\c":          `b\\c`,
		"\xff":          `\xff`,
		"é":             `\u00e9`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
