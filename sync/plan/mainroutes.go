package plan

import (
	"hash/maphash"
	"net/netip"
	"slices"
)

// MainRoutes is the main table as a snapshot holds it: each route's
// destination in 24 bytes with no pointer, and the rest of it (gateway,
// device, protocol, metrics, nexthops...) interned, once for every route
// that shares it. A full table from two upstreams has 1M destinations
// and a handful of distinct rests: held as one 144-byte Route each, with
// the pointers of three netip.Addr, a string and a slice, main was most
// of a pass's memory and of the collector's marking.
//
// Routes are numbered in the order added (the kernel's dump order, which
// the diff's walks rely on); Copy.Of and the planner's wanted routes are
// those numbers. The zero value is empty and ready to use.
type MainRoutes struct {
	// chunks hold the packed routes, mainChunk a chunk: grown a chunk at
	// a time, 1M routes never move (a doubling slice would hold two
	// copies for a moment).
	chunks [][]packedRoute
	n      int
	// rests are the distinct routes less their destination.
	rests []Route
	// byHash finds a rest by the hash of its fields: the first rest of
	// that hash, the others chained through next.
	byHash map[uint64]int32
	next   []int32
	seed   maphash.Seed
	// recent are the rests used last, tried before a hash: a dump comes
	// in runs of a few rests (a link's connected routes, each upstream's,
	// interleaved).
	recent   [recentRests]int32
	recentAt int // the slot of recent to fill next
}

// recentRests is how many rests are tried before a hash: a full table
// from two or three upstreams alternates between as many.
const recentRests = 4

// packedRoute is a route's destination and the index of its rest.
type packedRoute struct {
	dst  [16]byte
	rest uint32
	bits uint8
	kind uint8 // dstInvalid, dst4 or dst6: what dst holds
}

const (
	dstInvalid = iota
	dst4
	dst6
)

// mainChunk is how many routes a chunk holds: 96 KiB.
const mainChunk = 1 << 12

// NewMainRoutes packs routes, in their order.
func NewMainRoutes(routes []Route) *MainRoutes {
	mr := &MainRoutes{}
	for i := range routes {
		mr.Add(&routes[i])
	}
	return mr
}

// Len is the number of routes; a nil MainRoutes has none.
func (mr *MainRoutes) Len() int {
	if mr == nil {
		return 0
	}
	return mr.n
}

// Add appends r (copied: r may be reused).
func (mr *MainRoutes) Add(r *Route) {
	p := packedRoute{rest: uint32(mr.restOf(r))}
	if a := r.Dst.Addr(); r.Dst.IsValid() && a.Is4() {
		b := a.As4()
		copy(p.dst[:], b[:])
		p.kind, p.bits = dst4, uint8(r.Dst.Bits())
	} else if r.Dst.IsValid() {
		p.dst, p.kind, p.bits = a.As16(), dst6, uint8(r.Dst.Bits())
	}
	if mr.n%mainChunk == 0 {
		mr.chunks = append(mr.chunks, make([]packedRoute, 0, mainChunk))
	}
	c := &mr.chunks[len(mr.chunks)-1]
	*c = append(*c, p)
	mr.n++
}

// Get materialises route i into r and returns r.
func (mr *MainRoutes) Get(i int, r *Route) *Route {
	p := mr.at(i)
	*r = mr.rests[p.rest]
	r.Dst = p.prefix()
	return r
}

// All returns every route, materialised: a new slice, for tests and
// reports off a pass's path.
func (mr *MainRoutes) All() []Route {
	out := make([]Route, mr.Len())
	for i := range out {
		mr.Get(i, &out[i])
	}
	return out
}

func (mr *MainRoutes) at(i int) *packedRoute {
	return &mr.chunks[i/mainChunk][i%mainChunk]
}

// rest returns the fields of route i but its destination: not to be
// changed.
func (mr *MainRoutes) rest(i int) *Route { return &mr.rests[mr.at(i).rest] }

// Dst returns route i's destination.
func (mr *MainRoutes) Dst(i int) netip.Prefix { return mr.at(i).prefix() }

// sameKey compares the kernel's keys of routes i and j (they are in one
// table).
func (mr *MainRoutes) sameKey(i, j int) bool {
	p, q := mr.at(i), mr.at(j)
	if p.dst != q.dst || p.bits != q.bits || p.kind != q.kind {
		return false
	}
	a, b := &mr.rests[p.rest], &mr.rests[q.rest]
	return a.Priority == b.Priority && a.Tos == b.Tos && a.Family == b.Family
}

// copiedBy reports whether c is route i in every field but the table, the
// facts read about them included (with no copy of route i made): a Copy is
// deleted in main's form, and a route read whole must not be deleted as
// one read without its down nexthops (FlagHopsDropped), nor the other way
// round.
func (mr *MainRoutes) copiedBy(i int, c *Route) bool {
	p := mr.at(i)
	if p.prefix() != c.Dst {
		return false
	}
	r := &mr.rests[p.rest]
	return r.equalButDst(c) && r.Flags == c.Flags && r.Linkdown == c.Linkdown && r.Unsupported == c.Unsupported
}

func (p *packedRoute) prefix() netip.Prefix {
	switch p.kind {
	case dst4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(p.dst[:4])), int(p.bits))
	case dst6:
		return netip.PrefixFrom(netip.AddrFrom16(p.dst), int(p.bits))
	}
	return netip.Prefix{}
}

// restOf returns the index of r's rest, added if new.
func (mr *MainRoutes) restOf(r *Route) int32 {
	if len(mr.rests) > 0 {
		for _, i := range mr.recent {
			if sameRest(&mr.rests[i], r) {
				return i
			}
		}
	}
	if mr.byHash == nil {
		mr.byHash, mr.seed = map[uint64]int32{}, maphash.MakeSeed()
	}
	h := mr.hashRest(r)
	first, ok := mr.byHash[h]
	if ok {
		for i := first; i >= 0; i = mr.next[i] {
			if sameRest(&mr.rests[i], r) {
				mr.used(i)
				return i
			}
		}
	}
	i := int32(len(mr.rests))
	rest := *r
	rest.Dst = netip.Prefix{}
	// The nexthops are copied: the caller may reuse its slice.
	rest.Nexthops = slices.Clip(slices.Clone(r.Nexthops))
	mr.rests = append(mr.rests, rest)
	mr.next = append(mr.next, -1)
	if ok {
		// Chained after the first: the map keeps pointing at it.
		mr.next[i], mr.next[first] = mr.next[first], i
	} else {
		mr.byHash[h] = i
	}
	mr.used(i)
	return i
}

// used notes rest i among the recent ones.
func (mr *MainRoutes) used(i int32) {
	mr.recent[mr.recentAt] = i
	mr.recentAt = (mr.recentAt + 1) % recentRests
}

// sameRest compares every field of a and b but the destination, the facts
// read about them included.
func sameRest(a, b *Route) bool {
	return a.Table == b.Table && a.equalButDst(b) && a.Flags == b.Flags && a.Linkdown == b.Linkdown && a.Unsupported == b.Unsupported
}

// hashRest hashes what sameRest compares.
func (mr *MainRoutes) hashRest(r *Route) uint64 {
	var h maphash.Hash
	h.SetSeed(mr.seed)
	var b [64]byte
	put := func(o int, v uint32) { b[o], b[o+1], b[o+2], b[o+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	gw, src := r.Gw.As16(), r.Src.As16()
	copy(b[0:16], gw[:])
	copy(b[16:32], src[:])
	put(32, r.Table)
	put(36, r.Priority)
	put(40, uint32(r.Link))
	b[44], b[45], b[46], b[47] = r.Family, r.Tos, r.Type, r.Protocol
	b[48], b[49], b[50], b[51] = r.Scope, r.Flags, uint8(r.Unsupported), uint8(r.Gw.BitLen()/32)
	if r.Linkdown {
		b[52] = 1
	}
	b[53] = uint8(r.Src.BitLen() / 32)
	put(54, uint32(len(r.Nexthops)))
	h.Write(b[:58])
	h.WriteString(r.Metrics)
	for _, nh := range r.Nexthops {
		a := nh.Gw.As16()
		h.Write(a[:])
		put(0, uint32(nh.Link))
		put(4, uint32(nh.Weight))
		b[8] = nh.Flags
		h.Write(b[:9])
	}
	return h.Sum64()
}

// key returns the kernel's key of route i.
func (mr *MainRoutes) key(i int) RouteKey {
	r := mr.rest(i)
	return RouteKey{Family: r.Family, Table: r.Table, Dst: mr.Dst(i), Tos: r.Tos, Priority: r.Priority}
}
