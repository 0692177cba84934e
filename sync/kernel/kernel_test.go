package kernel_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/kernel"
	"github.com/symroute/symroute/sync/plan"
)

const (
	base = 1000
	tbl  = 1002
)

var eq = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

var (
	pfx = netip.MustParsePrefix
	ip  = netip.MustParseAddr
)

// env is a namespace with three veth pairs: a0 and b0 up with IPv4 and
// IPv6 addresses, and c0 up but without carrier (its peer is down).
type env struct {
	ns  netns.NsHandle
	h   *kernel.Handle
	idx map[string]int
}

func setup(t *testing.T) *env {
	t.Helper()
	ns := testns.New(t)
	e := &env{ns: ns}
	e.ip(t, `
		link add a0 type veth peer name a0p
		link add b0 type veth peer name b0p
		link add c0 type veth peer name c0p
		link set a0 up
		link set a0p up
		link set b0 up
		link set b0p up
		link set c0 up
		addr add 10.1.0.2/24 dev a0
		addr add 10.2.0.2/24 dev b0
		addr add 10.3.0.2/24 dev c0
		-6 addr add 2001:db8:1::2/64 dev a0 nodad
		-6 addr add 2001:db8:2::2/64 dev b0 nodad
		-6 addr add 2001:db8:3::2/64 dev c0 nodad`)
	h, err := kernel.Open(kernel.Options{NetNS: ns})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	e.h = h
	e.idx = map[string]int{}
	for _, l := range e.snapshot(t).Links {
		e.idx[l.Name] = l.Index
	}
	return e
}

// ip runs one ip(8) command per line inside the namespace.
func (e *env) ip(t *testing.T, script string) {
	t.Helper()
	for _, line := range strings.Split(script, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			testns.Run(t, e.ns, "ip", f...)
		}
	}
}

// tryIP runs an ip(8) command that may fail on kernels without a feature.
func (e *env) tryIP(args string) error {
	out, err := testns.Command(e.ns, "ip", strings.Fields(args)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", args, err, out)
	}
	return nil
}

func (e *env) snapshot(t *testing.T) *plan.State {
	t.Helper()
	st := e.compact(t)
	// The tests look routes up by table; TestSnapshotCopies tests the
	// compact form itself, and the tests that plan plan from it.
	st.Routes, st.Main, st.Copies = st.AllRoutes(), nil, nil
	return st
}

// compact is a snapshot as a pass reads it.
func (e *env) compact(t *testing.T) *plan.State {
	t.Helper()
	st, err := e.h.Snapshot(plan.ReadOptions{TableBase: base})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return st
}

// syncAndCheck plans from the compact snapshot, applies, and fails t
// unless planning again is empty.
func (e *env) syncAndCheck(t *testing.T, o plan.Options) {
	t.Helper()
	st := e.compact(t)
	p := plan.Compute(st, o)
	for i, err := range e.h.Apply(p.Ops) {
		if err != nil {
			t.Errorf("op %d: %v", i, err)
		}
	}
	st = e.compact(t)
	if p := plan.Compute(st, o); len(p.Ops) != 0 {
		rn := plan.NewRenderer(st)
		var b strings.Builder
		for _, op := range p.Ops {
			b.WriteString(rn.Render(op) + "\n")
		}
		t.Errorf("the next plan has %d ops:\n%s", len(p.Ops), b.String())
	}
}

func (e *env) apply(t *testing.T, ops ...plan.Op) {
	t.Helper()
	for i, err := range e.h.Apply(ops) {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
}

// route returns the route of st with k's key, nil if none.
func route(st *plan.State, k plan.RouteKey) *plan.Route {
	for i := range st.Routes {
		if st.Routes[i].Key() == k {
			return &st.Routes[i]
		}
	}
	return nil
}

func tableRoutes(st *plan.State, table uint32) string {
	rn := plan.NewRenderer(st)
	var b strings.Builder
	for _, r := range st.Routes {
		if r.Table == table {
			b.WriteString(rn.Render(plan.Op{Kind: plan.RouteAdd, Route: &r}) + "\n")
		}
	}
	return b.String()
}

func metrics(ms ...plan.Metric) string { return plan.EncodeMetrics(ms) }

// shapes are the routes a mirror table must be able to hold, as the dump
// reports them: what is added must read back Equal, or every pass would
// replace it again.
func (e *env) shapes() []struct {
	name string
	r    plan.Route
} {
	a0, b0 := e.idx["a0"], e.idx["b0"]
	v4 := func(r plan.Route) plan.Route {
		r.Family = plan.FamilyV4
		if r.Table == 0 {
			r.Table = tbl
		}
		if r.Type == 0 {
			r.Type = plan.RouteUnicast
		}
		return r
	}
	v6 := func(r plan.Route) plan.Route {
		r = v4(r)
		r.Family = plan.FamilyV6
		return r
	}
	return []struct {
		name string
		r    plan.Route
	}{
		{"v4 link route with src, scope link", v4(plan.Route{Dst: pfx("10.1.0.0/24"), Protocol: 2, Scope: plan.ScopeLink, Link: a0, Src: ip("10.1.0.2")})},
		{"v4 gateway with metric", v4(plan.Route{Dst: pfx("198.51.100.0/24"), Protocol: 4, Priority: 100, Gw: ip("10.1.0.1"), Link: a0})},
		{"v4 default", v4(plan.Route{Dst: pfx("0.0.0.0/0"), Protocol: 16, Gw: ip("10.1.0.1"), Link: a0, Src: ip("10.1.0.2")})},
		{"v4 onlink gateway", v4(plan.Route{Dst: pfx("203.0.113.0/24"), Protocol: 4, Gw: ip("192.0.2.1"), Link: a0, Flags: plan.FlagOnlink})},
		{"v4 metrics", v4(plan.Route{Dst: pfx("198.51.100.128/25"), Protocol: 4, Gw: ip("10.1.0.1"), Link: a0,
			Metrics: metrics(plan.Metric{ID: 2, Value: 1400, Lock: true}, plan.Metric{ID: 8, Value: 1360}, plan.Metric{ID: 11, Value: 10}, plan.Metric{ID: plan.MetricCongctl, Name: "reno"})})},
		{"v4 via inet6", v4(plan.Route{Dst: pfx("192.0.2.128/25"), Protocol: 4, Gw: ip("2001:db8:1::1"), Link: a0})},
		{"v4 multipath with weights", v4(plan.Route{Dst: pfx("198.51.100.64/26"), Protocol: 4, Priority: 10,
			Nexthops: []plan.Nexthop{{Link: a0, Gw: ip("10.1.0.1"), Weight: 1}, {Link: b0, Gw: ip("10.2.0.1"), Weight: 3}}})},
		{"v4 tos", v4(plan.Route{Dst: pfx("198.51.100.0/24"), Tos: 0x10, Protocol: 4, Gw: ip("10.1.0.1"), Link: a0})},
		{"v4 table 70000", v4(plan.Route{Table: 70000, Dst: pfx("0.0.0.0/0"), Protocol: 4, Gw: ip("10.2.0.1"), Link: b0})},
		{"v4 blackhole", v4(plan.Route{Dst: pfx("192.0.2.0/28"), Type: plan.RouteBlackhole, Protocol: 4})},
		{"v4 unreachable", v4(plan.Route{Dst: pfx("192.0.2.16/28"), Type: plan.RouteUnreachable, Protocol: 4, Priority: 5})},
		{"v4 prohibit", v4(plan.Route{Dst: pfx("192.0.2.32/28"), Type: plan.RouteProhibit, Protocol: 4})},
		{"v4 throw", v4(plan.Route{Dst: pfx("192.0.2.48/28"), Type: plan.RouteThrow, Protocol: 4})},
		{"v6 default via link-local", v6(plan.Route{Dst: pfx("::/0"), Protocol: 4, Priority: 1024, Gw: ip("fe80::1"), Link: a0})},
		{"v6 link route with src", v6(plan.Route{Dst: pfx("2001:db8:5::/64"), Protocol: 3, Priority: 256, Link: a0, Src: ip("2001:db8:1::2")})},
		{"v6 mtu", v6(plan.Route{Dst: pfx("2001:db8:6::/64"), Protocol: 4, Priority: 1024, Gw: ip("2001:db8:1::1"), Link: a0, Metrics: metrics(plan.Metric{ID: 2, Value: 1400})})},
		{"v6 multipath", v6(plan.Route{Dst: pfx("2001:db8:99::/48"), Protocol: 4, Priority: 1024,
			Nexthops: []plan.Nexthop{{Link: a0, Gw: ip("fe80::1"), Weight: 2}, {Link: b0, Gw: ip("fe80::2"), Weight: 1}}})},
		{"v6 table 70000", v6(plan.Route{Table: 70000, Dst: pfx("2001:db8:7::/48"), Protocol: 4, Priority: 1024, Gw: ip("fe80::1"), Link: b0})},
		{"v6 blackhole", v6(plan.Route{Dst: pfx("2001:db8:dead::/48"), Type: plan.RouteBlackhole, Protocol: 4, Priority: 1024})},
		{"v6 unreachable", v6(plan.Route{Dst: pfx("2001:db8:dead:1::/64"), Type: plan.RouteUnreachable, Protocol: 4, Priority: 1024})},
		{"v6 prohibit", v6(plan.Route{Dst: pfx("2001:db8:dead:2::/64"), Type: plan.RouteProhibit, Protocol: 4, Priority: 1024})},
		{"v6 throw", v6(plan.Route{Dst: pfx("2001:db8:dead:3::/64"), Type: plan.RouteThrow, Protocol: 4, Priority: 1024})},
	}
}

func TestRouteRoundTrip(t *testing.T) {
	e := setup(t)
	// Table 70000 is read because a rule looks it up (plan.SnapshotTables).
	e.ip(t, `
		rule add from 192.0.2.99 lookup 70000
		-6 rule add from 2001:db8:ffff::99 lookup 70000`)
	for _, tc := range e.shapes() {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.r
			e.apply(t, plan.Op{Kind: plan.RouteAdd, Route: &want})
			st := e.snapshot(t)
			got := route(st, want.Key())
			if got == nil {
				t.Fatalf("route %v not read back; table %d holds:\n%s", want.Key(), want.Table, tableRoutes(st, want.Table))
			}
			if diff := cmp.Diff(want, *got, eq); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
			if !got.Equal(&want) {
				t.Errorf("read back is not Equal to what was added")
			}

			// Replacing a route with itself changes nothing; adding it
			// again is EEXIST, which counts as done.
			e.apply(t, plan.Op{Kind: plan.RouteReplace, Route: &want}, plan.Op{Kind: plan.RouteAdd, Route: &want})
			if got := route(e.snapshot(t), want.Key()); got == nil || !got.Equal(&want) {
				t.Errorf("after replace with itself: got %+v", got)
			}

			// Deleting it by what the dump says removes it; deleting it
			// again is ENOENT or ESRCH, which counts as done.
			e.apply(t, plan.Op{Kind: plan.RouteDel, Route: got})
			e.apply(t, plan.Op{Kind: plan.RouteDel, Route: got})
			if st := e.snapshot(t); route(st, want.Key()) != nil {
				t.Errorf("still there after delete; table %d holds:\n%s", want.Table, tableRoutes(st, want.Table))
			}
		})
	}
}

func TestRouteReplace(t *testing.T) {
	e := setup(t)
	a0, b0 := e.idx["a0"], e.idx["b0"]
	for _, tc := range []struct {
		name     string
		old, new plan.Route
	}{
		{"v4 new gateway, device, metrics, protocol",
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("0.0.0.0/0"), Type: plan.RouteUnicast, Protocol: 4, Priority: 100, Gw: ip("10.1.0.1"), Link: a0, Metrics: metrics(plan.Metric{ID: 2, Value: 1400})},
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("0.0.0.0/0"), Type: plan.RouteUnicast, Protocol: 16, Priority: 100, Gw: ip("10.2.0.1"), Link: b0, Metrics: metrics(plan.Metric{ID: 8, Value: 1300})}},
		{"v4 plain to multipath",
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.100.0/24"), Type: plan.RouteUnicast, Protocol: 4, Gw: ip("10.1.0.1"), Link: a0},
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.100.0/24"), Type: plan.RouteUnicast, Protocol: 4,
				Nexthops: []plan.Nexthop{{Link: a0, Gw: ip("10.1.0.1"), Weight: 1}, {Link: b0, Gw: ip("10.2.0.1"), Weight: 1}}}},
		{"v4 unicast to blackhole",
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("192.0.2.0/24"), Type: plan.RouteUnicast, Protocol: 4, Gw: ip("10.1.0.1"), Link: a0},
			plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("192.0.2.0/24"), Type: plan.RouteBlackhole, Protocol: 4}},
		{"v6 new gateway",
			plan.Route{Family: plan.FamilyV6, Table: tbl, Dst: pfx("::/0"), Type: plan.RouteUnicast, Protocol: 4, Priority: 1024, Gw: ip("fe80::1"), Link: a0},
			plan.Route{Family: plan.FamilyV6, Table: tbl, Dst: pfx("::/0"), Type: plan.RouteUnicast, Protocol: 16, Priority: 1024, Gw: ip("fe80::2"), Link: b0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.apply(t, plan.Op{Kind: plan.RouteAdd, Route: &tc.old})
			e.apply(t, plan.Op{Kind: plan.RouteReplace, Route: &tc.new})
			st := e.snapshot(t)
			var got []plan.Route
			for _, r := range st.Routes {
				if r.Key() == tc.new.Key() {
					got = append(got, r)
				}
			}
			if diff := cmp.Diff([]plan.Route{tc.new}, got, eq); diff != "" {
				t.Errorf("after replace (-want +got):\n%s", diff)
			}
			e.apply(t, plan.Op{Kind: plan.RouteDel, Route: &tc.new})
		})
	}
}

// A delete of a route as a snapshot read it removes it, whatever the kernel
// holds beside what was read: here a multipath copy whose first nexthop is
// down (dropped on read: FlagHopsDropped), so the route reads as a plain
// one via b0. IPv4 matches a delete's gateway against the first nexthop
// only, so the delete names none.
func TestRouteDeleteOfCollapsedMultipath(t *testing.T) {
	e := setup(t)
	e.ip(t, "route add 198.51.100.0/24 proto 4 table 1002 nexthop via 10.3.0.1 dev c0 nexthop via 10.2.0.1 dev b0")
	var read []plan.Route
	for _, r := range e.snapshot(t).Routes {
		if r.Table == tbl {
			read = append(read, r)
		}
	}
	want := plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.100.0/24"), Type: plan.RouteUnicast, Protocol: 4, Gw: ip("10.2.0.1"), Link: e.idx["b0"],
		Flags: plan.FlagHopsDropped}
	if diff := cmp.Diff([]plan.Route{want}, read, eq); diff != "" {
		t.Fatalf("the copy does not read as a plain route via b0 (-want +got):\n%s", diff)
	}
	e.apply(t, plan.Op{Kind: plan.RouteDel, Route: &read[0]})
	for _, r := range e.snapshot(t).Routes {
		if r.Table == tbl {
			t.Errorf("left in table %d after its delete: %+v", tbl, r)
		}
	}
}

// A route of another table equal to a main route is read as a Copy of it;
// one that differs in any field, as a route of its own. Table 1023 is
// dumped after main (the kernel walks its 256 buckets of tables by id).
func TestSnapshotCopies(t *testing.T) {
	e := setup(t)
	e.ip(t, `
		route add 198.51.100.0/24 via 10.1.0.1 proto 4 metric 7
		route add 198.51.100.0/24 via 10.1.0.1 proto 4 metric 7 table 1001
		route add 198.51.100.0/24 via 10.1.0.1 proto 4 metric 7 table 70000
		route add 198.51.100.0/24 via 10.1.0.1 proto 4 metric 7 table 1023
		route add 198.51.100.0/24 via 10.1.0.1 proto 4 metric 7 mtu 1400 table 1002
		route add 198.51.100.0/24 via 10.2.0.1 proto 4 metric 7 table 1003
		-6 route add 2001:db8:9::/48 via fe80::1 dev a0 proto 4
		-6 route add 2001:db8:9::/48 via fe80::1 dev a0 proto 4 table 1001
		-6 route add 2001:db8:9::/48 via fe80::2 dev a0 proto 4 table 1002
		-6 route add 2001:db8:9::/48 via fe80::1 dev a0 proto 4 table 1023
		rule add from 192.0.2.98 lookup 1023
		rule add from 192.0.2.99 lookup 70000`)
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprintf("whole dumps %v", whole), func(t *testing.T) {
			kernel.SetWholeDumps(e.h, whole)
			testSnapshotCopies(t, e)
		})
	}
}

// testSnapshotCopies checks what TestSnapshotCopies set up, read by
// tables or whole: the two must read the same.
func testSnapshotCopies(t *testing.T, e *env) {
	st, err := e.h.Snapshot(plan.ReadOptions{TableBase: base})
	if err != nil {
		t.Fatal(err)
	}
	rn := plan.NewRenderer(st)
	var copies, whole []string
	for _, c := range st.Copies {
		var of plan.Route
		st.Main.Get(int(c.Of), &of)
		if of.Table != plan.TableMain {
			t.Errorf("a copy of a route of table %d", of.Table)
		}
		copies = append(copies, fmt.Sprintf("%d: %s", c.Table, rn.Render(plan.Op{Kind: plan.RouteAdd, Route: &of})))
	}
	for i := range st.Routes {
		if r := &st.Routes[i]; r.Table != plan.TableMain {
			whole = append(whole, rn.Render(plan.Op{Kind: plan.RouteAdd, Route: r}))
		}
	}
	sort.Strings(copies)
	sort.Strings(whole)
	wantCopies := []string{
		"1001: ip -4 route add 198.51.100.0/24 via 10.1.0.1 dev a0 table 254 proto 4 scope 0 metric 7",
		"1001: ip -6 route add 2001:db8:9::/48 via fe80::1 dev a0 table 254 proto 4 scope 0 metric 1024",
		"1023: ip -4 route add 198.51.100.0/24 via 10.1.0.1 dev a0 table 254 proto 4 scope 0 metric 7",
		"1023: ip -6 route add 2001:db8:9::/48 via fe80::1 dev a0 table 254 proto 4 scope 0 metric 1024",
		"70000: ip -4 route add 198.51.100.0/24 via 10.1.0.1 dev a0 table 254 proto 4 scope 0 metric 7",
	}
	wantWhole := []string{
		"ip -4 route add 198.51.100.0/24 via 10.1.0.1 dev a0 table 1002 proto 4 scope 0 metric 7 mtu 1400",
		"ip -4 route add 198.51.100.0/24 via 10.2.0.1 dev b0 table 1003 proto 4 scope 0 metric 7",
		"ip -6 route add 2001:db8:9::/48 via fe80::2 dev a0 table 1002 proto 4 scope 0 metric 1024",
	}
	if diff := cmp.Diff(wantCopies, copies); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantWhole, whole); diff != "" {
		t.Errorf("routes read whole (-want +got):\n%s", diff)
	}
}

// byKey compares lists of routes as sets: a snapshot read by tables has
// them in another order than one read whole.
var byKey = cmpopts.SortSlices(func(a, b plan.Route) bool {
	return fmt.Sprint(a.Key()) < fmt.Sprint(b.Key())
})

// TestSnapshotTables: a snapshot holds main, base+ifindex of every link
// and the tables rules look up (plan.SnapshotTables), whether it asks the
// kernel for them one by one or reads every table at once; other tables
// are only asked whether they hold a default, and a table nothing names,
// even in symroute's range, is not read at all.
func TestSnapshotTables(t *testing.T) {
	e := setup(t)
	for _, table := range []string{"100", "1000", "1001", "1500", "70000", "70001"} {
		e.ip(t, "route add 198.51.100.0/24 via 10.1.0.1 table "+table)
		e.ip(t, "-6 route add 2001:db8:9::/48 via fe80::1 dev a0 table "+table)
	}
	e.ip(t, `
		route add default via 10.1.0.1 table 100
		route add default via 10.1.0.1 table 1500
		rule add from 192.0.2.99 lookup 70000
		rule add iif a0 lookup 100`)
	var want *plan.State
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprintf("whole dumps %v", whole), func(t *testing.T) {
			kernel.SetWholeDumps(e.h, whole)
			st := e.snapshot(t)
			if !whole && kernel.WholeDumps(e.h) {
				t.Errorf("this kernel refused strict checking: read every table at once")
			}
			tables := map[uint32]int{}
			for _, r := range st.Routes {
				tables[r.Table]++
			}
			// Main holds the link routes (and IPv6's fe80::/64 and multicast);
			// 100 is looked up by a rule of another shape, 1000 (the base
			// itself), 1500 (no link 500) and 70001 by nothing; local
			// cannot be ours.
			if tables[plan.TableMain] == 0 {
				t.Errorf("no main routes read")
			}
			delete(tables, plan.TableMain)
			if diff := cmp.Diff(map[uint32]int{1001: 2, 70000: 2}, tables); diff != "" {
				t.Errorf("routes per table (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[uint32]bool{100: true}, st.Host.DefaultTables); diff != "" {
				t.Errorf("tables holding a default (-want +got):\n%s", diff)
			}
			if want == nil {
				want = st
			} else if diff := cmp.Diff(want.Routes, st.Routes, eq, byKey); diff != "" {
				t.Errorf("read whole, not as read by tables (-by tables +whole):\n%s", diff)
			}
		})
	}
}

func TestLinkdown(t *testing.T) {
	e := setup(t)
	a0, c0 := e.idx["a0"], e.idx["c0"]
	e.ip(t, `
		route add 10.30.0.0/24 via 10.3.0.1 dev c0
		route add 10.31.0.0/24 nexthop via 10.1.0.1 dev a0 nexthop via 10.3.0.1 dev c0
		route add 10.32.0.0/24 nexthop via 10.3.0.1 dev c0 nexthop via 10.3.0.3 dev c0 weight 2
		-6 route add 2001:db8:30::/48 via 2001:db8:3::1 dev c0`)
	st := e.snapshot(t)
	main := func(dst string) plan.Route {
		t.Helper()
		fam, prio := uint8(plan.FamilyV4), uint32(0)
		if strings.Contains(dst, ":") {
			fam, prio = plan.FamilyV6, 1024
		}
		r := route(st, plan.RouteKey{Family: fam, Table: plan.TableMain, Dst: pfx(dst), Priority: prio})
		if r == nil {
			t.Fatalf("%s not in main:\n%s", dst, tableRoutes(st, plan.TableMain))
		}
		return *r
	}
	base := plan.Route{Family: plan.FamilyV4, Table: plan.TableMain, Type: plan.RouteUnicast, Protocol: 3}
	for _, tc := range []struct {
		name string
		want plan.Route
	}{
		{"gateway via down link", func() plan.Route {
			r := base
			r.Dst, r.Gw, r.Link, r.Linkdown = pfx("10.30.0.0/24"), ip("10.3.0.1"), c0, true
			return r
		}()},
		{"multipath with one nexthop down is a plain route", func() plan.Route {
			r := base
			r.Dst, r.Gw, r.Link, r.Flags = pfx("10.31.0.0/24"), ip("10.1.0.1"), a0, plan.FlagHopsDropped
			return r
		}()},
		{"multipath all down", func() plan.Route {
			r := base
			r.Dst, r.Linkdown = pfx("10.32.0.0/24"), true
			r.Nexthops = []plan.Nexthop{{Link: c0, Gw: ip("10.3.0.1"), Weight: 1}, {Link: c0, Gw: ip("10.3.0.3"), Weight: 2}}
			return r
		}()},
		{"v6 gateway via down link", plan.Route{Family: plan.FamilyV6, Table: plan.TableMain, Dst: pfx("2001:db8:30::/48"), Type: plan.RouteUnicast,
			Protocol: 3, Priority: 1024, Gw: ip("2001:db8:3::1"), Link: c0, Linkdown: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, main(tc.want.Dst.String()), eq); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name, setup, dst, want string
	}{
		{"nexthop object", "nexthop add id 10 via 10.1.0.1 dev a0\nroute add 10.40.0.0/24 nhid 10", "10.40.0.0/24", "nexthop object (nhid)"},
		{"lwtunnel encap", "route add 10.41.0.0/24 encap ip id 5 dst 10.1.0.9 dev a0", "10.41.0.0/24", "lightweight tunnel encapsulation"},
		{"IPv6 source prefix", "-6 route add 2001:db8:77::/48 from 2001:db8:1::/64 dev a0", "2001:db8:77::/48", "IPv6 source prefix (from)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, line := range strings.Split(tc.setup, "\n") {
				if err := e.tryIP(line); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("kernel without this feature: %v", err)
					}
					t.Skipf("kernel without this feature: %v", err)
				}
			}
			var got []string
			for _, r := range e.snapshot(t).Routes {
				if r.Table == plan.TableMain && r.Dst == pfx(tc.dst) {
					got = append(got, r.Unsupported.String())
				}
			}
			if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
				t.Errorf("Unsupported of %s (-want +got):\n%s", tc.dst, diff)
			}
		})
	}
}

func TestRules(t *testing.T) {
	e := setup(t)
	v4 := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.1.0.2/32"), Table: tbl, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	v6 := plan.Rule{Family: plan.FamilyV6, Priority: 32765, Src: pfx("2001:db8:1::2/128"), Table: 70000, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	mark4 := plan.Rule{Family: plan.FamilyV4, Priority: 32764, Mark: 0x1000000, Mask: 0xff000000, Table: tbl, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	mark6 := mark4
	mark6.Family, mark6.Mark = plan.FamilyV6, 0x2000000
	ours := func() []plan.Rule {
		var out []plan.Rule
		for _, r := range e.snapshot(t).Rules {
			if r.Priority == 32765 || r.Priority == 32764 {
				out = append(out, r)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			return out[i].Family < out[j].Family || out[i].Family == out[j].Family && out[i].Priority < out[j].Priority
		})
		return out
	}
	// Adding twice is EEXIST, done.
	e.apply(t, plan.Op{Kind: plan.RuleAdd, Rule: &v4}, plan.Op{Kind: plan.RuleAdd, Rule: &v6}, plan.Op{Kind: plan.RuleAdd, Rule: &v4},
		plan.Op{Kind: plan.RuleAdd, Rule: &mark4}, plan.Op{Kind: plan.RuleAdd, Rule: &mark6}, plan.Op{Kind: plan.RuleAdd, Rule: &mark4})
	if diff := cmp.Diff([]plan.Rule{mark4, v4, mark6, v6}, ours(), eq); diff != "" {
		t.Errorf("rules read back (-want +got):\n%s", diff)
	}
	// A delete names the mark: another value's rule at the same priority
	// and table stays.
	other := mark4
	other.Mark = 0x3000000
	e.apply(t, plan.Op{Kind: plan.RuleDel, Rule: &other})
	if got := ours(); len(got) != 4 {
		t.Errorf("a delete of fwmark %#x removed another rule: %+v", other.Mark, got)
	}
	// Deleting twice is ENOENT, done.
	e.apply(t, plan.Op{Kind: plan.RuleDel, Rule: &v4}, plan.Op{Kind: plan.RuleDel, Rule: &v6}, plan.Op{Kind: plan.RuleDel, Rule: &v4},
		plan.Op{Kind: plan.RuleDel, Rule: &mark4}, plan.Op{Kind: plan.RuleDel, Rule: &mark6}, plan.Op{Kind: plan.RuleDel, Rule: &mark4})
	if got := ours(); len(got) != 0 {
		t.Errorf("rules left after delete: %+v", got)
	}
}

func TestRuleDeleteNamesProtocol(t *testing.T) {
	e := setup(t)
	e.ip(t, "rule add from 10.1.0.2 lookup 1002 priority 32765 protocol static")
	ours := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: pfx("10.1.0.2/32"), Table: tbl, Action: plan.RuleActionLookup, Protocol: plan.Protocol}
	e.apply(t, plan.Op{Kind: plan.RuleDel, Rule: &ours})
	var got []plan.Rule
	for _, r := range e.snapshot(t).Rules {
		if r.Priority == 32765 {
			got = append(got, r)
		}
	}
	want := ours
	want.Protocol = unix.RTPROT_STATIC
	if diff := cmp.Diff([]plan.Rule{want}, got, eq); diff != "" {
		t.Errorf("a delete of our rule hit another protocol's (-want +got):\n%s", diff)
	}
}

func TestRuleOther(t *testing.T) {
	e := setup(t)
	nh, err := netlink.NewHandleAt(e.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	mark := netlink.NewRule()
	mark.Family, mark.Priority, mark.Table, mark.Mark, mark.Invert = unix.AF_INET, 100, 1003, 1, true
	iif := netlink.NewRule()
	iif.Family, iif.Priority, iif.Table, iif.IifName = unix.AF_INET6, 101, 1004, "a0"
	for _, r := range []*netlink.Rule{mark, iif} {
		if err := nh.RuleAdd(r); err != nil {
			t.Fatalf("rule add %v: %v", r, err)
		}
	}
	e.ip(t, `
		rule add from 10.9.9.9 lookup 1005 priority 102
		rule add not from 10.9.9.8 lookup 1006 priority 103
		rule add to 10.9.9.0/24 lookup 1007 priority 104
		rule add lookup 1008 priority 105 suppress_prefixlength 0
		rule add from 10.9.9.7 tos 0x10 lookup 1009 priority 106
		rule add from 10.9.9.6 ipproto tcp dport 80 lookup 1010 priority 107
		rule add from 10.9.9.5 uidrange 1-2 lookup 1011 priority 108
		rule add from 10.9.9.4 goto 32766 priority 109`)
	type row struct {
		Priority uint32
		Table    uint32
		Action   uint8
		Other    bool
	}
	var got []row
	for _, r := range e.snapshot(t).Rules {
		if r.Family == plan.FamilyV4 || r.Priority >= 100 && r.Priority < 200 {
			got = append(got, row{r.Priority, r.Table, r.Action, r.Other})
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Priority < got[j].Priority })
	want := []row{
		// iif and suppress_prefixlength 0 are selectors symroute writes:
		// read as such, not as Other.
		{0, 255, 1, false}, {100, 1003, 1, true}, {101, 1004, 1, false}, {102, 1005, 1, false},
		{103, 1006, 1, true}, {104, 1007, 1, true}, {105, 1008, 1, false}, {106, 1009, 1, true},
		{107, 1010, 1, true}, {108, 1011, 1, true}, {109, 0, 2, true},
		{32766, 254, 1, false}, {32767, 253, 1, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestApplyErrors(t *testing.T) {
	e := setup(t)
	a0 := e.idx["a0"]
	good := plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.100.0/24"), Type: plan.RouteUnicast, Protocol: 4, Gw: ip("10.1.0.1"), Link: a0}
	unreachableGw := good
	unreachableGw.Dst, unreachableGw.Gw = pfx("198.51.101.0/24"), ip("172.16.0.1")
	foreign := plan.Rule{Family: plan.FamilyV4, Priority: 5, Table: tbl, Other: true}
	errs := e.h.Apply([]plan.Op{
		{Kind: plan.RouteAdd, Route: &unreachableGw},
		{Kind: plan.RouteAdd, Route: &good},
		{Kind: plan.RuleDel, Rule: &foreign},
		{Kind: plan.RouteReplace, Route: &plan.Route{Family: plan.FamilyV4, Table: tbl, Dst: pfx("198.51.102.0/24"), Type: plan.RouteUnicast, Metrics: "bogus 1"}},
	})
	if len(errs) != 3 {
		t.Fatalf("%d errors for 4 ops, 3 of them bad: %v", len(errs), errs)
	}
	if err := errs[0]; err == nil || !strings.HasPrefix(err.Error(), "route add 198.51.101.0/24 via 172.16.0.1 dev a0 table 1002") ||
		!(errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EINVAL)) {
		t.Errorf("route via an unreachable gateway: got %v, want a wrapped ENETUNREACH or EINVAL", err)
	}
	if errs[1] != nil {
		t.Errorf("good route: %v", errs[1])
	}
	if errs[2] == nil || !strings.HasPrefix(errs[2].Error(), "rule del priority 5 unicast table 1002: ") {
		t.Errorf("rule with other selectors and no message to send back: got %v, want refused", errs[2])
	}
	if errs[3] == nil || !strings.HasPrefix(errs[3].Error(), "route replace 198.51.102.0/24") {
		t.Errorf("bad metric text: got %v, want refused", errs[3])
	}
	if route(e.snapshot(t), good.Key()) == nil {
		t.Errorf("good route of the same batch was not added")
	}
}

// Acks are matched to ops by sequence number across many batches: only
// the bad ops fail, whatever batch they fall in.
func TestApplyManyBatches(t *testing.T) {
	e := setup(t)
	const n = 2000
	ops := make([]plan.Op, n)
	bad := map[int]bool{}
	for i := range ops {
		r := plan.Route{Family: plan.FamilyV4, Table: tbl, Type: plan.RouteUnicast, Protocol: 4,
			Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), 32), Gw: ip("10.1.0.1"), Link: e.idx["a0"]}
		if i%97 == 5 {
			r.Gw = ip("172.16.0.1")
			bad[i] = true
		}
		ops[i] = plan.Op{Kind: plan.RouteAdd, Route: &r}
	}
	failed := map[int]bool{}
	for i, err := range e.h.Apply(ops) {
		if err != nil {
			failed[i] = true
		}
	}
	if diff := cmp.Diff(bad, failed); diff != "" {
		t.Errorf("failed ops (-want +got):\n%s", diff)
	}
	st := e.snapshot(t)
	for i, op := range ops {
		if got := route(st, op.RouteIn(&plan.Route{}).Key()); (got != nil) == bad[i] {
			t.Errorf("op %d (bad: %v): route present: %v", i, bad[i], got != nil)
		}
	}
}

func TestLinksAndAddrs(t *testing.T) {
	e := setup(t)
	e.ip(t, `
		link add br0 type bridge
		link set b0p master br0
		addr add 10.9.0.1 peer 10.9.0.2/30 dev a0
		addr add 2001:db8:9::1 peer 2001:db8:9::2/126 dev a0 nodad`)
	// VRF devices are parsed in TestParseLink: this test's kernel may have
	// no VRF support to make one with.
	st := e.snapshot(t)
	byName := map[string]plan.Link{}
	for _, l := range st.Links {
		byName[l.Name] = l
	}
	want := map[string]plan.Link{
		"lo":  {Index: 1, Name: "lo", Loopback: true},
		"a0":  {Index: e.idx["a0"], Name: "a0", Kind: "veth"},
		"b0p": {Index: e.idx["b0p"], Name: "b0p", Kind: "veth", Master: byName["br0"].Index},
		"br0": {Index: byName["br0"].Index, Name: "br0", Kind: "bridge"},
	}
	got := map[string]plan.Link{}
	for name := range want {
		got[name] = byName[name]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}

	var addrs []plan.Addr
	for _, a := range st.Addrs {
		if a.Link == e.idx["a0"] {
			a.Prefix = a.Prefix.Masked()
			if a.Prefix.Addr().IsLinkLocalUnicast() {
				a.Prefix = pfx("fe80::/64") // its address is random
			}
			addrs = append(addrs, a)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Prefix.Addr().Less(addrs[j].Prefix.Addr()) })
	a0 := e.idx["a0"]
	wantAddrs := []plan.Addr{
		// Point-to-point: the local address, as a host prefix.
		{Link: a0, Prefix: pfx("10.1.0.0/24")},
		{Link: a0, Prefix: pfx("10.9.0.1/32")},
		{Link: a0, Prefix: pfx("2001:db8:1::/64")},
		{Link: a0, Prefix: pfx("2001:db8:9::1/128")},
		{Link: a0, Prefix: pfx("fe80::/64"), Scope: plan.ScopeLink},
	}
	if diff := cmp.Diff(wantAddrs, addrs, eq); diff != "" {
		t.Errorf("addresses of a0 (-want +got):\n%s", diff)
	}
	for _, a := range st.Addrs {
		if a.Link == a0 && a.Prefix.Addr() == ip("10.1.0.2") && a.Prefix.Bits() != 24 {
			t.Errorf("10.1.0.2 read as %v", a.Prefix)
		}
	}
}

// Options{} is the caller's namespace: opened from a thread inside the
// test namespace, it sees that namespace.
func TestOpenCallersNamespace(t *testing.T) {
	e := setup(t)
	err := testns.Do(e.ns, func() error {
		h, err := kernel.Open(kernel.Options{})
		if err != nil {
			return err
		}
		defer h.Close()
		st, err := h.Snapshot(plan.ReadOptions{TableBase: base})
		if err != nil {
			return err
		}
		for _, l := range st.Links {
			if l.Name == "c0p" {
				return nil
			}
		}
		return fmt.Errorf("link c0p not seen: %+v", st.Links)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A pass planned from a snapshot and applied leaves nothing to do: what is
// written reads back as the planner wrote it.
func TestSecondPassEmpty(t *testing.T) {
	e := setup(t)
	e.ip(t, `
		route add default via 10.1.0.1 dev a0 metric 100
		route add default via 10.2.0.1 dev b0 metric 200 mtu lock 1400 advmss 1360
		route add 198.51.100.0/24 proto static nexthop via 10.1.0.1 dev a0 weight 2 nexthop via 10.2.0.1 dev b0
		route add 203.0.113.0/24 via 192.0.2.1 dev a0 onlink
		route add blackhole 192.0.2.0/24
		route add 10.30.0.0/24 via 10.3.0.1 dev c0
		-6 route add default via fe80::1 dev a0 metric 1024
		-6 route add default via fe80::2 dev b0 metric 2048 mtu 1400
		-6 route add unreachable 2001:db8:dead::/48
		-6 route add 2001:db8:99::/48 nexthop via fe80::1 dev a0 nexthop via fe80::2 dev b0`)
	o := plan.DefaultOptions()
	if p := plan.Compute(e.compact(t), o); len(p.Ops) == 0 {
		t.Fatal("first pass planned nothing")
	}
	e.syncAndCheck(t, o)
}

// Another program's route appended to one of our tables with the key of
// one we keep there (IPv4 keeps both): a pass deletes theirs and keeps
// ours, though the compact snapshot holds theirs first.
func TestAppendedRouteOfOurKey(t *testing.T) {
	e := setup(t)
	e.ip(t, "route add 198.51.100.0/24 via 10.1.0.1 dev a0 proto boot")
	o := plan.DefaultOptions()
	e.syncAndCheck(t, o)
	table := strconv.Itoa(base + e.idx["a0"])
	e.ip(t, "route append 198.51.100.0/24 via 10.1.0.9 dev a0 proto static table "+table)
	e.syncAndCheck(t, o)
	if got := strings.TrimSpace(testns.Run(t, e.ns, "ip", "route", "show", "table", table, "198.51.100.0/24")); got != "198.51.100.0/24 via 10.1.0.1 dev a0" {
		t.Errorf("table %s holds %q, want only ours", table, got)
	}
}

// The IPv4 settings the warnings need: each link's own, from its link
// message, and the "all" ones, from RTM_GETNETCONF and /proc/sys as seen
// in the handle's namespace.
func TestSnapshotConf(t *testing.T) {
	e := setup(t)
	testns.Run(t, e.ns, "sysctl", "-qw", "net.ipv4.conf.a0.rp_filter=1", "net.ipv4.conf.b0.arp_filter=1",
		"net.ipv4.conf.b0.arp_ignore=2", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_filter=0")
	st := e.snapshot(t)
	got := map[string][3]uint8{}
	for _, l := range st.Links {
		if l.Name == "a0" || l.Name == "b0" || l.Name == "c0" {
			got[l.Name] = [3]uint8{l.RPFilter, l.ArpFilter, l.ArpIgnore}
		}
	}
	want := map[string][3]uint8{"a0": {1, 0, 0}, "b0": {0, 1, 2}, "c0": {0, 0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links' rp_filter, arp_filter, arp_ignore (-want +got):\n%s", diff)
	}
	if want := (plan.ConfAll{RPFilter: 2, ArpIgnore: 1, ArpFilter: 0}); st.Host.ConfAll != want {
		t.Errorf("all: %+v, want %+v", st.Host.ConfAll, want)
	}
	testns.Run(t, e.ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.all.arp_filter=1")
	if want := (plan.ConfAll{RPFilter: 0, ArpIgnore: 0, ArpFilter: 1}); e.snapshot(t).Host.ConfAll != want {
		t.Errorf("all after a change: %+v, want %+v", e.snapshot(t).Host.ConfAll, want)
	}
}

// The routers the links' advertisements name: IPv6 neighbour entries of
// link-local addresses flagged router, lowest address first per link; not
// a router's entry, a global one, nor an IPv4 one. The route goes with
// its entry.
func TestSnapshotRARouters(t *testing.T) {
	e := setup(t)
	e.ip(t, `
		-6 neigh add fe80::9 lladdr 02:00:00:00:00:09 dev a0 router nud permanent
		-6 neigh add fe80::1 lladdr 02:00:00:00:00:01 dev a0 router nud stale
		-6 neigh add fe80::2 lladdr 02:00:00:00:00:02 dev b0 nud permanent
		-6 neigh add 2001:db8:2::1 lladdr 02:00:00:00:00:03 dev b0 router nud permanent
		-6 neigh add fe80::4 lladdr 02:00:00:00:00:04 dev b0 router nud reachable
		neigh add 10.1.0.1 lladdr 02:00:00:00:00:05 dev a0 nud permanent`)
	ra := func(link string, gw string) plan.Router {
		return plan.Router{Link: e.idx[link], Gw: ip(gw), Source: plan.RouterRA}
	}
	want := []plan.Router{ra("a0", "fe80::1"), ra("a0", "fe80::9"), ra("b0", "fe80::4")}
	if diff := cmp.Diff(want, e.snapshot(t).Routers, eq); diff != "" {
		t.Errorf("Routers (-want +got):\n%s", diff)
	}
	e.ip(t, `
		-6 neigh del fe80::1 dev a0
		-6 neigh del fe80::9 dev a0`)
	if diff := cmp.Diff(want[2:], e.snapshot(t).Routers, eq); diff != "" {
		t.Errorf("after a0's entries went (-want +got):\n%s", diff)
	}
}
