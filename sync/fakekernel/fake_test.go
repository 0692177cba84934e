package fakekernel

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/sync/plan"
)

// A rule delete takes the rule it names and no other: one of ours with
// other selectors (as the kernel adapter sends it back whole), and one of
// another action than a lookup's (the adapter always names the action).
func TestRuleDelete(t *testing.T) {
	src := netip.MustParsePrefix("10.0.0.2/32")
	lookup := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: src, Table: 1002, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	oif := lookup
	oif.Other, oif.Selectors, oif.Raw = true, "oif em1", "raw oif em1"
	oif2 := oif
	oif2.Selectors, oif2.Raw = "oif em2", "raw oif em2"
	blackhole := lookup
	blackhole.Action = 6
	for _, tc := range []struct {
		name string
		del  plan.Rule
		want []plan.Rule
	}{
		{"other selectors", oif2, []plan.Rule{lookup, oif, blackhole}},
		{"another action", blackhole, []plan.Rule{lookup, oif, oif2}},
		{"a lookup", lookup, []plan.Rule{oif, oif2, blackhole}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kernel{State: plan.State{Rules: []plan.Rule{lookup, oif, oif2, blackhole}}}
			for _, err := range k.Apply([]plan.Op{{Kind: plan.RuleDel, Rule: &tc.del}}) {
				if err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, k.State.Rules, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("rules after the delete (-want +got):\n%s", diff)
			}
		})
	}
}
