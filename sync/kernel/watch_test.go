package kernel_test

import (
	"testing"

	"github.com/symroute/symroute/sync/plan"
)

// A watch sees the pass's own writes as its own, and anything else as
// foreign.
func TestWatch(t *testing.T) {
	e := setup(t)
	route := plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.100.0/24"), Type: plan.RouteUnicast, Protocol: 4,
		Gw: ip("10.1.0.1"), Link: e.idx["a0"]}
	rule := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.1.0.2/32"), Table: tbl, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	watch := func() plan.Watch {
		w, err := e.h.Watch()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}

	adds := []plan.Op{{Kind: plan.RouteAdd, Route: &route}, {Kind: plan.RuleAdd, Rule: &rule}}
	w := watch()
	e.apply(t, adds...)
	if w.Foreign(adds) {
		t.Error("the pass's own route and rule seen as foreign")
	}
	dels := []plan.Op{{Kind: plan.RouteDel, Route: &route}, {Kind: plan.RuleDel, Rule: &rule}}
	w = watch()
	e.apply(t, dels...)
	if w.Foreign(dels) {
		t.Error("the pass's own deletes seen as foreign")
	}
	for _, change := range []string{
		"route add 198.51.100.0/24 via 10.1.0.1 dev a0",                         // main
		"route add 198.51.101.0/24 via 10.1.0.1 dev a0 table 2000",              // a foreign table
		"rule add from 10.9.0.1 lookup 1002 priority 100",                       // a rule not ours
		"addr add 10.1.0.9/24 dev a0",                                           // an address
		"link set c0 down",                                                      // a link
		"route add 198.51.102.0/24 via 10.1.0.1 dev a0 table 1002 proto static", // in a table of ours, by someone else
	} {
		w := watch()
		e.ip(t, change)
		if !w.Foreign(adds) {
			t.Errorf("after %q: not foreign", change)
		}
	}
}
