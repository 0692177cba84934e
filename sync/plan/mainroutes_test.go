package plan

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// randomRoute is a main route with any of the fields a snapshot reads set
// or not, few enough values of each that rests repeat.
func randomRoute(rng *rand.Rand) Route {
	r := Route{Table: TableMain, Family: FamilyV4, Type: RouteUnicast, Protocol: uint8(rng.Intn(3)) + 2}
	if rng.Intn(3) == 0 {
		r.Family = FamilyV6
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.Intn(256)), byte(rng.Intn(256))}
		r.Dst = netip.PrefixFrom(netip.AddrFrom16(a), 32+rng.Intn(33)).Masked()
	} else {
		r.Dst = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.Intn(256)), byte(rng.Intn(256)), 0}), rng.Intn(25)).Masked()
	}
	switch rng.Intn(8) {
	case 0:
		r.Dst = netip.Prefix{} // as a hand-made state may hold
	case 1:
		// An IPv4-mapped destination stays IPv6.
		r.Dst = netip.PrefixFrom(netip.AddrFrom16(netip.MustParseAddr("::ffff:10.0.0.0").As16()), 104)
	}
	gw := [...]string{"", "10.0.0.1", "10.0.0.2", "fe80::1"}[rng.Intn(4)]
	if gw != "" {
		r.Gw = netip.MustParseAddr(gw)
	}
	r.Link = rng.Intn(3) + 1
	r.Priority = uint32(rng.Intn(2) * 100)
	if rng.Intn(4) == 0 {
		r.Src = netip.MustParseAddr("10.0.0.9")
	}
	if rng.Intn(4) == 0 {
		r.Metrics = "mtu 1400"
	}
	if rng.Intn(5) == 0 {
		r.Gw, r.Link = netip.Addr{}, 0
		for n := 2 + rng.Intn(2); n > 0; n-- {
			r.Nexthops = append(r.Nexthops, Nexthop{Link: n, Gw: netip.MustParseAddr(fmt.Sprintf("10.0.%d.1", n)), Weight: 1 + rng.Intn(2)})
		}
	}
	r.Tos = uint8(rng.Intn(2) * 4)
	r.Scope = uint8(rng.Intn(2) * ScopeLink)
	r.Flags = uint8(rng.Intn(2)) * FlagOnlink
	r.Linkdown = rng.Intn(6) == 0
	r.Unsupported = Unsupported(rng.Intn(5) / 4)
	return r
}

// exactly compares routes field by field, the facts Equal leaves out
// included.
var exactly = cmp.Options{cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}), cmpopts.EquateEmpty()}

// Packed, every route reads back as it was added, field for field, in its
// order, and routes that differ only in their destination share one rest.
func TestMainRoutesRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	routes := make([]Route, 3*chunkLen+17) // more than one chunk
	for i := range routes {
		routes[i] = randomRoute(rng)
		if i == 0 || rng.Intn(3) > 0 {
			continue
		}
		// Its neighbour's twin but for one field: the rest added last is
		// tried first, and must not be taken for it.
		r := routes[i-1]
		switch rng.Intn(6) {
		case 0:
			r.Linkdown = !r.Linkdown
		case 1:
			r.Flags ^= FlagHopsDropped
		case 2:
			r.Unsupported ^= UnsupportedEncap
		case 3:
			r.Metrics += " hoplimit 9"
		case 4:
			r.Nexthops = append(r.Nexthops[:len(r.Nexthops):len(r.Nexthops)], Nexthop{Link: 9, Weight: 1})
		case 5:
			r.Dst = routes[i].Dst
		}
		routes[i] = r
	}
	mr := NewMainRoutes(routes)
	if mr.Len() != len(routes) {
		t.Fatalf("Len %d, want %d", mr.Len(), len(routes))
	}
	if diff := cmp.Diff(routes, mr.All(), exactly); diff != "" {
		t.Fatalf("routes read back (-added +read):\n%s", diff)
	}
	rests := map[string]bool{}
	for _, r := range routes {
		r.Dst = netip.Prefix{}
		rests[fmt.Sprintf("%#v", r)] = true
	}
	if len(mr.rests) != len(rests) {
		t.Errorf("%d rests held, the routes have %d distinct ones", len(mr.rests), len(rests))
	}
	for i := range routes {
		if got, want := mr.key(i), routes[i].Key(); got != want {
			t.Fatalf("route %d: key %+v, want %+v", i, got, want)
		}
		// A random route, and the neighbour a twin may copy the key of.
		for _, j := range []int{rng.Intn(len(routes)), max(i-1, 0)} {
			if got, want := mr.sameKey(i, j), routes[i].sameKey(&routes[j]); got != want {
				t.Fatalf("routes %d and %d: sameKey %v, want %v", i, j, got, want)
			}
		}
		c := routes[i]
		c.Table = 1002
		if !mr.copiedBy(i, &c) {
			t.Fatalf("route %d: its copy not found to copy it", i)
		}
		c.Linkdown = !c.Linkdown
		if mr.copiedBy(i, &c) {
			t.Fatalf("route %d: a copy that differs in Linkdown found to copy it", i)
		}
	}
}

// A rest keeps its own nexthops: the snapshot's parser may reuse the
// slice it added a route with.
func TestMainRoutesOwnNexthops(t *testing.T) {
	r := Route{Table: TableMain, Family: FamilyV4, Type: RouteUnicast, Dst: pfx("10.9.0.0/16")}
	r.Nexthops = []Nexthop{{Link: 2, Gw: ip("10.0.0.1"), Weight: 1}, {Link: 3, Gw: ip("10.0.1.1"), Weight: 1}}
	var mr MainRoutes
	mr.Add(&r)
	r.Nexthops[0].Gw = ip("10.0.0.99")
	if got := mr.Get(0, &Route{}).Nexthops[0].Gw; got != ip("10.0.0.1") {
		t.Errorf("the first nexthop reads %v after the caller's slice changed, want 10.0.0.1", got)
	}
	if mr.Len() != 1 || (*MainRoutes)(nil).Len() != 0 {
		t.Errorf("Len %d, nil's %d", mr.Len(), (*MainRoutes)(nil).Len())
	}
}

// A full table from two upstreams holds one rest an upstream, however many
// routes.
func TestMainRoutesInterns(t *testing.T) {
	var mr MainRoutes
	for i := 0; i < 20000; i++ {
		r := gwRoute(TableMain, fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256), [2]string{"10.255.0.1", "10.255.1.1"}[i%3%2], 2+i%3%2, 0)
		mr.Add(&r)
	}
	if len(mr.rests) != 2 {
		t.Errorf("%d rests, want 2", len(mr.rests))
	}
}

// Rests past what a packed route's 22 bits hold (a table of more than 4M
// routes) are kept apart, and read back the same.
func TestMainRoutesOverflowRests(t *testing.T) {
	defer func(m int32) { maxPackedRest = m }(maxPackedRest)
	maxPackedRest = 3
	rng := rand.New(rand.NewSource(2))
	routes := make([]Route, 200)
	for i := range routes {
		routes[i] = randomRoute(rng)
	}
	mr := NewMainRoutes(routes)
	if len(mr.rests) <= 3 || len(mr.overflow) == 0 {
		t.Fatalf("%d rests, %d routes with theirs apart: the test needs more than 3", len(mr.rests), len(mr.overflow))
	}
	if diff := cmp.Diff(routes, mr.All(), exactly); diff != "" {
		t.Fatalf("routes read back (-added +read):\n%s", diff)
	}
	for i := range routes {
		c := routes[i]
		c.Table = 1002
		if !mr.copiedBy(i, &c) {
			t.Fatalf("route %d: its copy not found to copy it", i)
		}
	}
}
