package plan

import (
	"hash/maphash"
	"net/netip"
	"slices"
)

// MainRoutes is the main table as a snapshot holds it: each route in 8
// bytes with no pointer (an IPv6 destination 16 more, apart), its
// destination and the index of the rest of it (gateway, device, protocol,
// metrics, nexthops...), which is interned, once for every route that
// shares it. A full table from two upstreams has 1M destinations
// and a handful of distinct rests: held as one 144-byte Route each, with
// the pointers of three netip.Addr, a string and a slice, main was most
// of a pass's memory and of the collector's marking.
//
// Routes are numbered in the order added (the kernel's dump order, which
// the diff's walks rely on); Copy.Of and the planner's wanted routes are
// those numbers. The zero value is empty and ready to use.
type MainRoutes struct {
	// routes are the packed routes, v6 the IPv6 destinations they point
	// to.
	routes chunked[packedRoute]
	v6     chunked[[16]byte]
	// overflow holds the rests of routes whose index is maxPackedRest or
	// more, by route: only a table of more than 4M routes can have so
	// many rests.
	overflow map[int32]int32
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

// packedRoute is a route's destination and the index of its rest: 8
// bytes, as each new page a pass touches costs a fault (about 10 us in a
// VM), and 24 bytes a route faulted 6000 pages at 1M routes.
type packedRoute struct {
	// key is an IPv4 destination's address, big-endian, or the index of
	// an IPv6 one in MainRoutes.v6.
	key uint32
	// meta is rest<<restShift | kind<<8 | prefix length.
	meta uint32
}

const (
	dstInvalid = iota
	dst4
	dst6
)

const restShift = 10

// maxPackedRest is the first rest index meta cannot hold: 1<<22 - 1,
// which marks a rest held in overflow. A variable for tests.
var maxPackedRest = int32(1<<(32-restShift) - 1)

func (p *packedRoute) kind() uint8 { return uint8(p.meta >> 8 & 3) }
func (p *packedRoute) bits() int   { return int(p.meta & 0xff) }

// chunked is a list grown a chunk of chunkLen at a time: 1M routes never
// move (a doubling slice would hold two copies for a moment).
type chunked[T any] struct {
	chunks [][]T
	n      int
}

// chunkLen is how many items a chunk holds: 32 KiB of routes.
const chunkLen = 1 << 12

func (c *chunked[T]) add(v T) int {
	if c.n%chunkLen == 0 {
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
	return c.n - 1
}

func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

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
	return mr.routes.n
}

// Add appends r (copied: r may be reused).
func (mr *MainRoutes) Add(r *Route) {
	var p packedRoute
	rest := mr.restOf(r)
	if rest >= maxPackedRest {
		if mr.overflow == nil {
			mr.overflow = map[int32]int32{}
		}
		mr.overflow[int32(mr.routes.n)] = rest
		rest = maxPackedRest
	}
	kind := uint32(dstInvalid)
	if a := r.Dst.Addr(); r.Dst.IsValid() && a.Is4() {
		b := a.As4()
		p.key, kind = uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), dst4
	} else if r.Dst.IsValid() {
		p.key, kind = uint32(mr.v6.add(a.As16())), dst6
	}
	p.meta = uint32(rest)<<restShift | kind<<8 | uint32(max(r.Dst.Bits(), 0))
	mr.routes.add(p)
}

// Get materialises route i into r and returns r.
func (mr *MainRoutes) Get(i int, r *Route) *Route {
	*r = mr.rests[mr.restIndex(i)]
	r.Dst = mr.Dst(i)
	return r
}

// restIndex returns the index of route i's rest.
func (mr *MainRoutes) restIndex(i int) int32 {
	if rest := int32(mr.at(i).meta >> restShift); rest != maxPackedRest {
		return rest
	}
	return mr.overflow[int32(i)]
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

func (mr *MainRoutes) at(i int) *packedRoute { return mr.routes.at(i) }

// rest returns the fields of route i but its destination: not to be
// changed.
func (mr *MainRoutes) rest(i int) *Route { return &mr.rests[mr.restIndex(i)] }

// Dst returns route i's destination.
func (mr *MainRoutes) Dst(i int) netip.Prefix {
	p := mr.at(i)
	switch p.kind() {
	case dst4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(p.key >> 24), byte(p.key >> 16), byte(p.key >> 8), byte(p.key)}), p.bits())
	case dst6:
		return netip.PrefixFrom(netip.AddrFrom16(*mr.v6.at(int(p.key))), p.bits())
	}
	return netip.Prefix{}
}

// sameKey compares the kernel's keys of routes i and j (they are in one
// table).
func (mr *MainRoutes) sameKey(i, j int) bool {
	p, q := mr.at(i), mr.at(j)
	if p.meta&0x3ff != q.meta&0x3ff || (p.key != q.key && (p.kind() != dst6 || *mr.v6.at(int(p.key)) != *mr.v6.at(int(q.key)))) {
		return false
	}
	a, b := mr.rest(i), mr.rest(j)
	return a.Priority == b.Priority && a.Tos == b.Tos && a.Family == b.Family
}

// copiedBy reports whether c is route i in every field but the table, the
// facts read about them included (with no copy of route i made): a Copy is
// deleted in main's form, and a route read whole must not be deleted as
// one read without its down nexthops (FlagHopsDropped), nor the other way
// round.
func (mr *MainRoutes) copiedBy(i int, c *Route) bool {
	return mr.Dst(i) == c.Dst && sameFacts(mr.rest(i), c)
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
func sameRest(a, b *Route) bool { return a.Table == b.Table && sameFacts(a, b) }

// sameFacts compares every field of a and b but the destination and the
// table, the facts read about them included (FlagHopsDropped, Linkdown,
// Unsupported), which equalButDst leaves out.
func sameFacts(a, b *Route) bool {
	return a.equalButDst(b) && a.Flags == b.Flags && a.Linkdown == b.Linkdown && a.Unsupported == b.Unsupported
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
