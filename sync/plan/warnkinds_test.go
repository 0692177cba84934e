package plan

import (
	"strings"
	"testing"
)

// warningTexts is how the log says ws, each checked to be a row's of
// warningKinds and to hold its text.
func warningTexts(t *testing.T, ws []Warning) []string {
	t.Helper()
	known := map[WarningID]bool{}
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
	cases := map[WarningID]struct {
		state func(st *State)
		opts  func(o *Options)
		want  want
	}{
		WarnArpFlux: {
			state: func(st *State) {
				st.Host.ConfAll.ArpIgnore = 0
				st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("10.0.0.3/16")})
			},
			want: want{"", "links em1 and em2 are both in 10.0.0.0/16 and ARP flux is not stopped on em1 and em2", "set net.ipv4.conf.all.arp_ignore=1"},
		},
		WarnStrictRPFilter: {
			state: func(st *State) { st.Host.ConfAll.RPFilter, st.Links[2].RPFilter = 0, 1 },
			want:  want{"em2", "link em2 has strict rp_filter (1)", "set net.ipv4.conf.em2.rp_filter=2"},
		},
		WarnNetworkdForeignRules: {
			state: func(st *State) { st.Host.Networkd = Networkd{Running: true} },
			want:  want{"", "systemd-networkd runs without ManageForeignRoutingPolicyRules=no", "install " + NetworkdDropIn},
		},
		WarnNetworkdNotRestarted: {
			state: func(st *State) {
				st.Host.Networkd = Networkd{Running: true, KeepsForeignRules: true, NotYet: true, File: "/etc/systemd/networkd.conf"}
			},
			want: want{"", "systemd-networkd started before /etc/systemd/networkd.conf set", "restart systemd-networkd"},
		},
		WarnNMOwnRouting: {
			state: func(st *State) { st.Host.NMRouting = []NMRouting{{Link: 3, Connection: "uplink2", Table4: 200}} },
			want:  want{"em2", "NetworkManager connection 'uplink2' on em2 has ipv4.route-table 200", "drop them from the connection"},
		},
		WarnRuleAhead: {
			state: func(st *State) {
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx("192.168.0.0/24"), Table: TableMain, Action: RuleActionLookup})
			},
			want: want{"", "rule '100: from 192.168.0.0/24 lookup main' is not symroute's", "give that rule a priority after 32765"},
		},
		WarnDefaultTableAhead: {
			state: func(st *State) {
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Table: 51820, Action: RuleActionLookup})
				st.Host.DefaultTables = map[uint32]bool{51820: true}
			},
			want: want{"", "rule '100: from all lookup 51820' is not symroute's, comes before its rules", "give symroute a priority before that rule (priority = 50"},
		},
		WarnNoWayOut: {
			state: func(st *State) { *st = *noWayOut() },
			want:  want{"em2", "link em2 has no way out in IPv4", "give it one in symroute.conf"},
		},
		WarnRouterOffSubnet: {
			state: func(st *State) { *st = *noWayOut() },
			opts:  gateways("em2=172.16.9.9"),
			want:  want{"em2", "router 172.16.9.9 of link em2 (--gateway em2=172.16.9.9) is on none of its subnets", "give a router on one of its subnets"},
		},
		WarnNoFirstHost: {
			state: func(st *State) { *st = *noWayOut(); st.Addrs[2].Prefix = pfx("192.168.0.2/32") },
			opts:  gateways("em2=first-host"),
			want:  want{"em2", "gateway em2=first-host: link em2 has no IPv4 subnet whose first host", "give its router (gateway = em2=ROUTER)"},
		},
		WarnAddressOnTwoLinks: {
			state: func(st *State) { st.Addrs = append(st.Addrs, Addr{Link: 3, Prefix: pfx("10.0.0.2/16")}) },
			want:  want{"em2", "address 10.0.0.2 is on em1 and em2: its rule goes to em1", ""},
		},
		WarnRoutesNotMirrored: {
			state: func(st *State) {
				st.Routes = append(st.Routes, Route{Family: FamilyV4, Table: TableMain, Dst: pfx("10.9.0.0/16"), Type: RouteUnicast,
					Protocol: 4, Link: 2, Gw: ip("10.0.0.1"), Unsupported: UnsupportedEncap})
			},
			want: want{"", "1 main routes not mirrored", ""},
		},
		WarnNoMarkValue: {
			// Mask 0x3 has three values: em1, em2 and em3 take them.
			state: func(st *State) {
				for i := 4; i <= 5; i++ {
					st.Links = append(st.Links, Link{Index: i, Name: "em" + string(rune('0'+i-1))})
					st.Addrs = append(st.Addrs, Addr{Link: i, Prefix: pfx("10.0." + string(rune('0'+i)) + ".2/24")})
				}
			},
			opts: func(o *Options) { o.FollowIngress, o.IngressMask = true, 0x3 },
			want: want{"em4", "follow-ingress: no mark value left under mask 0x00000003 for link em4", "use a wider --ingress-mark-mask"},
		},
	}
	for _, k := range warningKinds {
		t.Run(string(k.ID), func(t *testing.T) {
			tc, ok := cases[k.ID]
			if !ok {
				t.Fatalf("no case for warning %s", k.ID)
			}
			st := seedSynced()
			st.Host.ConfAll.ArpIgnore = 1 // no ARP flux but where a case makes it
			tc.state(st)
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			var got []Warning
			for _, w := range Compute(st, o).Warnings {
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
