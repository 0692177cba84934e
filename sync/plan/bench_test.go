package plan

import (
	"net/netip"
	"strconv"
	"testing"
)

// syncedHost is the benchmark's host: the seed with n more main routes
// split over em1 and em2, already mirrored.
func syncedHost(n int) *State {
	st := seedSynced()
	for i := 0; i < n; i++ {
		link, gw := 2, "10.0.0.1"
		if i%2 == 1 {
			link, gw = 3, "192.168.0.1"
		}
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i>>16), byte(i >> 8), byte(i), 0}), 24)
		r := Route{Family: FamilyV4, Table: TableMain, Dst: dst, Type: RouteUnicast, Protocol: 4, Gw: ip(gw), Link: link}
		st.Routes = append(st.Routes, r)
		r.Table = DefaultTableBase + uint32(link)
		st.Routes = append(st.Routes, r)
	}
	return st
}

func BenchmarkComputeNoop100k(b *testing.B) {
	st := syncedHost(100000)
	benchCompute(b, st, 0)
}

func BenchmarkComputeFirst100k(b *testing.B) {
	st := syncedHost(100000)
	var main []Route
	for _, r := range st.Routes {
		if r.Table == TableMain {
			main = append(main, r)
		}
	}
	st.Routes = main
	st.Rules = defaultRules()
	// The copies, and each link's address and oif rules.
	benchCompute(b, st, 100010)
}

// One main route changed its gateway since the last pass: its copy is no
// Copy now, and the diff must step over it rather than hash the table.
func BenchmarkComputeOneChange100k(b *testing.B) {
	st := oneChanged(syncedHost(100000))
	benchCompute(b, st, 1)
}

// oneChanged changes the gateway of a main route in the middle of st.
func oneChanged(st *State) *State {
	for i := len(st.Routes) / 2; ; i++ {
		if r := &st.Routes[i]; r.Table == TableMain && r.Gw.IsValid() {
			r.Gw = r.Gw.Next()
			return st
		}
	}
}

func BenchmarkComputeNoop1M(b *testing.B) {
	st := syncedHost(1000000)
	benchCompute(b, st, 0)
}

// benchCompute times planning st, compact as the kernel adapter reads it,
// with the default options, which must make wantOps operations.
func benchCompute(b *testing.B, st *State, wantOps int) {
	Compact(st)
	o := DefaultOptions()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := Compute(st, o); len(p.Ops) != wantOps {
			b.Fatalf("%d ops, want %d: %v", len(p.Ops), wantOps, render(st, p)[:min(3, len(p.Ops))])
		}
	}
}

// manyLinks is a host with links managed links, each with addrs IPv4
// addresses, its connected route and a default of its own metric, already
// mirrored (each table throwing the others' subnets): delegated prefixes
// on cloud NICs, at scale.
func manyLinks(links, addrs int) *State {
	st := &State{Links: []Link{{Index: 1, Name: "lo", Loopback: true}}, Rules: defaultRules()}
	for l := 0; l < links; l++ {
		idx := 2 + l
		st.Links = append(st.Links, Link{Index: idx, Name: "em" + strconv.Itoa(l)})
		net := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(l >> 8), byte(l), 0}), 24)
		table := DefaultTableBase + uint32(idx)
		for a := 0; a < addrs; a++ {
			addr := netip.AddrFrom4([4]byte{10, byte(l >> 8), byte(l), byte(2 + a)})
			st.Addrs = append(st.Addrs, Addr{Link: idx, Prefix: netip.PrefixFrom(addr, 24)})
			st.Rules = append(st.Rules, Rule{Family: FamilyV4, Priority: DefaultPriority, Src: netip.PrefixFrom(addr, 32),
				Table: table, Action: RuleActionLookup, Protocol: Protocol})
		}
		st.Rules = append(st.Rules, oifRule(FamilyV4, "em"+strconv.Itoa(l), table))
		gw := netip.AddrFrom4([4]byte{10, byte(l >> 8), byte(l), 1})
		for _, r := range []Route{
			{Family: FamilyV4, Dst: net, Type: RouteUnicast, Protocol: 2, Scope: ScopeLink, Link: idx, Src: net.Addr().Next().Next()},
			{Family: FamilyV4, Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: RouteUnicast, Protocol: 16, Gw: gw, Link: idx, Priority: uint32(100 + l)},
		} {
			for _, t := range []uint32{TableMain, table} {
				r.Table = t
				st.Routes = append(st.Routes, r)
			}
		}
	}
	// Each table throws every other link's subnet: links*(links-1) throws.
	for l := 0; l < links; l++ {
		for o := 0; o < links; o++ {
			if o != l {
				net := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(o >> 8), byte(o), 0}), 24)
				st.Routes = append(st.Routes, Route{Family: FamilyV4, Table: DefaultTableBase + uint32(2+l), Dst: net,
					Type: RouteThrow, Protocol: Protocol})
			}
		}
	}
	return st
}

func BenchmarkComputeNoop1000Links(b *testing.B) {
	st := manyLinks(1000, 4)
	benchCompute(b, st, 0)
}

func BenchmarkComputeNoop64x64(b *testing.B) {
	st := manyLinks(64, 64)
	benchCompute(b, st, 0)
}

// BenchmarkCopyFinder1M times, over 1M main routes, what a miss of the
// copy walk may cost: a scan of main (the first maxCopyScans misses), the
// index built after them, and the protocol check that spares both for
// symroute's own throws and ways out.
func BenchmarkCopyFinder1M(b *testing.B) {
	st := syncedHost(1000000)
	Compact(st)
	miss := Route{Family: FamilyV4, Table: 1002, Type: RouteUnicast, Protocol: st.Main.rest(0).Protocol, Dst: netip.MustParsePrefix("198.18.0.0/15")}
	b.Run("scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			f := NewCopyFinder(st.Main)
			f.protocolHeld(0)
			b.StartTimer()
			if _, ok := f.Find(&miss); ok {
				b.Fatal("found")
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f := NewCopyFinder(st.Main)
			f.index()
		}
	})
	b.Run("protocols", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f := NewCopyFinder(st.Main)
			f.protocolHeld(Protocol)
		}
	})
}
