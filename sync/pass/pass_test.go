package pass

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/symroute/symroute/lease"
	"github.com/symroute/symroute/sync/fakekernel"
	"github.com/symroute/symroute/sync/plan"
)

// The property: whatever the host looks like and in whatever order the
// kernel lists it, one pass on the fake kernel leaves our tables and rules
// equal to an independently computed mirror, leaves everything else as it
// was, and a second plan is empty.

type world struct {
	st    plan.State
	names map[uint32]string // rt_tables
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// randomWorld builds a multi-homed host with every kind of thing the
// planner must handle, chosen at random.
func randomWorld(rng *rand.Rand) world {
	w := world{names: map[uint32]string{}}
	st := &w.st
	st.Links = []plan.Link{{Index: 1, Name: "lo", Loopback: true}}
	nLinks := 2 + rng.Intn(4)
	for i := 0; i < nLinks; i++ {
		st.Links = append(st.Links, plan.Link{Index: 2 + i, Name: fmt.Sprintf("em%d", i+1)})
	}
	st.Links = append(st.Links,
		plan.Link{Index: 20, Name: "docker0", Kind: "bridge"},
		plan.Link{Index: 21, Name: "veth1a2b", Kind: "veth", Master: 20},
		plan.Link{Index: 22, Name: "vrf-red", Kind: "vrf", VRFTable: 1000 + uint32(2+rng.Intn(nLinks+1))},
		plan.Link{Index: 23, Name: "red1", Master: 22},
	)
	st.Rules = []plan.Rule{
		{Family: plan.FamilyV4, Priority: 0, Table: 255, Action: 1, Protocol: 2},
		{Family: plan.FamilyV4, Priority: 32766, Table: 254, Action: 1, Protocol: 2},
		{Family: plan.FamilyV6, Priority: 0, Table: 255, Action: 1, Protocol: 2},
		{Family: plan.FamilyV6, Priority: 32766, Table: 254, Action: 1, Protocol: 2},
		// wg-quick's rule and table: in our range, not ours.
		{Family: plan.FamilyV4, Priority: 32765, Table: 51820, Action: 1, Mark: 51820, Mask: 0xffffffff, Other: true},
	}
	main := func(r plan.Route) { r.Table = 254; st.Routes = append(st.Routes, r) }
	for i := 0; i < nLinks; i++ {
		idx := 2 + i
		v4 := netip.AddrFrom4([4]byte{10, byte(i), 0, 2})
		if rng.Intn(5) > 0 {
			st.Addrs = append(st.Addrs, plan.Addr{Link: idx, Prefix: netip.PrefixFrom(v4, 24)})
			if rng.Intn(3) == 0 { // secondary
				st.Addrs = append(st.Addrs, plan.Addr{Link: idx, Prefix: netip.PrefixFrom(v4.Next(), 24)})
			}
			main(plan.Route{Family: 2, Dst: netip.PrefixFrom(v4, 24).Masked(), Type: 1, Protocol: 2, Scope: 253, Link: idx, Src: v4})
			gw := netip.AddrFrom4([4]byte{10, byte(i), 0, 1})
			main(plan.Route{Family: 2, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 16, Gw: gw, Link: idx, Priority: uint32(100 + i), Linkdown: rng.Intn(6) == 0})
			for j := 0; j < rng.Intn(4); j++ {
				main(plan.Route{Family: 2, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + i), byte(j), 0}), 24), Type: 1, Protocol: 4, Gw: gw, Link: idx, Metrics: []string{"", "mtu 1400"}[rng.Intn(2)]})
			}
		}
		if rng.Intn(2) == 0 {
			v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i), 15: 2})
			st.Addrs = append(st.Addrs,
				plan.Addr{Link: idx, Prefix: netip.PrefixFrom(v6, 64)},
				plan.Addr{Link: idx, Prefix: pfx(fmt.Sprintf("fe80::%d/64", i+2)), Scope: 253})
			main(plan.Route{Family: 10, Dst: netip.PrefixFrom(v6, 64).Masked(), Type: 1, Protocol: 2, Link: idx, Priority: 256})
			main(plan.Route{Family: 10, Dst: pfx("fe80::/64"), Type: 1, Protocol: 2, Link: idx, Priority: 256})
			main(plan.Route{Family: 10, Dst: pfx("::/0"), Type: 1, Protocol: 9, Gw: addr("fe80::1"), Link: idx, Priority: 1024})
		}
	}
	// The same address on two links.
	if rng.Intn(3) == 0 && nLinks > 2 {
		st.Addrs = append(st.Addrs, plan.Addr{Link: 3, Prefix: pfx("10.0.0.2/24")})
	}
	st.Addrs = append(st.Addrs,
		plan.Addr{Link: 1, Prefix: pfx("127.0.0.1/8"), Scope: 254},
		plan.Addr{Link: 20, Prefix: pfx("172.17.0.1/16")},
		plan.Addr{Link: 23, Prefix: pfx("10.200.0.2/24")})
	main(plan.Route{Family: 2, Dst: pfx("172.17.0.0/16"), Type: 1, Protocol: 2, Scope: 253, Link: 20, Src: addr("172.17.0.1")})
	main(plan.Route{Family: 2, Dst: pfx("10.99.0.0/16"), Type: plan.RouteBlackhole, Protocol: 4})
	main(plan.Route{Family: 10, Dst: pfx("2001:db8:dead::/48"), Type: plan.RouteUnreachable, Protocol: 4, Priority: 1024})
	main(plan.Route{Family: 2, Dst: pfx("10.77.0.0/16"), Type: 1, Protocol: 4, Link: 2, Unsupported: plan.UnsupportedNexthopObject})
	main(plan.Route{Family: 2, Dst: pfx("198.51.100.0/24"), Type: 1, Protocol: 4, Nexthops: []plan.Nexthop{
		{Link: 2, Gw: addr("10.0.0.1"), Weight: 1}, {Link: 3, Gw: addr("10.1.0.1"), Weight: 2}, {Link: 20, Gw: addr("172.17.0.9"), Weight: 1}}})

	// Leftovers: our rule and copy for a link that is gone, a legacy
	// symrouted rule, junk and a stale copy in a table of ours.
	st.Rules = append(st.Rules,
		plan.Rule{Family: 2, Priority: 32765, Src: pfx("10.40.0.2/32"), Table: 1040, Action: 1, Protocol: plan.Protocol},
		plan.Rule{Family: 2, Priority: 32764, Src: pfx("10.0.0.2/32"), Table: 1002, Action: 1})
	st.Routes = append(st.Routes,
		plan.Route{Family: 2, Table: 1040, Dst: pfx("10.99.0.0/16"), Type: plan.RouteBlackhole, Protocol: 4},
		plan.Route{Family: 2, Table: 1002, Dst: pfx("10.66.0.0/16"), Type: 1, Protocol: 4, Gw: addr("10.0.0.1"), Link: 2},
		plan.Route{Family: 2, Table: 1003, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 16, Gw: addr("10.1.0.99"), Link: 3, Priority: 101})
	// Rules of ours this version does not write (an older or newer one
	// may leave them): an oif rule; em1's address with an oif; and a
	// blackhole of em1's address, table and priority.
	if rng.Intn(2) == 0 {
		st.Rules = append(st.Rules,
			plan.Rule{Family: 2, Priority: 32765, Table: 1003, Action: 1, Protocol: plan.Protocol, Other: true, Selectors: "oif em2", Raw: "oif em2"},
			plan.Rule{Family: 2, Priority: 32765, Src: pfx("10.0.0.2/32"), Table: 1002, Action: 1, Protocol: plan.Protocol,
				Other: true, Selectors: "oif em1", Raw: "from 10.0.0.2 oif em1"},
			plan.Rule{Family: 2, Priority: 32765, Src: pfx("10.0.0.2/32"), Table: 1002, Action: 6, Protocol: plan.Protocol})
	}
	// Someone else's tables: one with a rule, one unexplained, one named.
	foreignT := 1000 + uint32(2+rng.Intn(nLinks))
	st.Rules = append(st.Rules, plan.Rule{Family: 2, Priority: 200, Src: pfx("10.123.0.0/16"), Table: foreignT, Action: 1})
	st.Routes = append(st.Routes,
		plan.Route{Family: 2, Table: foreignT, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 4, Gw: addr("10.9.9.9"), Link: 2},
		plan.Route{Family: 2, Table: 1050, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 4, Gw: addr("10.9.9.9"), Link: 2},
		plan.Route{Family: 2, Table: 51820, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 4, Link: 2})
	if rng.Intn(2) == 0 {
		w.names[1000+uint32(2+rng.Intn(nLinks))] = "isp-backup"
	}
	w.names[1000+uint32(2+rng.Intn(nLinks))] = "symroute-em"
	return w
}

func shuffled(rng *rand.Rand, st plan.State) plan.State {
	out := plan.State{
		Links:  append([]plan.Link(nil), st.Links...),
		Addrs:  append([]plan.Addr(nil), st.Addrs...),
		Rules:  append([]plan.Rule(nil), st.Rules...),
		Routes: append([]plan.Route(nil), st.Routes...),
	}
	rng.Shuffle(len(out.Links), func(i, j int) { out.Links[i], out.Links[j] = out.Links[j], out.Links[i] })
	rng.Shuffle(len(out.Addrs), func(i, j int) { out.Addrs[i], out.Addrs[j] = out.Addrs[j], out.Addrs[i] })
	rng.Shuffle(len(out.Rules), func(i, j int) { out.Rules[i], out.Rules[j] = out.Rules[j], out.Rules[i] })
	rng.Shuffle(len(out.Routes), func(i, j int) { out.Routes[i], out.Routes[j] = out.Routes[j], out.Routes[i] })
	return out
}

// oracle is the mirror computed the slow, obvious way, independently of
// plan.Desire: which tables are ours, and what rules and routes they hold.
type oracleResult struct {
	owned   map[uint32]bool
	rules   []string
	routes  []string
	clashed []string
	// fams are the families each link with a table has an address in.
	fams map[int][]uint8
}

func oracle(w world, o plan.Options) oracleResult {
	st := w.st
	res := oracleResult{owned: map[uint32]bool{}, fams: map[int][]uint8{}}
	linkByIdx := map[int]plan.Link{}
	for _, l := range st.Links {
		linkByIdx[l.Index] = l
	}
	isManaged := func(idx int) bool {
		l, ok := linkByIdx[idx]
		if !ok || l.Loopback || l.Kind == "vrf" || linkByIdx[l.Master].Kind == "vrf" {
			return false
		}
		for _, g := range plan.DefaultExclude {
			if m, _ := filepath.Match(g, l.Name); m {
				return false
			}
		}
		return true
	}
	protos := false
	for _, r := range st.Rules {
		protos = protos || r.Protocol != 0
	}
	holdsAddr := func(idx int, a netip.Addr) bool {
		for _, x := range st.Addrs {
			if x.Link == idx && x.Prefix.Addr() == a && x.Scope == 0 {
				return true
			}
		}
		return false
	}
	mine := func(r plan.Rule) bool {
		host := !r.Other && r.Mark == 0 && r.Mask == 0 && r.Action == 1 && r.Src.IsValid() && r.Src.Bits() == r.Src.Addr().BitLen()
		if r.Protocol == plan.Protocol {
			return true
		}
		if !protos && r.Protocol == 0 && host && r.Priority == o.Priority && r.Table > o.TableBase {
			return true
		}
		return r.Protocol == 0 && host && r.Table > 1000 && holdsAddr(int(r.Table-1000), r.Src.Addr())
	}
	clash := func(t uint32) bool {
		for _, r := range st.Rules {
			if !mine(r) && r.Action == 1 && r.Table == t {
				return true
			}
		}
		for _, l := range st.Links {
			if l.Kind == "vrf" && l.VRFTable == t {
				return true
			}
		}
		n, named := w.names[t]
		return named && len(n) < 8 || named && n[:8] != "symroute"
	}
	for _, l := range st.Links {
		if !clash(o.TableOf(l.Index)) {
			res.owned[o.TableOf(l.Index)] = true
		}
	}
	for _, r := range st.Rules {
		if mine(r) && !clash(r.Table) {
			res.owned[r.Table] = true
		}
	}
	rn := plan.Renderer{LinkName: func(i int) string { return linkByIdx[i].Name }}
	for _, l := range st.Links {
		if !isManaged(l.Index) {
			continue
		}
		t := o.TableOf(l.Index)
		fams := map[uint8]bool{}
		for _, a := range st.Addrs {
			if a.Link != l.Index || a.Scope != 0 {
				continue
			}
			lowest := true
			for _, b := range st.Addrs {
				if b.Prefix.Addr() == a.Prefix.Addr() && b.Scope == 0 && b.Link < l.Index && isManaged(b.Link) {
					lowest = false
				}
			}
			if !lowest {
				continue
			}
			if clash(t) {
				res.clashed = append(res.clashed, l.Name)
				break
			}
			fam := uint8(2)
			if a.Prefix.Addr().Is6() {
				fam = 10
			}
			if !fams[fam] {
				res.fams[l.Index] = append(res.fams[l.Index], fam)
			}
			fams[fam] = true
			res.rules = append(res.rules, rn.Render(plan.Op{Kind: plan.RuleAdd, Rule: &plan.Rule{Family: fam, Priority: o.Priority,
				Src: netip.PrefixFrom(a.Prefix.Addr(), a.Prefix.Addr().BitLen()), Table: t, Action: 1, Protocol: plan.Protocol}}))
		}
		// Sockets bound to the link are routed by its table, on kernels
		// that keep rule protocols: an oif rule per family, and the link's
		// own IPv6 link-local routes in its table.
		oif := o.OifRules && protos
		for _, fam := range []uint8{2, 10} {
			if oif && fams[fam] {
				res.rules = append(res.rules, rn.Render(plan.Op{Kind: plan.RuleAdd, Rule: &plan.Rule{Family: fam, Priority: o.Priority,
					Oif: l.Name, Table: t, Action: 1, Protocol: plan.Protocol}}))
			}
		}
		taken := map[plan.RouteKey]bool{}
		for _, r := range st.Routes {
			if r.Table != 254 || !fams[r.Family] || r.Linkdown || r.Unsupported != plan.Supported {
				continue
			}
			if r.Family == 10 && r.Dst.Bits() >= 10 && pfx("fe80::/10").Contains(r.Dst.Addr()) &&
				!(oif && r.Link == l.Index && r.Nexthops == nil) {
				continue
			}
			c := r
			c.Table = t
			if r.Nexthops != nil {
				c.Nexthops = nil
				for _, nh := range r.Nexthops {
					if nh.Link == l.Index || !isManaged(nh.Link) {
						c.Nexthops = append(c.Nexthops, nh)
					}
				}
				if len(c.Nexthops) == 0 {
					continue
				}
				if len(c.Nexthops) == 1 {
					c.Link, c.Gw, c.Flags, c.Nexthops = c.Nexthops[0].Link, c.Nexthops[0].Gw, c.Nexthops[0].Flags, nil
				}
			} else if r.Link != l.Index && r.Link != 0 && isManaged(r.Link) {
				continue
			}
			res.routes = append(res.routes, rn.Render(plan.Op{Kind: plan.RouteAdd, Route: &c}))
			taken[c.Key()] = true
		}
		res.routes = append(res.routes, oracleThrows(st, l.Index, t, fams, isManaged, taken, rn)...)
	}
	sort.Strings(res.rules)
	sort.Strings(res.routes)
	sort.Strings(res.clashed)
	return res
}

// oracleThrows are the throws of link's table t: every main route with no
// gateway through another managed link (its carrier down or not), but a
// default, an IPv6 link-local one, or one whose prefix main also has with
// no gateway through link; none of a key a copy in t has.
func oracleThrows(st plan.State, link int, t uint32, fams map[uint8]bool, isManaged func(int) bool, taken map[plan.RouteKey]bool, rn plan.Renderer) []string {
	exists := map[int]bool{}
	for _, l := range st.Links {
		exists[l.Index] = true
	}
	subnet := func(r plan.Route) bool { // a connected subnet of managed links, or an unmanaged route down
		if r.Table != 254 || r.Dst.Bits() == 0 || r.Unsupported != plan.Supported || pfx("fe80::/10").Overlaps(r.Dst) {
			return false
		}
		hops := r.Nexthops
		if hops == nil {
			hops = []plan.Nexthop{{Link: r.Link, Gw: r.Gw}}
		}
		managed, unmanaged, gw := 0, 0, false
		for _, nh := range hops {
			switch {
			case nh.Link != 0 && isManaged(nh.Link):
				managed++
			case nh.Link != 0 && exists[nh.Link]:
				unmanaged++
			}
			gw = gw || nh.Gw.IsValid()
		}
		return (managed == len(hops) && !gw && r.Type == 1) || (unmanaged == len(hops) && r.Linkdown)
	}
	links := func(r plan.Route) []int {
		if r.Nexthops == nil {
			return []int{r.Link}
		}
		var out []int
		for _, nh := range r.Nexthops {
			out = append(out, nh.Link)
		}
		return out
	}
	var out []string
	for _, r := range st.Routes {
		if !fams[r.Family] || !subnet(r) || slices.Contains(links(r), link) {
			continue
		}
		here := false
		for _, o := range st.Routes {
			here = here || (subnet(o) && o.Dst == r.Dst && slices.Contains(links(o), link))
		}
		th := plan.Route{Family: r.Family, Table: t, Dst: r.Dst, Tos: r.Tos, Priority: r.Priority, Type: plan.RouteThrow, Protocol: plan.Protocol}
		if !here && !taken[th.Key()] {
			taken[th.Key()] = true
			out = append(out, rn.Render(plan.Op{Kind: plan.RouteAdd, Route: &th}))
		}
	}
	return out
}

// ours splits a fake kernel's state into what the oracle predicts (rules of
// ours, routes of owned tables, rendered) and everything else.
func split(st plan.State, owned map[uint32]bool, rn plan.Renderer) (rules, routes []string, foreign plan.State) {
	for _, r := range st.Rules {
		if r.Protocol == plan.Protocol {
			rules = append(rules, rn.Render(plan.Op{Kind: plan.RuleAdd, Rule: &r}))
		} else {
			foreign.Rules = append(foreign.Rules, r)
		}
	}
	for _, r := range st.Routes {
		if owned[r.Table] {
			routes = append(routes, rn.Render(plan.Op{Kind: plan.RouteAdd, Route: &r}))
		} else {
			foreign.Routes = append(foreign.Routes, r)
		}
	}
	sort.Strings(rules)
	sort.Strings(routes)
	return rules, routes, foreign
}

func sortedState(st plan.State) plan.State {
	key := func(v any) string { return fmt.Sprintf("%+v", v) }
	sort.Slice(st.Rules, func(i, j int) bool { return key(st.Rules[i]) < key(st.Rules[j]) })
	sort.Slice(st.Routes, func(i, j int) bool { return key(st.Routes[i]) < key(st.Routes[j]) })
	return st
}

func testOptions(t *testing.T, names map[uint32]string) Options {
	dir := t.TempDir()
	var text string
	for n, name := range names {
		text += fmt.Sprintf("%d %s\n", n, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "rt_tables"), []byte("255 local\n254 main\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		Plan: plan.DefaultOptions(), LockFile: filepath.Join(dir, "sync.lock"),
		Iproute2Dirs: []string{dir}, Root: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestPassProperty(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		w := randomWorld(rng)
		o := testOptions(t, w.names)
		want := oracle(w, o.Plan)
		for order := 0; order < 3; order++ {
			k := &fakekernel.Kernel{State: shuffled(rng, w.st)}
			res, err := Once(k, o)
			if (len(want.clashed) > 0) != errors.Is(err, ErrPartial) || (err != nil && !errors.Is(err, ErrPartial)) {
				t.Fatalf("seed %d: Once() = %v, oracle clashes %v", seed, err, want.clashed)
			}
			var clashed []string
			for _, c := range res.Clashes {
				clashed = append(clashed, c.Link)
			}
			sort.Strings(clashed)
			if diff := cmp.Diff(want.clashed, clashed); diff != "" {
				t.Fatalf("seed %d: clashes (-want +got):\n%s", seed, diff)
			}
			rn := plan.NewRenderer(&k.State)
			rules, routes, foreign := split(k.State, want.owned, rn)
			if diff := cmp.Diff(want.rules, rules); diff != "" {
				t.Fatalf("seed %d: rules (-want +got):\n%s", seed, diff)
			}
			if diff := cmp.Diff(want.routes, routes); diff != "" {
				t.Fatalf("seed %d: routes (-want +got):\n%s", seed, diff)
			}
			// Everything not ours is as it was (legacy rules aside: they
			// are ours to replace).
			_, _, before := split(w.st, want.owned, rn)
			legacyHeld := false
			for _, a := range w.st.Addrs {
				legacyHeld = legacyHeld || (a.Link == 2 && a.Prefix.Addr() == addr("10.0.0.2"))
			}
			var keep []plan.Rule
			for _, r := range before.Rules {
				if !(legacyHeld && r.Protocol == 0 && r.Priority == 32764 && r.Table == 1002) {
					keep = append(keep, r)
				}
			}
			before.Rules = keep
			if diff := cmp.Diff(sortedState(before), sortedState(foreign), cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("seed %d: foreign state changed (-before +after):\n%s", seed, diff)
			}
			// A second pass writes nothing.
			writes := k.Writes
			if _, err := Once(k, o); err != nil && !errors.Is(err, ErrPartial) {
				t.Fatal(err)
			}
			if k.Writes != writes {
				t.Fatalf("seed %d: second pass wrote %d times", seed, k.Writes-writes)
			}
		}
	}
}

// Kernels before 4.17 drop the rule protocol: the pass must still converge
// and a second one must write nothing.
func TestPassWithoutRuleProtocols(t *testing.T) {
	for seed := int64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewSource(seed))
		w := randomWorld(rng)
		for i := range w.st.Rules {
			w.st.Rules[i].Protocol = 0
		}
		k := &fakekernel.Kernel{State: w.st, NoRuleProtocol: true}
		o := testOptions(t, w.names)
		if _, err := Once(k, o); err != nil && !errors.Is(err, ErrPartial) {
			t.Fatalf("seed %d: %v", seed, err)
		}
		writes := k.Writes
		_, _, p, err := Plan(k, o)
		if err != nil || len(p.Ops) != 0 {
			t.Fatalf("seed %d: replan: %v, %d ops: %v", seed, err, len(p.Ops), p.Ops)
		}
		if _, err := Once(k, o); err != nil && !errors.Is(err, ErrPartial) {
			t.Fatal(err)
		}
		if k.Writes != writes {
			t.Fatalf("seed %d: second pass wrote", seed)
		}
		for _, r := range k.State.Rules {
			if r.Table == 51820 && !r.Other {
				t.Fatalf("seed %d: wg-quick's rule changed", seed)
			}
		}
	}
}

// A link vanishing between snapshot and apply is absorbed: the next round
// reads the kernel again and plans without it.
func TestPassLinkVanishesMidPass(t *testing.T) {
	w := randomWorld(rand.New(rand.NewSource(7)))
	k := &fakekernel.Kernel{State: w.st}
	k.BeforeApply = func(k *fakekernel.Kernel) {
		k.BeforeApply = nil
		var links []plan.Link
		for _, l := range k.State.Links {
			if l.Index != 2 {
				links = append(links, l)
			}
		}
		k.State.Links = links
		var addrs []plan.Addr
		for _, a := range k.State.Addrs {
			if a.Link != 2 {
				addrs = append(addrs, a)
			}
		}
		k.State.Addrs = addrs
		var routes []plan.Route
		for _, r := range k.State.Routes {
			if r.Link != 2 {
				routes = append(routes, r)
			}
		}
		k.State.Routes = routes
	}
	o := testOptions(t, w.names)
	res, err := Once(k, o)
	if err != nil && !errors.Is(err, ErrPartial) {
		st, _, p, _ := Plan(k, o)
		t.Fatalf("%v: %s", err, plan.NewRenderer(st).Render(p.Ops[0]))
	}
	if res.Rounds < 2 {
		t.Errorf("rounds = %d, want a read-back round after the link went", res.Rounds)
	}
	st, _, p, _ := Plan(k, o)
	if len(p.Ops) != 0 {
		t.Errorf("not converged: %d ops left: %s", len(p.Ops), plan.NewRenderer(st).Render(p.Ops[0]))
	}
}

// A kernel that refuses a change makes the pass fail after its rounds
// instead of spinning.
func TestPassGivesUp(t *testing.T) {
	w := randomWorld(rand.New(rand.NewSource(3)))
	k := &refusing{fakekernel.Kernel{State: w.st}}
	_, err := Once(k, testOptions(t, w.names))
	if err == nil || errors.Is(err, ErrPartial) {
		t.Fatalf("Once() = %v, want a failure", err)
	}
}

type refusing struct{ fakekernel.Kernel }

func (r *refusing) Apply(ops []plan.Op) map[int]error {
	errs := map[int]error{}
	for i := range ops {
		errs[i] = errors.New("operation not permitted")
	}
	return errs
}

// Without CAP_NET_ADMIN every change is refused: one round, one error
// saying why, not four rounds of the same refusals.
func TestPassStopsWithoutPermission(t *testing.T) {
	w := randomWorld(rand.New(rand.NewSource(3)))
	k := &notPermitted{fakekernel.Kernel{State: w.st}}
	res, err := Once(k, testOptions(t, w.names))
	if !errors.Is(err, fs.ErrPermission) || res.Rounds != 1 {
		t.Fatalf("Once() = %v after %d rounds, want a permission error after 1", err, res.Rounds)
	}
}

type notPermitted struct{ fakekernel.Kernel }

func (r *notPermitted) Apply(ops []plan.Op) map[int]error {
	errs := map[int]error{}
	for i := range ops {
		errs[i] = fmt.Errorf("rule add: %w", syscall.EPERM)
	}
	return errs
}

// A lease record written by the dhclient hook gives em2's table the
// default its stock dhclient-script never got into main; once the record
// is gone, the next pass removes it.
func TestPassUsesLeaseRecords(t *testing.T) {
	k := &fakekernel.Kernel{State: plan.State{
		Links: []plan.Link{{Index: 1, Name: "lo", Loopback: true}, {Index: 2, Name: "em1"}, {Index: 3, Name: "em2"}},
		Addrs: []plan.Addr{{Link: 2, Prefix: pfx("10.0.0.2/16")}, {Link: 3, Prefix: pfx("192.168.0.2/24")}},
		Rules: []plan.Rule{{Family: 2, Priority: 32766, Table: 254, Action: 1, Protocol: 2}},
		Routes: []plan.Route{
			{Family: 2, Table: 254, Dst: pfx("0.0.0.0/0"), Type: 1, Protocol: 16, Gw: addr("10.0.0.1"), Link: 2},
			{Family: 2, Table: 254, Dst: pfx("10.0.0.0/16"), Type: 1, Protocol: 2, Scope: 253, Link: 2, Src: addr("10.0.0.2")},
			{Family: 2, Table: 254, Dst: pfx("192.168.0.0/24"), Type: 1, Protocol: 2, Scope: 253, Link: 3, Src: addr("192.168.0.2")},
		},
	}}
	o := testOptions(t, nil)
	o.LeaseDir = t.TempDir()
	if err := lease.Write(o.LeaseDir, lease.Record{Iface: "em2", Router: addr("192.168.0.1"), Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	hasDefault := func() bool {
		for _, r := range k.State.Routes {
			if r.Table == 1003 && r.Dst.Bits() == 0 && r.Gw == addr("192.168.0.1") {
				return true
			}
		}
		return false
	}
	if _, err := Once(k, o); err != nil {
		t.Fatal(err)
	}
	if !hasDefault() {
		t.Fatal("table 1003 has no default via the lease router")
	}
	if err := lease.Remove(o.LeaseDir, "em2"); err != nil {
		t.Fatal(err)
	}
	if _, err := Once(k, o); err != nil {
		t.Fatal(err)
	}
	if hasDefault() {
		t.Fatal("the default stayed after its lease record went")
	}
}

// The fake kernel, like the kernel, refuses a gateway no link route of the
// table or of main reaches (a plan whose link routes came after their
// gateway routes would fail on a table main does not cover).
func TestFakeRefusesUnreachableGateway(t *testing.T) {
	k := &fakekernel.Kernel{State: plan.State{Links: []plan.Link{{Index: 2, Name: "em1"}}}}
	gw := plan.Route{Family: 2, Table: 1002, Dst: pfx("198.51.100.0/24"), Type: 1, Protocol: 4, Gw: addr("10.0.0.1"), Link: 2}
	link := plan.Route{Family: 2, Table: 1002, Dst: pfx("10.0.0.0/16"), Type: 1, Protocol: 2, Scope: 253, Link: 2}
	if errs := k.Apply([]plan.Op{{Kind: plan.RouteAdd, Route: &gw}}); errs[0] == nil {
		t.Fatal("a gateway route no link route reaches was added")
	}
	if errs := k.Apply([]plan.Op{{Kind: plan.RouteAdd, Route: &link}, {Kind: plan.RouteAdd, Route: &gw}}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("link route, then gateway route: %v", errs)
	}
	onlink := gw
	onlink.Dst, onlink.Gw, onlink.Flags = pfx("203.0.113.0/24"), addr("192.0.2.1"), plan.FlagOnlink
	if errs := k.Apply([]plan.Op{{Kind: plan.RouteAdd, Route: &onlink}}); errs[0] != nil {
		t.Fatalf("an onlink gateway: %v", errs[0])
	}
}

// A pass whose last round planned nothing leaves that round's look in
// Result.Final (what --metrics-file reports without reading the kernel
// again), and it is the kernel as left.
func TestResultFinal(t *testing.T) {
	w := randomWorld(rand.New(rand.NewSource(3)))
	k := &fakekernel.Kernel{State: w.st}
	o := testOptions(t, w.names)
	for pass := 1; pass <= 2; pass++ {
		res, err := Once(k, o)
		if err != nil && !errors.Is(err, ErrPartial) {
			t.Fatal(err)
		}
		if res.Final == nil || len(res.Final.Plan.Ops) != 0 {
			t.Fatalf("pass %d: Final %+v, want the last round's look, planning nothing", pass, res.Final)
		}
		st, err := k.Snapshot(plan.ReadOptions{TableBase: o.Plan.TableBase})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Final.State.AllRoutes(), st.AllRoutes(); len(got) != len(want) || len(res.Final.State.Rules) != len(st.Rules) {
			t.Fatalf("pass %d: Final holds %d routes and %d rules, the kernel %d and %d", pass, len(got), len(res.Final.State.Rules), len(want), len(st.Rules))
		}
	}
}
