package plan

import (
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCompact(t *testing.T) {
	st := seedSynced()
	// IPv4 keeps two main routes of one key ("ip route append"): a copy
	// is found by every field, not the key alone.
	appended := gwRoute(TableMain, "10.9.0.0/16", "10.0.0.1", 2, 0)
	st.Routes = append(st.Routes, appended, gwRoute(TableMain, "10.9.0.0/16", "10.0.0.3", 2, 0))
	copied := appended
	copied.Table = 1002
	stale := gwRoute(1002, "10.9.0.0/16", "10.0.0.9", 2, 0) // main has no such route
	down := copied
	down.Linkdown = true // differs from its source in a field the diff ignores
	metrics := copied
	metrics.Metrics = "mtu 1400"
	st.Routes = append(st.Routes, copied, stale, down, metrics)
	before := st.AllRoutes()

	Compact(st)
	var copies []Route
	for _, c := range st.Copies {
		copies = append(copies, *st.copyRoute(c, &Route{}))
		if of := st.Main.Get(int(c.Of), &Route{}); of.Table != TableMain || c.Table == TableMain {
			t.Errorf("copy %+v: of a route of table %d", c, of.Table)
		}
	}
	seed := seedSynced().Routes
	wantCopies := []Route{seed[6], seed[7], seed[8], seed[9], copied}
	byKey := cmpopts.SortSlices(func(a, b Route) bool {
		return a.Table < b.Table || (a.Table == b.Table && a.Dst.String() < b.Dst.String())
	})
	if diff := cmp.Diff(wantCopies, copies, byKey, cmp.Comparer(func(a, b Route) bool { return a.Equal(&b) && a.Linkdown == b.Linkdown })); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if st.Main.Len() != 6 {
		t.Errorf("%d routes in main, want 6: %v", st.Main.Len(), st.Main.All())
	}
	for _, r := range st.Routes {
		if r.Table == TableMain {
			t.Errorf("a main route kept whole: %v", r)
		}
	}
	if len(st.Routes) != 2+3 {
		t.Errorf("%d routes kept whole, want the 2 throws and 3 that copy none: %v", len(st.Routes), st.Routes)
	}
	after := st.AllRoutes()
	all := cmpopts.SortSlices(func(a, b Route) bool {
		return a.Table < b.Table || (a.Table == b.Table && (a.Dst.String() < b.Dst.String() ||
			(a.Dst == b.Dst && (a.Gw.String() < b.Gw.String() || (a.Gw == b.Gw && a.Metrics+btoa(a.Linkdown) < b.Metrics+btoa(b.Linkdown))))))
	})
	if diff := cmp.Diff(before, after, all, cmpopts.EquateComparable(pfx("0.0.0.0/0"), ip("0.0.0.0"))); diff != "" {
		t.Errorf("routes changed by compacting (-before +after):\n%s", diff)
	}
	// Compacting again changes nothing.
	n, c := len(st.Routes), len(st.Copies)
	Compact(st)
	if len(st.Routes) != n || len(st.Copies) != c {
		t.Errorf("compacted again: %d routes and %d copies, was %d and %d", len(st.Routes), len(st.Copies), n, c)
	}
}

func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func TestCopyFinderMisses(t *testing.T) {
	f := NewCopyFinder(nil)
	r := gwRoute(1002, "0.0.0.0/0", "10.0.0.1", 2, 0)
	if _, ok := f.Find(&r); ok {
		t.Error("found a copy among no routes")
	}
	main := seedRoutes()
	f = NewCopyFinder(NewMainRoutes(main))
	for i := range main {
		c := main[i]
		c.Table = 1005
		if j, ok := f.Find(&c); !ok || int(j) != i {
			t.Errorf("route %d: found %d, %v", i, j, ok)
		}
		c.Priority++
		if j, ok := f.Find(&c); ok {
			t.Errorf("route %d with another metric: found %d", i, j)
		}
	}
}

// The diff's walk steps over routes added, gone and changed, in whatever
// order the snapshot holds them: each perturbation costs exactly one
// operation, and the plan applied leaves nothing to do.
func TestDiffStepsOver(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		st := syncedHost(300)
		changes := 0
		for n := 1 + rng.Intn(12); n > 0; n-- {
			i := rng.Intn(len(st.Routes))
			r := &st.Routes[i]
			if r.Dst.Bits() != 24 || r.Dst.Addr().As4()[0] != 20 { // the seed's own routes stay
				continue
			}
			switch rng.Intn(3) {
			case 0: // a mirror route changed or a main one: one replace
				r.Protocol++
			case 1: // gone: one add (main's) or one delete (main's copy stays)
				r.Table = 77 // out of every table symroute reads
			case 2: // a stale route in a mirror: one delete
				c := *r
				c.Table = DefaultTableBase + 2
				c.Dst = netip.PrefixFrom(c.Dst.Addr(), 25)
				st.Routes = append(st.Routes, c)
			}
			changes++
		}
		rng.Shuffle(len(st.Routes), func(i, j int) {
			if rng.Intn(8) == 0 {
				st.Routes[i], st.Routes[j] = st.Routes[j], st.Routes[i]
			}
		})
		Compact(st)
		o := DefaultOptions()
		p := Compute(st, o)
		after := applied(st, p, func(r *Route) bool { return r.Table != 77 })
		if again := Compute(after, o); len(again.Ops) != 0 {
			t.Fatalf("seed %d: after the plan, %d more: %v", seed, len(again.Ops), render(after, again))
		}
		// A changed main route is one replace, or an add if its copy was
		// changed too: never more operations than changes, and a delete
		// never of a route still wanted.
		if len(p.Ops) > changes {
			t.Errorf("seed %d: %d operations for %d changes: %v", seed, len(p.Ops), changes, render(st, p))
		}
	}
}

// Another program's route appended to one of our tables with the key of a
// route we keep there (IPv4 keeps both): ours is kept and theirs deleted,
// though the compact snapshot holds theirs first.
func TestDiffPairsExactFirst(t *testing.T) {
	st := seedSynced()
	ours := gwRoute(TableMain, "198.51.100.0/24", "192.168.0.1", 3, 0)
	st.Routes = append(st.Routes, ours)
	ours.Table = 1003
	theirs := ours
	theirs.Gw = ip("192.168.0.9")
	st.Routes = append(st.Routes, ours, theirs)
	for _, compact := range []bool{false, true} {
		s := *st
		s.Routes = append([]Route(nil), st.Routes...)
		if compact {
			Compact(&s)
		}
		p := Compute(&s, DefaultOptions())
		if len(p.Ops) != 1 || p.Ops[0].Kind != RouteDel || p.Ops[0].RouteIn(&Route{}).Gw != theirs.Gw {
			t.Errorf("compact %v: want one delete of the route via %s, got %v", compact, theirs.Gw, render(&s, p))
		}
	}
}

// applied is st after p, on a model of the kernel that keeps one route per
// key (and the routes keep selects), refuses an add of a key it holds
// (EEXIST), and is read back compact, in dump order.
func applied(st *State, p Plan, keep func(*Route) bool) *State {
	all := map[RouteKey]Route{}
	for _, r := range st.AllRoutes() {
		if keep(&r) {
			all[r.Key()] = r
		}
	}
	for _, op := range p.Ops {
		if !op.Kind.IsRoute() {
			continue
		}
		r := *op.RouteIn(&Route{})
		switch _, held := all[r.Key()]; {
		case op.Kind == RouteDel:
			delete(all, r.Key())
		case op.Kind == RouteAdd && held:
			// EEXIST
		default:
			all[r.Key()] = r
		}
	}
	after := &State{Links: st.Links, Addrs: st.Addrs, Rules: st.Rules, Routers: st.Routers}
	for _, op := range p.Ops {
		if op.Kind == RuleAdd {
			after.Rules = append(after.Rules, *op.Rule)
		}
	}
	for _, r := range all {
		after.Routes = append(after.Routes, r)
	}
	// In a kernel's dump order, by table then destination, so that the
	// next diff's walk runs in step.
	sort.Slice(after.Routes, func(i, j int) bool {
		a, b := &after.Routes[i], &after.Routes[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
			return c < 0
		}
		return a.Dst.Bits() < b.Dst.Bits()
	})
	Compact(after) // as the kernel adapter reads it
	return after
}

// A lease router's default and a default of main copied into the same
// table with the same key (one via an excluded link, metric 0): the link's
// own is kept, and the next plan is empty (it used to replace and re-add
// them every pass).
func TestLeaseDefaultBeatsACopyOfOneKey(t *testing.T) {
	st := seedState()
	st.Links = append(st.Links, Link{Index: 9, Name: "wg0"})
	var routes []Route
	for _, r := range st.Routes {
		if r.Dst.Bits() != 0 {
			routes = append(routes, r)
		}
	}
	// Main's default first, in dump order, as the kernel lists it.
	st.Routes = append([]Route{{Family: FamilyV4, Table: TableMain, Dst: pfx("0.0.0.0/0"), Type: RouteUnicast, Protocol: 4, Scope: ScopeLink, Link: 9}}, routes...)
	st.Routers = []Router{{Link: 2, Gw: ip("10.0.0.1"), Source: RouterLease}}
	o := DefaultOptions()
	o.Exclude = []string{"wg*"}
	for pass := 1; pass <= 3; pass++ {
		p := Compute(st, o)
		if pass > 1 && len(p.Ops) != 0 {
			t.Fatalf("pass %d: %d more: %v", pass, len(p.Ops), render(st, p))
		}
		st = applied(st, p, func(*Route) bool { return true })
	}
	for _, r := range st.Routes {
		if r.Table == 1002 && r.Dst.Bits() == 0 && r.Gw != ip("10.0.0.1") {
			t.Errorf("em1's table has default %+v, want via its lease router 10.0.0.1", r)
		}
	}
}

// TestCopyFinderScansBeforeIndexing: a table in sync is its copies in
// main's order and a few routes that copy nothing (the throws of other
// links' subnets, a way out): those few are looked for by a scan of main,
// and the index, which costs about as much as 16 scans, is built only when
// more miss. Copies out of main's order are found either way.
func TestCopyFinderScansBeforeIndexing(t *testing.T) {
	main := make([]Route, 0, 2000)
	for i := 0; i < cap(main); i++ {
		main = append(main, gwRoute(TableMain, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), "10.255.0.1", 2, 0))
	}
	throw := func(i int) Route {
		// Of main's protocol, so that the finder must look.
		return Route{Family: FamilyV4, Table: 1002, Type: RouteThrow, Protocol: 16, Dst: netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", i))}
	}
	f := NewCopyFinder(NewMainRoutes(main))
	for i := range main {
		if i%500 == 0 {
			r := throw(i / 500)
			if _, ok := f.Find(&r); ok {
				t.Fatalf("a throw found as a copy")
			}
		}
		c := main[i]
		c.Table = 1002
		if j, ok := f.Find(&c); !ok || int(j) != i {
			t.Fatalf("copy of route %d: found %d, %v", i, j, ok)
		}
	}
	if f.slots != nil {
		t.Errorf("index built for %d misses", 4)
	}
	// Out of order, and more misses than scans are worth: the index.
	for i := len(main) - 1; i >= 0; i -= 7 {
		c := main[i]
		c.Table = 1003
		if j, ok := f.Find(&c); !ok || int(j) != i {
			t.Fatalf("copy of route %d out of order: found %d, %v", i, j, ok)
		}
	}
	for i := 0; i < 2*maxCopyScans; i++ {
		// Of main's protocol, so that only a scan or the index can say.
		r := gwRoute(1003, fmt.Sprintf("192.168.%d.0/24", i), "10.255.0.1", 2, 0)
		if _, ok := f.Find(&r); ok {
			t.Fatalf("a route of no main route's found as a copy")
		}
	}
	if f.slots == nil {
		t.Errorf("no index after %d misses", 2*maxCopyScans)
	}
}

// TestFirstPassOneKeyTwice: a table being filled is written without the
// index by key, unless two wanted routes share one: main's two routes of
// one key (IPv4 keeps both, "ip route append"), one via em1 and one via an
// unmanaged link, in either dump order, give em1's table em1's route
// alone, as a table with routes already would.
func TestFirstPassOneKeyTwice(t *testing.T) {
	for _, viaEm1First := range []bool{true, false} {
		st := seedState()
		st.Links = append(st.Links, Link{Index: 9, Name: "docker0", Kind: "bridge"})
		em1 := gwRoute(TableMain, "10.9.0.0/16", "10.0.0.1", 2, 0)
		docker := Route{Family: FamilyV4, Table: TableMain, Dst: pfx("10.9.0.0/16"), Type: RouteUnicast, Protocol: 4, Scope: ScopeLink, Link: 9}
		pair := []Route{docker, em1}
		if viaEm1First {
			pair = []Route{em1, docker}
		}
		st.Routes = append(st.Routes, pair...)
		p := Compute(st, DefaultOptions())
		var got []string
		for _, op := range p.Ops {
			if r := op.RouteIn(&Route{}); op.Kind.IsRoute() && r.Table == 1002 && r.Dst == pfx("10.9.0.0/16") {
				got = append(got, fmt.Sprintf("%v dev %d", op.Kind, r.Link))
			}
		}
		if want := []string{fmt.Sprintf("%v dev 2", RouteAdd)}; !cmp.Equal(want, got) {
			t.Errorf("em1's route first %v: ops for 10.9.0.0/16 in table 1002 = %v, want %v", viaEm1First, got, want)
		}
	}
}

// TestCopyFinderMissesByProtocol: a route of a protocol no main route
// has (the throws and ways out symroute writes, protocol 234) copies
// nothing, which the finder knows without a scan or the index: a host with
// many managed links holds more of them than scans are worth, and at 1M
// routes the index costs about 0.13 s (BenchmarkCopyFinder1M).
func TestCopyFinderMissesByProtocol(t *testing.T) {
	main := make([]Route, 0, 1000)
	for i := 0; i < cap(main); i++ {
		main = append(main, gwRoute(TableMain, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), "10.255.0.1", 2, 0))
	}
	f := NewCopyFinder(NewMainRoutes(main))
	for i := 0; i < 4*maxCopyScans; i++ {
		r := Route{Family: FamilyV4, Table: 1002, Type: RouteThrow, Protocol: Protocol, Dst: netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", i))}
		if _, ok := f.Find(&r); ok {
			t.Fatalf("a throw found as a copy")
		}
	}
	if f.slots != nil || f.scans != 0 {
		t.Errorf("%d throws of protocol %d: %d scans, index built %v; want neither", 4*maxCopyScans, Protocol, f.scans, f.slots != nil)
	}
	c := main[500]
	c.Table = 1002
	if j, ok := f.Find(&c); !ok || j != 500 {
		t.Errorf("a copy after them: found %d, %v", j, ok)
	}
}
