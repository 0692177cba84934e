package plan

import (
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
		if st.Routes[c.Of].Table != TableMain || c.Table == TableMain {
			t.Errorf("copy %+v: of a route of table %d", c, st.Routes[c.Of].Table)
		}
	}
	wantCopies := []Route{seedSynced().Routes[4], seedSynced().Routes[5], seedSynced().Routes[6], seedSynced().Routes[7], copied}
	byKey := cmpopts.SortSlices(func(a, b Route) bool {
		return a.Table < b.Table || (a.Table == b.Table && a.Dst.String() < b.Dst.String())
	})
	if diff := cmp.Diff(wantCopies, copies, byKey, cmp.Comparer(func(a, b Route) bool { return a.Equal(&b) && a.Linkdown == b.Linkdown })); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if len(st.Routes) != 6+3 {
		t.Errorf("%d routes kept whole, want main's 6 and 3 that copy none: %v", len(st.Routes), st.Routes)
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
	f = NewCopyFinder(main)
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
