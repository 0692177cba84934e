package plan

import (
	"testing"
)

// Each row of ruleKinds, with a rule it claims and one it must not.
func TestRuleKinds(t *testing.T) {
	st := seedState() // em1 (2) holds 10.0.0.2, em2 (3) 192.168.0.2
	d := newDesirer(st, DefaultOptions())
	examples := map[string]struct {
		claims, not Rule
		protocols   bool
	}{
		"carries symroute's rule protocol": {
			claims: Rule{Family: FamilyV4, Priority: 7, Table: 5000, Action: RuleActionLookup, Protocol: Protocol, Mark: 1, Mask: 1},
			not:    Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.0.0.2/32"), Table: 1002, Action: RuleActionLookup, Protocol: 4},
		},
		"on a kernel without rule protocols: from-only, at our priority, looking up a table above the base": {
			claims: Rule{Family: FamilyV4, Priority: 32765, Src: pfx("10.9.0.2/32"), Table: 1040, Action: RuleActionLookup},
			not:    Rule{Family: FamilyV4, Priority: 32764, Src: pfx("10.9.0.2/32"), Table: 1040, Action: RuleActionLookup},
		},
		"the original symrouted's: from-only, no protocol, table 1000+ifindex of a link holding the address": {
			claims:    Rule{Family: FamilyV4, Priority: 100, Src: pfx("192.168.0.2/32"), Table: 1003, Action: RuleActionLookup},
			not:       Rule{Family: FamilyV4, Priority: 100, Src: pfx("192.168.0.2/32"), Table: 1002, Action: RuleActionLookup},
			protocols: true,
		},
	}
	for _, k := range ruleKinds {
		ex, ok := examples[k.what]
		if !ok {
			t.Errorf("row %q has no example here", k.what)
			continue
		}
		if !k.is(&ex.claims, d, ex.protocols) {
			t.Errorf("row %q does not claim %+v", k.what, ex.claims)
		}
		if k.is(&ex.not, d, ex.protocols) {
			t.Errorf("row %q claims %+v", k.what, ex.not)
		}
	}
	if len(examples) != len(ruleKinds) {
		t.Errorf("%d examples for %d rows", len(examples), len(ruleKinds))
	}
}

// Each row of clashSources finds the table it is about, and only it.
func TestClashSources(t *testing.T) {
	st := seedState()
	st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: 100, Src: pfx("10.9.0.0/16"), Table: 1003, Action: RuleActionLookup})
	st.Links = append(st.Links, Link{Index: 9, Name: "vrf-red", Kind: "vrf", VRFTable: 1005})
	st.TableNames = map[uint32]string{1006: "isp-backup", 1007: "symroute-em7"}
	m := &Mirror{}
	m.classifyRules(newDesirer(st, DefaultOptions()))
	want := map[string]uint32{
		"a rule that is not symroute's looks the table up":            1003,
		"a VRF device is bound to the table":                          1005,
		"rt_tables or rt_tables.d names the table for something else": 1006,
	}
	for _, src := range clashSources {
		var got []uint32
		src.find(st, m, func(t uint32, _ string) {
			if t != TableMain && t != TableLocal && t != 253 {
				got = append(got, t)
			}
		})
		if len(got) != 1 || got[0] != want[src.what] {
			t.Errorf("%s: found tables %v, want [%d]", src.what, got, want[src.what])
		}
	}
}
