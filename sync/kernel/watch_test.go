package kernel_test

import (
	"net/netip"
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

// TestWatchManyWrites: a pass's own writes are its own however many: the
// handle drains the watch as it applies, where 20k notifications (about
// 1 KiB of socket buffer each) would overflow a socket read only at the
// end, and an overflow is foreign.
func TestWatchManyWrites(t *testing.T) {
	e := setup(t)
	ops := make([]plan.Op, 0, 20001)
	for i := 0; i < 20000; i++ {
		r := plan.Route{Family: plan.FamilyV4, Table: tbl, Type: plan.RouteUnicast, Protocol: 4,
			Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}), 32), Gw: ip("10.1.0.1"), Link: e.idx["a0"]}
		ops = append(ops, plan.Op{Kind: plan.RouteAdd, Route: &r})
	}
	rule := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.1.0.2/32"), Table: tbl, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	ops = append(ops, plan.Op{Kind: plan.RuleAdd, Rule: &rule})
	for _, kind := range []plan.OpKind{plan.RouteAdd, plan.RouteDel} {
		if kind == plan.RouteDel {
			for i := range ops {
				ops[i].Kind = map[bool]plan.OpKind{true: plan.RouteDel, false: plan.RuleDel}[ops[i].Kind.IsRoute()]
			}
		}
		w, err := e.h.Watch()
		if err != nil {
			t.Fatal(err)
		}
		e.apply(t, ops...)
		if w.Foreign(ops) {
			t.Errorf("%d own writes (%v) seen as foreign", len(ops), kind)
		}
		w.Close()
	}
}

// TestWatchForeignAmongOwn: a change of someone else's before the pass's
// own writes is foreign, even one of a key the pass then writes too.
func TestWatchForeignAmongOwn(t *testing.T) {
	e := setup(t)
	route := func(dst string) *plan.Route {
		return &plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx(dst), Type: plan.RouteUnicast, Protocol: 4,
			Gw: ip("10.1.0.1"), Link: e.idx["a0"]}
	}
	for _, tc := range []struct{ name, change string }{
		{"another table", "route add 198.51.103.0/24 via 10.1.0.1 dev a0 table 2000"},
		{"the key of the pass's second write", "route add 198.51.101.0/24 via 10.1.0.1 dev a0 table 1002 proto 99"},
		{"the key of the pass's first write", "route add 198.51.100.0/24 via 10.1.0.1 dev a0 table 1002 proto 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := e.h.Watch()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			e.ip(t, tc.change)
			ops := []plan.Op{{Kind: plan.RouteAdd, Route: route("198.51.100.0/24")}, {Kind: plan.RouteAdd, Route: route("198.51.101.0/24")}}
			e.h.Apply(ops) // the second may fail: the change took its key
			if !w.Foreign(ops) {
				t.Errorf("%q before the pass's writes: not foreign", tc.change)
			}
			e.ip(t, "route flush table 1002")
			e.ip(t, "route flush table 2000")
		})
	}
}
