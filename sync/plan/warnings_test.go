package plan

import (
	"fmt"
	"testing"
)

var fmtSprintf = fmt.Sprintf

func TestWarnings(t *testing.T) {
	const (
		flux = "links em1 and em2 are both in 10.0.0.0/16 and ARP flux is not stopped on %s: a neighbour may send one link's traffic " +
			"to the other's MAC, and its replies then leave by the other link; set net.ipv4.conf.all.arp_ignore=1 and " +
			"net.ipv4.conf.all.arp_announce=2 (or arp_filter=1)"
		strict = "link %s has strict rp_filter (1): a connection arriving on %[1]s for an address not on it (another uplink's, a VIP on lo) " +
			"is dropped, as its reply would leave by another link; set net.ipv4.conf.%[1]s.rp_filter=2 (loose), or turn on --follow-ingress"
		ahead = "rule '%s' is not symroute's and comes before its rules (priority 32765): traffic from %s never reaches them; " +
			"give that rule a priority after 32765, or narrow its selectors"
		tunnel = "rule '%s' is not symroute's, comes before its rules (priority 32765), and table %s holds a default: replies from " +
			"10.0.0.2, 192.168.0.2 leave by that table, not by their links (a full-tunnel VPN does this, wg-quick's or a Tailscale exit " +
			"node's); give symroute a priority before that rule (priority = %d in symroute.conf)"
	)
	sprintf := func(format string, a ...any) string { return fmtSprintf(format, a...) }
	// sameSubnet gives em2 a second address in em1's subnet.
	sameSubnet := func(f func(st *State)) func() *State {
		return func() *State {
			st := seedSynced()
			st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("10.0.0.3/16")})
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.0.0.3/32"), Table: 1003, Action: RuleActionLookup, Protocol: Protocol})
			f(st)
			return st
		}
	}
	with := func(f func(st *State)) func() *State {
		return func() *State {
			st := seedSynced()
			f(st)
			return st
		}
	}
	foreign := func(r Rule) func() *State {
		return with(func(st *State) { st.Rules = append(st.Rules, r) })
	}
	none := []string{}
	runCompute(t, []computeCase{
		{name: "ARP flux on both links", state: sameSubnet(func(st *State) {}), want: none,
			warnings: []string{sprintf(flux, "em1 and em2")}},
		{name: "ARP flux on one link: arp_filter on the other", state: sameSubnet(func(st *State) { st.Links[1].ArpFilter = 1 }), want: none,
			warnings: []string{sprintf(flux, "em2")}},
		{name: "ARP flux stopped by all.arp_ignore", state: sameSubnet(func(st *State) { st.Host.ConfAll.ArpIgnore = 1 }), want: none},
		{name: "ARP flux stopped by all.arp_filter", state: sameSubnet(func(st *State) { st.Host.ConfAll.ArpFilter = 1 }), want: none},
		{name: "ARP flux stopped on each link by its own arp_ignore", state: sameSubnet(func(st *State) { st.Links[1].ArpIgnore, st.Links[2].ArpIgnore = 2, 1 }), want: none},
		{name: "ARP settings unknown: no warning", state: sameSubnet(func(st *State) { st.Host.ConfAll.ArpIgnore = -1 }), want: none},
		{name: "two subnets: no ARP flux warning", state: seedSynced, want: none},
		{name: "ARP flux, a subnet inside another", state: with(func(st *State) {
			st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("10.0.1.3/24")})
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.0.1.3/32"), Table: 1003, Action: RuleActionLookup, Protocol: Protocol})
		}), want: nil, warnings: []string{sprintf(flux, "em1 and em2")}},

		{name: "strict rp_filter on one link", state: with(func(st *State) { st.Links[2].RPFilter = 1 }), want: none,
			warnings: []string{sprintf(strict, "em2")}},
		{name: "wg-quick's full tunnel ahead of ours, its table holding a default", state: with(func(st *State) {
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32764, Mark: 0xca6c, Mask: 0xffffffff, Table: 51820,
				Action: RuleActionLookup, Other: true, Selectors: "not"})
			st.Host.DefaultTables = map[uint32]bool{51820: true}
		}), want: none, warnings: []string{sprintf(tunnel, "32764: not from all fwmark 0xca6c/0xffffffff lookup 51820", "51820", 16382)}},
		{name: "a Tailscale exit node's table 52 ahead of ours", state: with(func(st *State) {
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 5270, Table: 52, Action: RuleActionLookup})
			st.Host.DefaultTables = map[uint32]bool{52: true}
		}), want: none, warnings: []string{sprintf(tunnel, "5270: from all lookup 52", "52", 2635)}},
		{name: "Tailscale without an exit node: its table holds no default", state: with(func(st *State) {
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 5270, Table: 52, Action: RuleActionLookup})
		}), want: none},
		{name: "strict rp_filter on all", state: with(func(st *State) { st.Host.ConfAll.RPFilter = 1 }), want: none,
			warnings: []string{sprintf(strict, "em1"), sprintf(strict, "em2")}},
		{name: "loose rp_filter on all wins over strict on a link", state: with(func(st *State) { st.Host.ConfAll.RPFilter, st.Links[2].RPFilter = 2, 1 }), want: none},
		{name: "strict rp_filter with follow-ingress", state: with(func(st *State) { st.Links[2].RPFilter = 1 }),
			opts: func(o *Options) { o.FollowIngress = true }, want: nil, ingressErr: "", warnings: nil},
		{name: "strict rp_filter, one routed link", state: with(func(st *State) {
			st.Links[2].RPFilter = 1
			st.Addrs = st.Addrs[:1]
		}), want: nil},
		{name: "rp_filter unknown", state: with(func(st *State) { st.Links[2].RPFilter, st.Host.ConfAll.RPFilter = 1, -1 }), want: none},

		{name: "a rule from all ahead of ours", state: foreign(Rule{Family: FamilyV4, Priority: 100, Table: TableMain, Action: RuleActionLookup}), want: none,
			warnings: []string{sprintf(ahead, "100: from all lookup main", "10.0.0.2, 192.168.0.2")}},
		{name: "a rule from a subnet ahead of ours", state: foreign(Rule{Family: FamilyV4, Priority: 100, Src: pfx("10.0.0.0/16"), Table: TableMain, Action: RuleActionLookup}), want: none,
			warnings: []string{sprintf(ahead, "100: from 10.0.0.0/16 lookup main", "10.0.0.2")}},
		{name: "a lookup of another table ahead of ours decides only its own routes", state: foreign(Rule{Family: FamilyV4, Priority: 5270, Table: 52, Action: RuleActionLookup}), want: none},
		{name: "a blackhole ahead of ours", state: foreign(Rule{Family: FamilyV4, Priority: 5, Src: pfx("192.168.0.2/32"), Action: ruleActionBlackhole}), want: none,
			warnings: []string{sprintf(ahead, "5: from 192.168.0.2 blackhole", "192.168.0.2")}},
		{name: "a fwmark rule ahead of ours catches only marked traffic", state: foreign(Rule{Family: FamilyV4, Priority: 100, Mark: 1, Mask: 1, Table: 100, Action: RuleActionLookup}), want: none},
		{name: "a rule after ours", state: foreign(Rule{Family: FamilyV4, Priority: 32800, Table: 100, Action: RuleActionLookup}), want: none},
		{name: "a rule ahead of ours for other sources", state: foreign(Rule{Family: FamilyV4, Priority: 100, Src: pfx("172.16.0.0/12"), Table: 100, Action: RuleActionLookup}), want: none},
		{name: "networkd deletes our rules", state: with(func(st *State) { st.Host.Networkd = Networkd{Running: true} }), want: none,
			warnings: []string{"systemd-networkd runs without ManageForeignRoutingPolicyRules=no: it deletes symroute's rules whenever it " +
				"configures a link (at its start, on networkctl reconfigure); install /usr/lib/systemd/networkd.conf.d/symroute.conf " +
				"(the package does) and restart systemd-networkd"}},
		{name: "networkd keeps them", state: with(func(st *State) { st.Host.Networkd = Networkd{Running: true, KeepsForeignRules: true, File: "/x.conf"} }), want: none},
		{name: "networkd has not read the drop-in yet", state: with(func(st *State) {
			st.Host.Networkd = Networkd{Running: true, KeepsForeignRules: true, NotYet: true, File: "/usr/lib/systemd/networkd.conf.d/symroute.conf"}
		}), want: none,
			warnings: []string{"systemd-networkd started before /usr/lib/systemd/networkd.conf.d/symroute.conf set ManageForeignRoutingPolicyRules=no, " +
				"and reads it only when it starts: until it restarts it deletes symroute's rules whenever it configures a link " +
				"(the hooks put them back); restart systemd-networkd when convenient"}},
		{name: "no networkd", state: with(func(st *State) { st.Host.Networkd = Networkd{KeepsForeignRules: false} }), want: none},
		{name: "a NetworkManager connection with its own table and rules", state: with(func(st *State) {
			st.Host.NMRouting = []NMRouting{{Link: 3, Connection: "Wired 2", Table4: 100, Rules6: 2}, {Link: 9, Connection: "gone", Table4: 5}}
		}), want: none,
			warnings: []string{"NetworkManager connection 'Wired 2' on em2 has ipv4.route-table 100 and 2 ipv6.routing-rules: NetworkManager then " +
				"routes em2 by tables and rules of its own, beside symroute's; drop them from the connection (nmcli connection modify ... " +
				"ipv4.route-table 0 ipv4.routing-rules \"\"), or exclude em2 from symroute"}},
		{name: "an IPv6 rule from all ahead of ours", state: foreign(Rule{Family: FamilyV6, Priority: 100, Table: 100, Action: RuleActionLookup}), want: none},
	})
}
