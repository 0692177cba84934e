package kernel_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/plan"
)

// converge plans from the compact snapshot and applies, reading back after
// each round as a pass does, until a plan is empty: it fails t on an
// error, or if a fifth plan still has work (a pass gives up there).
func (e *env) converge(t *testing.T, o plan.Options) {
	t.Helper()
	for round := 1; ; round++ {
		st := e.compact(t)
		p := plan.Compute(st, o)
		if len(p.Ops) == 0 {
			return
		}
		rn := plan.NewRenderer(st)
		var b strings.Builder
		for _, op := range p.Ops {
			b.WriteString(rn.Render(op) + "\n")
		}
		if round > 4 {
			t.Fatalf("not in sync after 4 rounds; still planned:\n%s", b.String())
		}
		for i, err := range e.h.Apply(p.Ops) {
			if err != nil {
				t.Errorf("round %d, op %d: %v\nplan:\n%s", round, i, err, b.String())
			}
		}
	}
}

// ours are the rules of protocol 234, as ip(8) lists them.
func (e *env) ours(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(testns.Run(t, e.ns, "ip", fam, "rule", "show"), "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), " proto 234") {
				out = append(out, fam+" "+strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return out
}

// Any rule of protocol 234 is ours and goes when not wanted, whatever its
// selectors or action: a pass converges with only the rules it wants, and
// a flush with none. Among them, rules a version of symroute with more
// rule kinds could leave (an oif rule), one that differs from a wanted
// rule in its action only, and rules that make the kernel refuse the
// wanted rule as existing (it compares a destination, a tos or realms only
// when the rule added has them, and `not` never): those must go first.
func TestRulesOfOursAnyShape(t *testing.T) {
	e := setup(t)
	ta, tb := base+e.idx["a0"], base+e.idx["b0"]
	shapes := []struct {
		rule string
		// beside: the kernel takes it beside the wanted rule (it refuses
		// a `not` rule beside its twin as existing).
		beside bool
	}{
		// b0's oif rule is wanted; one looking up another link's table
		// is not.
		{fmt.Sprintf("rule add oif b0 lookup %d", ta), true},
		{fmt.Sprintf("rule add from 10.1.0.2 oif a0 lookup %d", ta), true},
		{fmt.Sprintf("rule add from 10.1.0.2 table %d blackhole", ta), true},
		{"rule add from 10.1.0.2 prohibit", true},
		{"rule add from 10.1.0.2 goto 32766", true},
		{"rule add from 10.1.0.2 nop", true},
		{fmt.Sprintf("rule add not from 10.1.0.2 lookup %d", ta), false},
		{fmt.Sprintf("rule add from 10.1.0.2 to 10.0.0.0/8 lookup %d", ta), true},
		{fmt.Sprintf("rule add from 10.2.0.2 tos 0x10 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 ipproto tcp sport 1000-2000 dport 80 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 uidrange 100-200 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 realms 1/2 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 tun_id 7 lookup %d", tb), true},
		{fmt.Sprintf("rule add fwmark 0x1/0x1 iif lo lookup %d", ta), true},
		{"rule add from 10.2.0.2 l3mdev", true},
		{"rule add lookup main suppress_prefixlength 0", true},
		{"rule add lookup main suppress_ifgroup 5", true},
		{fmt.Sprintf("-6 rule add from 2001:db8:1::2 oif a0 lookup %d", ta), true},
		{fmt.Sprintf("-6 rule add not from 2001:db8:2::2 lookup %d", tb), false},
	}
	add := func(synced bool) {
		t.Helper()
		for _, s := range shapes {
			if s.beside || !synced {
				e.ip(t, s.rule+" priority 32765 protocol 234")
			}
		}
	}
	check := func(what string, want []string) {
		t.Helper()
		if got := e.ours(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("rules of protocol 234 after %s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	o, flush := plan.DefaultOptions(), plan.DefaultOptions()
	flush.Flush = true
	e.converge(t, o)
	want := e.ours(t)
	e.converge(t, flush)

	// Applied as a pass applies plans, and as --dry-run prints them,
	// through ip(8) in one go.
	for _, way := range []struct {
		what string
		run  func(*testing.T, plan.Options)
	}{{"", e.converge}, {" replayed with ip(8)", e.replay}} {
		add(false)
		way.run(t, o)
		check("a first pass"+way.what, want)
		add(true)
		way.run(t, o)
		check("a pass on a host in sync"+way.what, want)
		add(true)
		way.run(t, flush)
		check("a flush"+way.what, nil)
	}
}

// replay plans from the compact snapshot, runs the plan as --dry-run
// prints it with sh in the namespace, and fails t unless planning again
// is empty.
func (e *env) replay(t *testing.T, o plan.Options) {
	t.Helper()
	st := e.compact(t)
	rn := plan.NewRenderer(st)
	var b strings.Builder
	for _, op := range plan.Compute(st, o).Ops {
		b.WriteString(rn.Render(op) + "\n")
	}
	sh := testns.Command(e.ns, "sh", "-e", "-x")
	sh.Stdin = strings.NewReader(b.String())
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s\nplan:\n%s", err, out, b.String())
	}
	st = e.compact(t)
	rn = plan.NewRenderer(st)
	var again strings.Builder
	for _, op := range plan.Compute(st, o).Ops {
		again.WriteString(rn.Render(op) + "\n")
	}
	if again.Len() > 0 {
		t.Errorf("after sh ran the plan:\n%s\nthe next plan is:\n%s", b.String(), again.String())
	}
}

// A route delete takes the route it names, by all the kernel compares, and
// not another program's of the same key listed before it: IPv4 keeps
// several routes of one key (`ip route append`) and deletes the first
// that matches what the request names; IPv6 keeps a device route beside a
// multipath or unreachable one of its key, and without a nexthop named
// deletes the first and its siblings.
func TestRouteDeleteNamesIdentity(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name         string
		theirs, ours string // ip(8) arguments, after "route add"/"route append"
		// isOurs picks ours out of what the snapshot read.
		isOurs func(r *plan.Route) bool
	}{
		{"v4 another gateway", "198.51.100.0/24 via 10.1.0.9 dev a0 proto 4", "198.51.100.0/24 via 10.1.0.1 dev a0 proto 4",
			func(r *plan.Route) bool { return r.Gw == ip("10.1.0.1") }},
		{"v4 same gateway, ours with an mtu", "198.51.101.0/24 via 10.1.0.1 dev a0 proto 4", "198.51.101.0/24 via 10.1.0.1 dev a0 proto 4 mtu 1400",
			func(r *plan.Route) bool { return r.Metrics != "" }},
		{"v4 same gateway, ours with a source", "198.51.102.0/24 via 10.1.0.1 dev a0 proto 4", "198.51.102.0/24 via 10.1.0.1 dev a0 proto 4 src 10.1.0.2",
			func(r *plan.Route) bool { return r.Src.IsValid() }},
		{"v4 another device", "198.51.103.0/24 via 10.2.0.1 dev b0 proto 4", "198.51.103.0/24 via 10.1.0.1 dev a0 proto 4",
			func(r *plan.Route) bool { return r.Link == e.idx["a0"] }},
		{"v4 multipath", "198.51.104.0/24 via 10.2.0.1 dev b0 proto 4",
			"198.51.104.0/24 proto 4 nexthop via 10.1.0.1 dev a0 nexthop via 10.2.0.1 dev b0",
			func(r *plan.Route) bool { return r.Nexthops != nil }},
		{"v6 multipath", "-6 2001:db8:9::/48 dev b0 proto 4 metric 1024",
			"-6 2001:db8:9::/48 proto 4 metric 1024 nexthop via fe80::1 dev a0 nexthop via fe80::2 dev b0",
			func(r *plan.Route) bool { return r.Nexthops != nil }},
		{"v6 unreachable", "-6 2001:db8:8::/48 dev b0 proto 4 metric 1024", "-6 unreachable 2001:db8:8::/48 proto 4 metric 1024",
			func(r *plan.Route) bool { return r.Type == plan.RouteUnreachable }},
	} {
		// Deleted as a pass deletes it, and as --dry-run prints it.
		for _, way := range []string{"apply", "ip"} {
			t.Run(tc.name+" by "+way, func(t *testing.T) {
				e.deleteOurs(t, way, tc.theirs, tc.ours, tc.isOurs)
			})
		}
	}
}

// deleteOurs puts theirs, then ours, in table tbl, deletes ours as the
// snapshot read it (by the adapter, or through ip(8) as --dry-run prints
// it), and fails t unless theirs alone is left.
func (e *env) deleteOurs(t *testing.T, way, theirs, ours string, isOurs func(r *plan.Route) bool) {
	t.Helper()
	add := func(verb, args string) {
		t.Helper()
		fam, rest := "-4", args
		if strings.HasPrefix(args, "-6 ") {
			fam, rest = "-6", strings.TrimPrefix(args, "-6 ")
		}
		e.ip(t, fmt.Sprintf("%s route %s table %d %s", fam, verb, tbl, rest))
	}
	t.Cleanup(func() {
		for _, fam := range []string{"-4", "-6"} {
			_ = e.tryIP(fmt.Sprintf("%s route flush table %d", fam, tbl))
		}
	})
	// Theirs first: the kernel lists it, and matches it, first.
	add("add", theirs)
	add("append", ours)
	st := e.snapshot(t)
	var mine, others []plan.Route
	for _, r := range st.Routes {
		switch {
		case r.Table != tbl:
		case isOurs(&r):
			mine = append(mine, r)
		default:
			others = append(others, r)
		}
	}
	if len(mine) != 1 || len(others) != 1 {
		t.Fatalf("table %d holds %d routes of ours and %d others, want one each:\n%s", tbl, len(mine), len(others), tableRoutes(st, tbl))
	}
	del := plan.Op{Kind: plan.RouteDel, Route: &mine[0]}
	if way == "apply" {
		e.apply(t, del)
	} else {
		cmd := strings.Fields(plan.NewRenderer(st).Render(del))
		testns.Run(t, e.ns, cmd[0], cmd[1:]...)
	}
	var left []plan.Route
	for _, r := range e.snapshot(t).Routes {
		if r.Table == tbl {
			left = append(left, r)
		}
	}
	if diff := cmp.Diff(others, left, eq); diff != "" {
		t.Errorf("table %d after the delete of ours (-want theirs only +got):\n%s", tbl, diff)
	}
}

// A multipath route whose first nexthop the kernel flags down reads
// without it (FlagHopsDropped): its delete names no nexthop, for the
// kernel compares a named list from the first nexthop on, and would never
// match. It still goes.
func TestRouteDeleteWithNexthopDown(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct{ name, route string }{
		{"v4", "-4 route add table 1002 198.51.100.0/24 proto 4 nexthop via 10.3.0.1 dev c0 nexthop via 10.1.0.1 dev a0 nexthop via 10.2.0.1 dev b0"},
		{"v6", "-6 route add table 1002 2001:db8:9::/48 proto 4 metric 1024 nexthop via fe80::3 dev c0 nexthop via fe80::1 dev a0 nexthop via fe80::2 dev b0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ip(t, tc.route)
			var read []plan.Route
			for _, r := range e.snapshot(t).Routes {
				if r.Table == tbl {
					read = append(read, r)
				}
			}
			if len(read) != 1 || len(read[0].Nexthops) != 2 {
				t.Fatalf("table %d does not read as one route of two nexthops:\n%s", tbl, tableRoutes(e.snapshot(t), tbl))
			}
			e.apply(t, plan.Op{Kind: plan.RouteDel, Route: &read[0]})
			if left := tableRoutes(e.snapshot(t), tbl); left != "" {
				t.Errorf("left in table %d after its delete:\n%s", tbl, left)
			}
		})
	}
}
