package plan

import (
	"net/netip"
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
	o := DefaultOptions()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := Compute(st, o); len(p.Ops) != 0 {
			b.Fatalf("%d ops", len(p.Ops))
		}
	}
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
	o := DefaultOptions()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := Compute(st, o); len(p.Ops) != 100006 {
			b.Fatalf("%d ops", len(p.Ops))
		}
	}
}
