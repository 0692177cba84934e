package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/sync/plan"
)

func TestExplain(t *testing.T) {
	o := plan.DefaultOptions()
	mainDefault2 := gwRoute(plan.TableMain, "0.0.0.0/0", "10.0.0.1", 2, 105)
	copy3 := gwRoute(1003, "0.0.0.0/0", "192.168.0.1", 3, 106)
	stale3 := gwRoute(1003, "0.0.0.0/0", "192.168.0.9", 3, 106)
	for _, tc := range []struct {
		name   string
		before bool // the host before a pass, not after
		edit   func(st *plan.State)
		flow   plan.Flow
		got    plan.Route
		want   Explanation
	}{
		{
			name: "our rule, our table, a copy",
			flow: plan.Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got: copy3,
			want: Explanation{RuleWhy: "symroute's, for em2's address 192.168.0.2", Table: 1003, TableWhy: "symroute's mirror of em2",
				Route: copy3, RouteWhy: "copied from main"},
		},
		{
			name: "a route the next pass replaces",
			flow: plan.Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got: stale3,
			want: Explanation{RuleWhy: "symroute's, for em2's address 192.168.0.2", Table: 1003, TableWhy: "symroute's mirror of em2",
				Route: stale3, RouteWhy: "in symroute's table but not as a pass leaves it: the next pass replaces or removes it"},
		},
		{
			name: "before a pass: main, by the other link", before: true,
			flow: plan.Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got: mainDefault2,
			want: Explanation{RuleWhy: "the kernel's own", Table: plan.TableMain, TableWhy: "the main table", Route: mainDefault2,
				RouteWhy: "main's own (protocol dhcp)",
				Notes:    []string{"the flow leaves by em1, but 192.168.0.2 is an address of em2: a reverse-path filter or a firewall on the way may drop it"}},
		},
		{
			name: "a foreign rule's empty table passed",
			edit: func(st *plan.State) {
				st.Rules = append([]plan.Rule{{Family: plan.FamilyV4, Priority: 100, Src: pfx("192.168.0.0/24"), Table: 100, Action: plan.RuleActionLookup, Protocol: 4}}, st.Rules...)
			},
			flow: plan.Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got: copy3,
			want: Explanation{RuleWhy: "symroute's, for em2's address 192.168.0.2", Table: 1003, TableWhy: "symroute's mirror of em2",
				Route: copy3, RouteWhy: "copied from main",
				Passed: []string{"rule '100: from 192.168.0.0/24 lookup 100' (not symroute's (protocol static)): table 100 has no route for 198.51.100.1, so the lookup went on"}},
		},
		{
			name: "our table throws another link's subnet: main decides, as without symroute",
			flow: plan.Flow{Dst: ip("192.168.0.50"), Src: ip("10.0.0.2")}, got: linkRoute(plan.TableMain, "192.168.0.0/24", 3, "192.168.0.2"),
			want: Explanation{RuleWhy: "the kernel's own", Table: plan.TableMain, TableWhy: "the main table",
				Route: linkRoute(plan.TableMain, "192.168.0.0/24", 3, "192.168.0.2"), RouteWhy: "main's own (protocol kernel)",
				Passed: []string{"rule '32765: from 10.0.0.2 lookup 1002' (symroute's, for em1's address 10.0.0.2): table 1002 throws 192.168.0.0/24, a connected subnet of em2, to the rules after it (symroute's: as without symroute, never through another link), so the lookup went on"}},
		},
		{
			name: "a socket bound to em2: its oif rule, its table",
			flow: plan.Flow{Dst: ip("198.51.100.1"), Oif: 3}, got: copy3,
			want: Explanation{RuleWhy: "symroute's, for sockets bound to em2", Table: 1003, TableWhy: "symroute's mirror of em2",
				Route: copy3, RouteWhy: "copied from main"},
		},
		{
			name: "a flow bound to no link is not taken by an oif rule",
			flow: plan.Flow{Dst: ip("198.51.100.1")}, got: mainDefault2,
			want: Explanation{RuleWhy: "the kernel's own", Table: plan.TableMain, TableWhy: "the main table", Route: mainDefault2,
				RouteWhy: "main's own (protocol dhcp)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, m := seedHost(t, o, !tc.before, tc.edit)
			e := Explain(st, m, o, tc.flow, tc.got)
			if e.Rule == nil || e.Rule.Table != tc.want.Table {
				t.Errorf("rule %+v, want one looking up %d", e.Rule, tc.want.Table)
			}
			e.Rule = nil
			if diff := cmp.Diff(tc.want, e, cmpopts.EquateComparable(pfx("0.0.0.0/0"), ip("0.0.0.0")), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// --explain names a rule of ours of another shape for what it is: ours, and
// going, not the rule of an address it may not even have.
func TestExplainRuleOfOtherShape(t *testing.T) {
	o := plan.DefaultOptions()
	st, m := seedHost(t, o, true, func(st *plan.State) {
		for i := range st.Rules {
			if st.Rules[i].Src == pfx("192.168.0.2/32") {
				st.Rules[i] = plan.Rule{Family: plan.FamilyV4, Priority: 32765, Table: 1003, Action: plan.RuleActionLookup,
					Protocol: plan.Protocol, Other: true, Selectors: "oif em2", Raw: "raw"}
			}
		}
	})
	got := gwRoute(1003, "0.0.0.0/0", "192.168.0.1", 3, 106)
	e := Explain(st, m, o, plan.Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got)
	want := "symroute's protocol, but not a rule this version writes (oif em2): the next pass deletes it; " +
		"it has selectors symroute does not read, and may not be the one the kernel used"
	if e.RuleWhy != want {
		t.Errorf("rule %+v explained as\n%q\nwant\n%q", e.Rule, e.RuleWhy, want)
	}
}
