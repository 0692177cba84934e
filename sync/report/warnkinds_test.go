package report

import (
	"strings"
	"testing"

	"github.com/symroute/symroute/sync/plan"
)

// warningTexts is how the log says ws, each checked to be a row's of
// warningKinds and to hold its text.
func warningTexts(t *testing.T, ws []plan.Warning) []string {
	t.Helper()
	known := map[plan.WarningID]bool{}
	for _, id := range WarningIDs() {
		known[id] = true
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		if !known[w.ID] || w.Text == "" {
			t.Errorf("warning of ID %q (no row of warningKinds has it) or with no text: %+v", w.ID, w)
		}
		out[i] = w.String()
	}
	return out
}

// TestWarningKinds has a case per row of warningKinds: a host that raises
// it, with the link it is about and the start of its text. A row without
// a case fails, so a new warning comes with its test.
func TestWarningKinds(t *testing.T) {
	type want struct {
		link, text, fix string
	}
	// noWayOut takes main's default through em2 away (never-default,
	// UseGateway=no, a cloud's secondary NIC).
	noWayOut := func(st *plan.State) {
		var routes []plan.Route
		for _, r := range st.Routes {
			if !(r.Dst.Bits() == 0 && r.Link == 3) {
				routes = append(routes, r)
			}
		}
		st.Routes = routes
	}
	gateways := func(vs ...string) func(*plan.Options) {
		return func(o *plan.Options) {
			for _, v := range vs {
				g, err := plan.ParseGateway(v)
				if err != nil {
					panic(err)
				}
				o.Gateways = append(o.Gateways, g)
			}
		}
	}
	cases := map[plan.WarningID]struct {
		state func(st *plan.State)
		opts  func(o *plan.Options)
		want  want
	}{
		WarnArpFlux: {
			state: func(st *plan.State) {
				st.Addrs = append(st.Addrs, plan.Addr{Link: 3, Prefix: pfx("10.0.0.3/16")})
			},
			want: want{"", "links em1 and em2 are both in 10.0.0.0/16 and ARP flux is not stopped on em1 and em2", "set net.ipv4.conf.all.arp_ignore=1"},
		},
		WarnStrictRPFilter: {
			state: func(st *plan.State) { st.Host.ConfAll.RPFilter, st.Links[2].RPFilter = 0, 1 },
			want:  want{"em2", "link em2 has strict rp_filter (1)", "set net.ipv4.conf.em2.rp_filter=2"},
		},
		WarnNetworkdForeignRules: {
			state: func(st *plan.State) { st.Host.Networkd = plan.Networkd{Running: true} },
			want:  want{"", "systemd-networkd runs without ManageForeignRoutingPolicyRules=no", "install " + NetworkdDropIn},
		},
		WarnNetworkdNotRestarted: {
			state: func(st *plan.State) {
				st.Host.Networkd = plan.Networkd{Running: true, KeepsForeignRules: true, NotYet: true, File: "/etc/systemd/networkd.conf"}
			},
			want: want{"", "systemd-networkd started before /etc/systemd/networkd.conf set", "restart systemd-networkd"},
		},
		WarnNMOwnRouting: {
			state: func(st *plan.State) {
				st.Host.NMRouting = []plan.NMRouting{{Link: 3, Connection: "uplink2", Table4: 200}}
			},
			want: want{"em2", "NetworkManager connection 'uplink2' on em2 has ipv4.route-table 200", "drop them from the connection"},
		},
		WarnRuleAhead: {
			state: func(st *plan.State) {
				st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 100, Src: pfx("192.168.0.0/24"), Table: plan.TableMain, Action: plan.RuleActionLookup})
			},
			want: want{"", "rule '100: from 192.168.0.0/24 lookup main' is not symroute's", "give that rule a priority after 32765"},
		},
		WarnDefaultTableAhead: {
			state: func(st *plan.State) {
				st.Rules = append(st.Rules, plan.Rule{Family: plan.FamilyV4, Priority: 100, Table: 51820, Action: plan.RuleActionLookup})
				st.Routes = append(st.Routes, defaultIn(51820))
			},
			want: want{"", "rule '100: from all lookup 51820' is not symroute's, comes before its rules", "give symroute a priority before that rule (priority = 50"},
		},
		WarnNoWayOut: {
			state: noWayOut,
			want:  want{"em2", "link em2 has no way out in IPv4", "give it one in symroute.conf"},
		},
		plan.WarnRouterOffSubnet: {
			state: noWayOut,
			opts:  gateways("em2=172.16.9.9"),
			want:  want{"em2", "router 172.16.9.9 of link em2 (--gateway em2=172.16.9.9) is on none of its subnets", "give a router on one of its subnets"},
		},
		plan.WarnNoFirstHost: {
			state: func(st *plan.State) { noWayOut(st); st.Addrs[1].Prefix = pfx("192.168.0.2/32") },
			opts:  gateways("em2=first-host"),
			want:  want{"em2", "gateway em2=first-host: link em2 has no IPv4 subnet whose first host", "give its router (gateway = em2=ROUTER)"},
		},
		plan.WarnAddressOnTwoLinks: {
			state: func(st *plan.State) { st.Addrs = append(st.Addrs, plan.Addr{Link: 3, Prefix: pfx("10.0.0.2/16")}) },
			want:  want{"em2", "address 10.0.0.2 is on em1 and em2: its rule goes to em1", ""},
		},
		plan.WarnRoutesNotMirrored: {
			state: func(st *plan.State) {
				st.Routes = append(st.Routes, plan.Route{Family: plan.FamilyV4, Table: plan.TableMain, Dst: pfx("10.9.0.0/16"), Type: plan.RouteUnicast,
					Protocol: 4, Link: 2, Gw: ip("10.0.0.1"), Unsupported: plan.UnsupportedEncap})
			},
			want: want{"", "1 main routes not mirrored", ""},
		},
		plan.WarnNoMarkValue: {
			// Mask 0x3 has three values: em1, em2 and em3 take them.
			state: func(st *plan.State) {
				for i := 4; i <= 5; i++ {
					st.Links = append(st.Links, plan.Link{Index: i, Name: "em" + string(rune('0'+i-1))})
					st.Addrs = append(st.Addrs, plan.Addr{Link: i, Prefix: pfx("10.0." + string(rune('0'+i)) + ".2/24")})
				}
			},
			opts: func(o *plan.Options) { o.FollowIngress, o.IngressMask = true, 0x3 },
			want: want{"em4", "follow-ingress: no mark value left under mask 0x00000003 for link em4", "use a wider --ingress-mark-mask"},
		},
	}
	for _, k := range warningKinds {
		t.Run(string(k.ID), func(t *testing.T) {
			tc, ok := cases[k.ID]
			if !ok {
				t.Fatalf("no case for warning %s", k.ID)
			}
			o := plan.DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			st, m := seedHost(t, o, true, tc.state)
			var got []plan.Warning
			for _, w := range Warnings(st, m, plan.Diff(st, m), o) {
				if w.ID == k.ID {
					got = append(got, w)
				}
			}
			warningTexts(t, got)
			if len(got) != 1 {
				t.Fatalf("want one warning %s, got %+v", k.ID, got)
			}
			w := got[0]
			if w.Link != tc.want.link || !strings.HasPrefix(w.Text, tc.want.text) || !strings.HasPrefix(w.Fix, tc.want.fix) || (tc.want.fix == "") != (w.Fix == "") {
				t.Errorf("warning %s: want link %q, text from %q, fix from %q; got %+v", k.ID, tc.want.link, tc.want.text, tc.want.fix, w)
			}
		})
	}
}
