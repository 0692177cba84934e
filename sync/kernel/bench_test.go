package kernel_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/kernel"
	"github.com/symroute/symroute/sync/plan"
)

// benchRoutes returns n /32 routes via a gateway on link in table, a tenth
// of them with a metric set, as a DHCP-fed main table might hold.
func benchRoutes(n int, table uint32, link int) []plan.Op {
	ops := make([]plan.Op, n)
	mtu := plan.EncodeMetrics([]plan.Metric{{ID: 2, Value: 1400}})
	for i := range ops {
		r := plan.Route{Family: plan.FamilyV4, Table: table, Type: plan.RouteUnicast, Protocol: 4, Priority: 100,
			Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32),
			Gw:  netip.MustParseAddr("192.168.0.1"), Link: link}
		if i%10 == 0 {
			r.Metrics = mtu
		}
		ops[i] = plan.Op{Kind: plan.RouteAdd, Route: &r}
	}
	return ops
}

func benchEnv(b *testing.B) (*kernel.Handle, int) {
	ns := testns.New(b)
	testns.Run(b, ns, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0p")
	testns.Run(b, ns, "ip", "link", "set", "d0", "up")
	testns.Run(b, ns, "ip", "link", "set", "d0p", "up")
	testns.Run(b, ns, "ip", "addr", "add", "192.168.0.2/24", "dev", "d0")
	h := openBench(b, ns)
	st, err := h.Snapshot(plan.ReadOptions{TableBase: 1000})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range st.Links {
		if l.Name == "d0" {
			return h, l.Index
		}
	}
	b.Fatal("no d0")
	return nil, 0
}

// openBench opens a handle on ns, closed when the benchmark ends.
func openBench(b *testing.B, ns netns.NsHandle) *kernel.Handle {
	h, err := kernel.Open(kernel.Options{NetNS: ns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h
}

func mustApply(b *testing.B, h *kernel.Handle, ops []plan.Op) {
	for i, err := range h.Apply(ops) {
		if err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
}

// BenchmarkSnapshot100k reads 100k routes in main and 100k in a mirror
// table.
func BenchmarkSnapshot100k(b *testing.B) {
	h, d0 := benchEnv(b)
	mustApply(b, h, benchRoutes(100000, plan.TableMain, d0))
	mustApply(b, h, benchRoutes(100000, 1000+uint32(d0), d0))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := h.Snapshot(plan.ReadOptions{TableBase: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if st.Main.Len()+len(st.Routes)+len(st.Copies) < 200000 || len(st.Copies) < 100000 {
			b.Fatalf("%d routes and %d copies", len(st.Routes), len(st.Copies))
		}
	}
}

// BenchmarkApplyAdd100k adds 100k routes to an empty table.
func BenchmarkApplyAdd100k(b *testing.B) {
	h, d0 := benchEnv(b)
	add := benchRoutes(100000, 1000+uint32(d0), d0)
	del := make([]plan.Op, len(add))
	for i := range add {
		del[i] = plan.Op{Kind: plan.RouteDel, Route: add[i].Route}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mustApply(b, h, add)
		b.StopTimer()
		mustApply(b, h, del)
		b.StartTimer()
	}
}

// BenchmarkSnapshot64x64 reads a host of 64 veth links with 64 IPv4
// addresses and a rule each (bench scenario 5): links, addresses and
// rules dominate, not routes.
func BenchmarkSnapshot64x64(b *testing.B) {
	ns := testns.New(b)
	var script strings.Builder
	for l := 0; l < 64; l++ {
		fmt.Fprintf(&script, "link add m%d type veth peer name m%dp\nlink set m%d up\nlink set m%dp up\n", l, l, l, l)
		for a := 0; a < 64; a++ {
			fmt.Fprintf(&script, "addr add 10.%d.%d.1/24 dev m%d\n", l, a, l)
			fmt.Fprintf(&script, "rule add from 10.%d.%d.1 lookup %d pref 32765\n", l, a, 1000+l)
		}
	}
	cmd := testns.Command(ns, "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ip -batch: %v\n%s", err, out)
	}
	h := openBench(b, ns)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := h.Snapshot(plan.ReadOptions{TableBase: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Addrs) < 64*64 || len(st.Rules) < 64*64 {
			b.Fatalf("%d addresses, %d rules", len(st.Addrs), len(st.Rules))
		}
	}
}
