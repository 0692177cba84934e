package plan

import (
	"net/netip"
	"slices"
)

// Never weaker than plain Linux. A table of symroute's routes everything by
// its link: looked up for a reply from the link's address, for the
// reverse-path check of a packet to it, or for a connection marked by
// --follow-ingress, it would send an address of another link's connected
// subnet out of this link. Strict rp_filter would then accept a source of
// the management subnet forged on the uplink, and a port forward from the
// uplink to a host on another link would go back out of the uplink. So
// each table throws the connected subnets of the other managed links: the
// lookup goes on past symroute's rules and takes main's route, as without
// symroute. Not where the subnet is connected on the table's link too (two
// NICs in one subnet keep their symmetric replies), nor where the table
// already wants a route of the throw's key (two routes of main with one
// key: the copy stays).
//
// A connected subnet is a main route with no gateway through managed links
// (the kernel's subnet routes, a peer's route, `ip route add PREFIX dev
// LINK`, a multipath route of such nexthops), down or not: a throw does not
// depend on the link's carrier, and main keeps such a route while the
// carrier is lost. A route through links symroute does not manage is
// copied into every table instead, but not while it is down (the kernel
// refuses the copy): it is thrown in every table until it is up again.

// subnet is a connected subnet of a managed link: the main route's key
// and link.
type subnet struct {
	dst      netip.Prefix
	priority uint32
	link     int
	family   uint8
	tos      uint8
}

// subnets are the connected subnets of a state, and what the routes a
// table wants say about them.
type subnets struct {
	list []subnet
	// lengths has bit n set when a subnet of n bits is listed, per
	// family: a route of another length is none of them, at the cost of
	// a shift (Desire sees every route of main).
	lengths [2][3]uint64
	// byPrefix finds a listed prefix without a scan where the list is
	// long (a /24 of a full table may be any of hundreds of /24 subnets),
	// and seen, a bit per hash of a listed prefix, spares most routes the
	// map.
	byPrefix map[hashKey]struct{}
	seen     [64]uint64
	// taken are the table keys of wanted routes whose destination is a
	// subnet's: a throw of that key would be a second route of one key.
	taken map[hashKey]bool
}

// subnetLinks returns the links whose subnet a main route is (nil if it is
// none): its link, or every nexthop's, when none has a gateway and all are
// managed; or, when its links are all unmanaged and down (the route is not
// copied then), those links. The gateway is looked at first: most routes
// of a full table have one.
func subnetLinks(r *Route, managed map[int]bool) []int {
	if r.Dst.Bits() == 0 || r.Unsupported != Supported || (r.Family == FamilyV6 && linkLocalV6.Overlaps(r.Dst)) {
		return nil
	}
	var links []int
	if r.Nexthops == nil {
		if r.Link == 0 || (r.Gw.IsValid() && !r.Linkdown) {
			return nil
		}
		links = []int{r.Link}
	} else {
		if !r.Linkdown && r.Nexthops[0].Gw.IsValid() {
			return nil // most multipath routes: no subnet, nothing to make
		}
		for _, nh := range r.Nexthops {
			links = append(links, nh.Link)
		}
	}
	mine, gw := 0, r.Gw.IsValid()
	for i, l := range links {
		if managed[l] {
			mine++
		}
		gw = gw || (r.Nexthops != nil && r.Nexthops[i].Gw.IsValid())
	}
	switch {
	case mine == len(links) && !gw && r.Type == RouteUnicast:
		return links // connected on managed links
	case mine == 0 && r.Linkdown:
		for _, l := range links {
			if _, exists := managed[l]; !exists {
				return nil // gone since main was read: not copied anyway
			}
		}
		return links // not copied while down: thrown everywhere
	}
	return nil
}

func (s *subnets) add(r *Route, links []int) {
	for _, l := range links {
		s.list = append(s.list, subnet{dst: r.Dst, priority: r.Priority, link: l, family: r.Family, tos: r.Tos})
	}
	b := r.Dst.Bits()
	s.lengths[famIndex(r.Family)][b/64] |= 1 << (b % 64)
}

// prefixKey is a prefix as a map key with no pointer in it.
func prefixKey(fam uint8, p netip.Prefix) hashKey {
	return RouteKey{Family: fam, Dst: p}.hash()
}

// want notes a route a table wants; r's own table is ignored, the table is
// given.
func (s *subnets) want(r *Route, table uint32) {
	b := r.Dst.Bits()
	if s.lengths[famIndex(r.Family)][b/64]&(1<<(b%64)) == 0 || !s.has(r.Family, r.Dst) {
		return
	}
	if s.taken == nil {
		s.taken = map[hashKey]bool{}
	}
	k := r.Key()
	k.Table = table
	s.taken[k.hash()] = true
}

// has reports whether a subnet of family fam is the prefix p.
func (s *subnets) has(fam uint8, p netip.Prefix) bool {
	const scanned = 8 // a few are found faster by looking at each
	if len(s.list) <= scanned {
		for i := range s.list {
			if sn := &s.list[i]; sn.dst == p && sn.family == fam {
				return true
			}
		}
		return false
	}
	if s.byPrefix == nil {
		s.byPrefix = make(map[hashKey]struct{}, len(s.list))
		for i := range s.list {
			k := prefixKey(s.list[i].family, s.list[i].dst)
			s.byPrefix[k] = struct{}{}
			b := k.bit()
			s.seen[b/64] |= 1 << (b % 64)
		}
	}
	k := prefixKey(fam, p)
	if b := k.bit(); s.seen[b/64]&(1<<(b%64)) == 0 {
		return false
	}
	_, ok := s.byPrefix[k]
	return ok
}

// bit is one of 4096 bits for k, from a multiplicative hash of its address.
func (k hashKey) bit() uint64 { return ((k.hi ^ k.lo) * 0x9e3779b97f4a7c15) >> 52 }

// throwProto is one throw, the same in every table that holds it, as a
// prototype in alts that each table's want copies (as a main route is
// copied): N links' tables hold N(N-1) throws, and each costs a want.
type throwProto struct {
	alt int32
	// here are the links with the prefix connected, whose tables never
	// throw it.
	here []int
}

// throws wants, in the table of each routed link (links, by family index,
// ascending), a throw of every other managed link's connected subnets.
func (m *Mirror) throws(s *subnets, o Options, links [2][]int) {
	if len(s.list) == 0 {
		return
	}
	var protos [2][]throwProto
	index := map[hashKey]int{}       // prototype by its key, table 0
	here := map[netip.Prefix][]int{} // links by connected prefix
	for _, sn := range s.list {
		here[sn.dst] = append(here[sn.dst], sn.link)
	}
	for _, sn := range s.list {
		r := Route{Family: sn.family, Dst: sn.dst, Tos: sn.tos, Priority: sn.priority,
			Type: RouteThrow, Protocol: Protocol, Scope: ScopeUniverse}
		k := r.Key().hash()
		if _, dup := index[k]; dup {
			continue
		}
		fi := famIndex(sn.family)
		index[k] = len(protos[fi])
		m.alts = append(m.alts, r)
		protos[fi] = append(protos[fi], throwProto{alt: int32(len(m.alts) - 1), here: here[sn.dst]})
	}
	m.want = slices.Grow(m.want, len(links[0])*len(protos[0])+len(links[1])*len(protos[1]))
	for fi := range protos {
		for _, link := range links[fi] {
			m.throwsInto(s, o.TableOf(link), link, protos[fi])
		}
	}
}

// throwsInto wants the throws of one link's table in one family.
func (m *Mirror) throwsInto(s *subnets, t uint32, link int, protos []throwProto) {
	for _, p := range protos {
		if slices.Contains(p.here, link) {
			continue
		}
		if s.taken != nil {
			k := m.alts[p.alt].Key()
			k.Table = t
			if s.taken[k.hash()] {
				continue
			}
		}
		m.want = append(m.want, wantRoute{src: srcProto, table: t, alt: p.alt})
	}
}

// IsThrow reports whether r is one of symroute's throws of another link's
// subnet.
func (r *Route) IsThrow() bool { return r.Type == RouteThrow && r.Protocol == Protocol }

// ThrowOf returns the subnet throw the mirror wants in table t that holds
// dst, the longest if several do, and the link whose subnet it is.
func (m *Mirror) ThrowOf(t uint32, dst netip.Addr) (*Route, int, bool) {
	var best *Route
	for _, w := range m.want {
		if r := &m.alts[max(w.alt, 0)]; w.src == srcProto && w.table == t && r.Dst.Contains(dst) &&
			(best == nil || r.Dst.Bits() > best.Dst.Bits()) {
			best = r
		}
	}
	if best == nil {
		return nil, 0, false
	}
	var r Route
	for i := 0; i < m.st.Main.Len(); i++ {
		if m.st.Main.Get(i, &r); r.Dst == best.Dst && r.Priority == best.Priority &&
			r.Family == best.Family && !r.Gw.IsValid() && r.Link != 0 {
			return best, r.Link, true
		}
	}
	return best, 0, true
}
