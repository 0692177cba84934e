package plan

import "testing"

// Deletes touch only what they name: a rule of ours of any shape goes,
// and is never taken for a wanted rule that shares its source, priority
// and table.
func TestComputeRulesOfOtherShapes(t *testing.T) {
	runCompute(t, []computeCase{
		{
			name: "a rule of ours with selectors or an action we do not write is deleted, the wanted one added",
			state: func() *State {
				st := seedSynced()
				// em1's rule with an oif; em2's a blackhole; and an
				// oif-only rule at our priority (issue 17). The rules with
				// other selectors go first: the kernel may refuse a wanted
				// rule as existing while they are there.
				em1 := &st.Rules[len(st.Rules)-2]
				em1.Other, em1.Selectors, em1.Raw = true, "oif em1", "raw"
				st.Rules[len(st.Rules)-1].Action = ruleActionBlackhole
				st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 32765, Table: 1003, Action: RuleActionLookup,
					Protocol: Protocol, Other: true, Selectors: "oif em2", Raw: "raw"})
				return st
			},
			want: []string{
				"ip -4 rule del priority 32765 from 10.0.0.2/32 oif em1 unicast table 1002 protocol 234",
				"ip -4 rule del priority 32765 oif em2 unicast table 1003 protocol 234",
				"ip -4 rule add priority 32765 from 10.0.0.2/32 table 1002 protocol 234",
				"ip -4 rule add priority 32765 from 192.168.0.2/32 table 1003 protocol 234",
				"ip -4 rule del priority 32765 from 192.168.0.2/32 blackhole table 1003 protocol 234",
			},
		},
	})
}

// --explain names a rule of ours of another shape for what it is: ours, and
// going, not the rule of an address it may not even have.
func TestExplainRuleOfOtherShape(t *testing.T) {
	st := seedSynced()
	st.Rules[len(st.Rules)-1] = Rule{Family: FamilyV4, Priority: 32765, Table: 1003, Action: RuleActionLookup,
		Protocol: Protocol, Other: true, Selectors: "oif em2", Raw: "raw"}
	Compact(st)
	o := DefaultOptions()
	got := gwRoute(1003, "0.0.0.0/0", "192.168.0.1", 3, 106)
	e := Explain(st, Desire(st, o), o, Flow{Dst: ip("198.51.100.1"), Src: ip("192.168.0.2")}, got)
	want := "symroute's protocol, but not a rule this version writes (oif em2): the next pass deletes it; " +
		"it has selectors symroute does not read, and may not be the one the kernel used"
	if e.RuleWhy != want {
		t.Errorf("rule %+v explained as\n%q\nwant\n%q", e.Rule, e.RuleWhy, want)
	}
}
