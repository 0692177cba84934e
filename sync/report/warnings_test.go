package report

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/sync/plan"
)

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
	sprintf := fmt.Sprintf
	// sameSubnet gives em2 a second address in em1's subnet.
	sameSubnet := func(f func(st *plan.State)) func(st *plan.State) {
		return func(st *plan.State) {
			st.Addrs = append(st.Addrs, plan.Addr{Link: 3, Prefix: pfx("10.0.0.3/16")})
			st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.0.0.3/32"), Table: 1003,
				Action: plan.RuleActionLookup, Protocol: plan.Protocol})
			f(st)
		}
	}
	with := func(f func(st *plan.State)) func(st *plan.State) { return f }
	foreign := func(r plan.Rule) func(st *plan.State) {
		return with(func(st *plan.State) { st.Rules = append(st.Rules, r) })
	}
	const none = true
	runWarnings(t, []warnCase{
		{name: "ARP flux on both links", edit: sameSubnet(func(st *plan.State) {}), noOps: none,
			warnings: []string{sprintf(flux, "em1 and em2")}},
		{name: "ARP flux on one link: arp_filter on the other", edit: sameSubnet(func(st *plan.State) { st.Links[1].ArpFilter = 1 }), noOps: none,
			warnings: []string{sprintf(flux, "em2")}},
		{name: "ARP flux stopped by all.arp_ignore", edit: sameSubnet(func(st *plan.State) { st.Host.ConfAll.ArpIgnore = 1 }), noOps: none},
		{name: "ARP flux stopped by all.arp_filter", edit: sameSubnet(func(st *plan.State) { st.Host.ConfAll.ArpFilter = 1 }), noOps: none},
		{name: "ARP flux stopped on each link by its own arp_ignore", edit: sameSubnet(func(st *plan.State) { st.Links[1].ArpIgnore, st.Links[2].ArpIgnore = 2, 1 }), noOps: none},
		{name: "ARP settings unknown: no warning", edit: sameSubnet(func(st *plan.State) { st.Host.ConfAll.ArpIgnore = -1 }), noOps: none},
		{name: "two subnets: no ARP flux warning", noOps: none},
		{name: "ARP flux, a subnet inside another", edit: with(func(st *plan.State) {
			st.Addrs = append(st.Addrs, plan.Addr{Link: 3, Prefix: pfx("10.0.1.3/24")})
			st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.0.1.3/32"), Table: 1003, Action: plan.RuleActionLookup, Protocol: plan.Protocol})
		}), warnings: []string{sprintf(flux, "em1 and em2")}},

		{name: "strict rp_filter on one link", edit: with(func(st *plan.State) { st.Links[2].RPFilter = 1 }), noOps: none,
			warnings: []string{sprintf(strict, "em2")}},
		{name: "wg-quick's full tunnel ahead of ours, its table holding a default", edit: with(func(st *plan.State) {
			st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 32764, Mark: 0xca6c, Mask: 0xffffffff, Table: 51820,
				Action: plan.RuleActionLookup, Other: true, Selectors: "not"})
			st.Routes = append(st.Routes, defaultIn(51820))
		}), noOps: none, warnings: []string{sprintf(tunnel, "32764: not from all fwmark 0xca6c/0xffffffff lookup 51820", "51820", 16382)}},
		{name: "a Tailscale exit node's table 52 ahead of ours", edit: with(func(st *plan.State) {
			st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 5270, Table: 52, Action: plan.RuleActionLookup})
			st.Routes = append(st.Routes, defaultIn(52))
		}), noOps: none, warnings: []string{sprintf(tunnel, "5270: from all lookup 52", "52", 2635)}},
		{name: "Tailscale without an exit node: its table holds no default", edit: with(func(st *plan.State) {
			st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 5270, Table: 52, Action: plan.RuleActionLookup})
		}), noOps: none},
		{name: "strict rp_filter on all", edit: with(func(st *plan.State) { st.Host.ConfAll.RPFilter = 1 }), noOps: none,
			warnings: []string{sprintf(strict, "em1"), sprintf(strict, "em2")}},
		{name: "loose rp_filter on all wins over strict on a link", edit: with(func(st *plan.State) { st.Host.ConfAll.RPFilter, st.Links[2].RPFilter = 2, 1 }), noOps: none},
		{name: "strict rp_filter with follow-ingress", edit: with(func(st *plan.State) { st.Links[2].RPFilter = 1 }),
			opts: func(o *plan.Options) { o.FollowIngress = true }},
		{name: "strict rp_filter, one routed link", edit: with(func(st *plan.State) {
			st.Links[2].RPFilter = 1
			st.Addrs = st.Addrs[:1]
		})},
		{name: "rp_filter unknown", edit: with(func(st *plan.State) { st.Links[2].RPFilter, st.Host.ConfAll.RPFilter = 1, -1 }), noOps: none},

		{name: "a rule from all ahead of ours", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 100, Table: plan.TableMain, Action: plan.RuleActionLookup}), noOps: none,
			warnings: []string{sprintf(ahead, "100: from all lookup main", "10.0.0.2, 192.168.0.2")}},
		{name: "a rule from a subnet ahead of ours", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 100, Src: pfx("10.0.0.0/16"), Table: plan.TableMain, Action: plan.RuleActionLookup}), noOps: none,
			warnings: []string{sprintf(ahead, "100: from 10.0.0.0/16 lookup main", "10.0.0.2")}},
		{name: "a lookup of another table ahead of ours decides only its own routes", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 5270, Table: 52, Action: plan.RuleActionLookup}), noOps: none},
		{name: "a blackhole ahead of ours", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 5, Src: pfx("192.168.0.2/32"), Action: 6 /* blackhole */}), noOps: none,
			warnings: []string{sprintf(ahead, "5: from 192.168.0.2 blackhole", "192.168.0.2")}},
		{name: "a fwmark rule ahead of ours catches only marked traffic", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 100, Mark: 1, Mask: 1, Table: 100, Action: plan.RuleActionLookup}), noOps: none},
		{name: "a rule after ours", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 32800, Table: 100, Action: plan.RuleActionLookup}), noOps: none},
		{name: "a rule ahead of ours for other sources", edit: foreign(plan.Rule{Family: plan.FamilyV4, Priority: 100, Src: pfx("172.16.0.0/12"), Table: 100, Action: plan.RuleActionLookup}), noOps: none},
		{name: "networkd deletes our rules", edit: with(func(st *plan.State) { st.Host.Networkd = plan.Networkd{Running: true} }), noOps: none,
			warnings: []string{"systemd-networkd runs without ManageForeignRoutingPolicyRules=no: it deletes symroute's rules whenever it " +
				"configures a link (at its start, on networkctl reconfigure); install /usr/lib/systemd/networkd.conf.d/symroute.conf " +
				"(the package does) and restart systemd-networkd"}},
		{name: "networkd keeps them", edit: with(func(st *plan.State) {
			st.Host.Networkd = plan.Networkd{Running: true, KeepsForeignRules: true, File: "/x.conf"}
		}), noOps: none},
		{name: "networkd has not read the drop-in yet", edit: with(func(st *plan.State) {
			st.Host.Networkd = plan.Networkd{Running: true, KeepsForeignRules: true, NotYet: true, File: "/usr/lib/systemd/networkd.conf.d/symroute.conf"}
		}), noOps: none,
			warnings: []string{"systemd-networkd started before /usr/lib/systemd/networkd.conf.d/symroute.conf set ManageForeignRoutingPolicyRules=no, " +
				"and reads it only when it starts: until it restarts it deletes symroute's rules whenever it configures a link " +
				"(the hooks put them back); restart systemd-networkd when convenient"}},
		{name: "no networkd", edit: with(func(st *plan.State) { st.Host.Networkd = plan.Networkd{KeepsForeignRules: false} }), noOps: none},
		{name: "a NetworkManager connection with its own table and rules", edit: with(func(st *plan.State) {
			st.Host.NMRouting = []plan.NMRouting{{Link: 3, Connection: "Wired 2", Table4: 100, Rules6: 2}, {Link: 9, Connection: "gone", Table4: 5}}
		}), noOps: none,
			warnings: []string{"NetworkManager connection 'Wired 2' on em2 has ipv4.route-table 100 and 2 ipv6.routing-rules: NetworkManager then " +
				"routes em2 by tables and rules of its own, beside symroute's; drop them from the connection (nmcli connection modify ... " +
				"ipv4.route-table 0 ipv4.routing-rules \"\"), or exclude em2 from symroute"}},
		{name: "an IPv6 rule from all ahead of ours", edit: foreign(plan.Rule{Family: plan.FamilyV6, Priority: 100, Table: 100, Action: plan.RuleActionLookup}), noOps: none},
	})
}

type warnCase struct {
	name     string
	edit     func(st *plan.State) // the seed host after a pass, changed
	opts     func(*plan.Options)
	noOps    bool // the host stays in sync: warnings change no plan
	warnings []string
}

func runWarnings(t *testing.T, cases []warnCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := plan.DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			st, m := seedHost(t, o, true, tc.edit)
			p := plan.Diff(st, m)
			if tc.noOps && len(p.Ops) > 0 {
				t.Errorf("the case plans %d changes, want none", len(p.Ops))
			}
			got := warningTexts(t, Warnings(st, m, p, o))
			if diff := cmp.Diff(tc.warnings, got, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
