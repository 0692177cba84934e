package kernel

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

const (
	rtaNHID    = 30 // RTA_NH_ID (kernel 5.3), not in x/sys/unix v0.30
	nhDown     = unix.RTNH_F_LINKDOWN | unix.RTNH_F_DEAD
	maxMetrics = 32
)

// routeTable returns the table of a route message, and false for messages a
// snapshot does not keep: other families, cache clones, tables that cannot
// be ours. Cheap, so that the local table's routes and clones cost no more.
func routeTable(b []byte, keep func(uint32) bool) (uint32, bool) {
	if len(b) < unix.SizeofRtMsg || (b[0] != plan.FamilyV4 && b[0] != plan.FamilyV6) ||
		ne.Uint32(b[8:])&unix.RTM_F_CLONED != 0 {
		return 0, false
	}
	t := uint32(b[4])
	// The kernel puts RTA_TABLE first; rtm_table holds RT_TABLE_COMPAT
	// (252) for tables >= 256.
	for a := b[unix.SizeofRtMsg:]; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		if typ == unix.RTA_TABLE && len(val) >= 4 {
			t = ne.Uint32(val)
			break
		}
		a = rest
	}
	return t, keep(t)
}

// routeParser turns route messages into plan.Routes. Metric text is interned
// by the raw attribute: at 100k routes a handful of metric sets repeat.
type routeParser struct {
	keep    func(table uint32) bool
	metrics map[string]string
}

// parse fills r from one RTM_NEWROUTE body; false means not kept.
func (p *routeParser) parse(b []byte, r *plan.Route) bool {
	table, keep := routeTable(b, p.keep)
	if keep {
		p.fill(b, table, r)
	}
	return keep
}

// fill fills r from b, a message routeTable has found to be of table and
// kept: a snapshot sorts messages by table before it parses them, and
// would otherwise look for the table twice.
func (p *routeParser) fill(b []byte, table uint32, r *plan.Route) {
	fam, flags := b[0], ne.Uint32(b[8:])
	*r = plan.Route{
		Family: fam, Table: table, Tos: b[3], Protocol: b[5], Scope: b[6], Type: b[7],
		Flags:    uint8(flags & unix.RTNH_F_ONLINK),
		Linkdown: flags&nhDown != 0,
	}
	if fam == plan.FamilyV6 && b[2] != 0 {
		r.Unsupported = plan.UnsupportedSourcePrefix
	}
	var dst netip.Addr
	var mp []byte
	for a := b[unix.SizeofRtMsg:]; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		a = rest
		switch typ {
		case unix.RTA_DST:
			dst = addrOf(val)
		case unix.RTA_PRIORITY:
			r.Priority = u32(val)
		case unix.RTA_GATEWAY:
			r.Gw = addrOf(val)
		case unix.RTA_VIA:
			r.Gw = viaAddr(val)
		case unix.RTA_OIF:
			r.Link = int(u32(val))
		case unix.RTA_PREFSRC:
			r.Src = addrOf(val)
		case unix.RTA_METRICS:
			r.Metrics = p.metricText(val)
		case unix.RTA_MULTIPATH:
			mp = val
		case rtaNHID:
			r.Unsupported = plan.UnsupportedNexthopObject
		case unix.RTA_ENCAP:
			r.Unsupported = plan.UnsupportedEncap
		}
	}
	if !dst.IsValid() {
		dst = netip.IPv4Unspecified()
		if fam == plan.FamilyV6 {
			dst = netip.IPv6Unspecified()
		}
	}
	r.Dst = netip.PrefixFrom(dst, int(b[1]))
	if plan.Deviceless(r.Type) {
		r.Link = 0 // IPv6 reports them on lo; re-adding needs no device
	}
	if mp != nil {
		p.multipath(mp, r)
	}
}

// multipath sets r's nexthops. Nexthops the kernel flags down are dropped
// (they come back with their link, and a copy of them would be refused),
// and FlagHopsDropped says so; a route left with one is a plain route, as
// ip(8) would show it.
func (p *routeParser) multipath(mp []byte, r *plan.Route) {
	var all [8]plan.Nexthop
	nhs := all[:0]
	live := 0
	for len(mp) >= unix.SizeofRtNexthop {
		l := int(ne.Uint16(mp))
		if l < unix.SizeofRtNexthop || l > len(mp) {
			break
		}
		nh := plan.Nexthop{Link: int(int32(ne.Uint32(mp[4:]))), Weight: int(mp[3]) + 1, Flags: mp[2]}
		for a := mp[unix.SizeofRtNexthop:l]; ; {
			typ, val, rest, ok := nextAttr(a)
			if !ok {
				break
			}
			a = rest
			switch typ {
			case unix.RTA_GATEWAY:
				nh.Gw = addrOf(val)
			case unix.RTA_VIA:
				nh.Gw = viaAddr(val)
			case unix.RTA_ENCAP:
				r.Unsupported = plan.UnsupportedEncap
			}
		}
		if nh.Flags&nhDown == 0 {
			live++
		}
		nhs = append(nhs, nh)
		if n := align4(l); n < len(mp) {
			mp = mp[n:]
		} else {
			mp = nil
		}
	}
	total := len(nhs)
	if live > 0 {
		kept := nhs[:0]
		for _, nh := range nhs {
			if nh.Flags&nhDown == 0 {
				kept = append(kept, nh)
			}
		}
		nhs = kept
	}
	r.Linkdown = live == 0
	for i := range nhs {
		nhs[i].Flags &= unix.RTNH_F_ONLINK
	}
	if len(nhs) == 1 {
		r.Gw, r.Link, r.Flags = nhs[0].Gw, nhs[0].Link, nhs[0].Flags
	} else {
		r.Nexthops = append([]plan.Nexthop(nil), nhs...)
	}
	if live > 0 && live < total {
		r.Flags |= plan.FlagHopsDropped
	}
}

// metricText returns the canonical text of a nested RTA_METRICS.
func (p *routeParser) metricText(raw []byte) string {
	if s, ok := p.metrics[string(raw)]; ok {
		return s
	}
	var buf [maxMetrics]plan.Metric
	ms := buf[:0]
	var lock uint32
	for a := raw; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		a = rest
		switch {
		case typ == unix.RTAX_LOCK:
			lock = u32(val)
		case plan.MetricName(typ) == "":
			// Newer than symroute: not copied.
		case typ == unix.RTAX_CC_ALGO:
			ms = append(ms, plan.Metric{ID: typ, Name: cString(val)})
		default:
			ms = append(ms, plan.Metric{ID: typ, Value: u32(val)})
		}
	}
	for i := range ms {
		ms[i].Lock = ms[i].ID < 32 && lock&(1<<ms[i].ID) != 0
	}
	s := plan.EncodeMetrics(ms)
	if p.metrics == nil {
		p.metrics = map[string]string{}
	}
	p.metrics[string(raw)] = s
	return s
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return ne.Uint32(b)
}

func addrOf(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

// viaAddr decodes a struct rtvia: a family, then an address.
func viaAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	return addrOf(b[2:])
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendRouteMsg appends the request for a route operation.
func (h *Handle) appendRouteMsg(b []byte, kind plan.OpKind, r *plan.Route, seq uint32) ([]byte, error) {
	if !r.Dst.IsValid() {
		return b, fmt.Errorf("route has no destination")
	}
	if (r.Family == plan.FamilyV4) != r.Dst.Addr().Is4() {
		return b, fmt.Errorf("destination %s is not of the route's family", r.Dst)
	}
	start := len(b)
	typ, flags := uint16(unix.RTM_NEWROUTE), uint16(unix.NLM_F_REQUEST)
	switch kind {
	case plan.RouteAdd:
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	case plan.RouteReplace:
		flags |= unix.NLM_F_CREATE | unix.NLM_F_REPLACE
	default:
		typ = unix.RTM_DELROUTE
	}
	del := kind == plan.RouteDel
	scope := r.Scope
	if del && r.Family == plan.FamilyV6 {
		scope = unix.RT_SCOPE_NOWHERE // matches any; IPv6 keys ignore scope
	}
	var rtFlags uint32
	if r.Nexthops == nil && !plan.Deviceless(r.Type) && r.Flags&plan.FlagOnlink != 0 && !del {
		rtFlags = unix.RTNH_F_ONLINK
	}
	b = appendMsgHdr(b, typ, flags, seq)
	b = append(b, r.Family, uint8(r.Dst.Bits()), 0, r.Tos, table8(r.Table), r.Protocol, scope, r.Type)
	b = ne.AppendUint32(b, rtFlags)
	b = appendU32Attr(b, unix.RTA_TABLE, r.Table)
	if r.Dst.Bits() > 0 {
		b = appendAddrAttr(b, unix.RTA_DST, r.Dst.Addr())
	}
	if r.Priority != 0 {
		b = appendU32Attr(b, unix.RTA_PRIORITY, r.Priority)
	}
	var err error
	if del {
		b, err = h.appendRouteIdentity(b, r)
	} else {
		b, err = h.appendRouteAttrs(b, r)
	}
	if err != nil {
		return b[:start], err
	}
	return finishMsg(b, start), nil
}

// appendRouteAttrs appends what an add or a replace writes beyond the key:
// the nexthop or nexthops, the preferred source, the metrics.
func (h *Handle) appendRouteAttrs(b []byte, r *plan.Route) ([]byte, error) {
	if r.Nexthops == nil && !plan.Deviceless(r.Type) {
		b = appendNexthop(b, r)
	}
	b, err := h.appendSrcMetrics(b, r, true)
	if err != nil {
		return b, err
	}
	return appendMultipath(b, r)
}

// appendSrcMetrics appends the preferred source and the metrics, with
// their locks or without.
func (h *Handle) appendSrcMetrics(b []byte, r *plan.Route, locks bool) ([]byte, error) {
	if r.Src.IsValid() {
		b = appendAddrAttr(b, unix.RTA_PREFSRC, r.Src)
	}
	if r.Metrics == "" {
		return b, nil
	}
	m, err := h.metricsAttr(r.Metrics, locks)
	return append(b, m...), err
}

// appendRouteIdentity appends what a delete names beyond the key, so that
// it takes r and not another program's route of r's key in the same
// table (IPv4 keeps several, `ip route append`; IPv6 a device route
// beside a multipath or unreachable one): the kernel deletes the first
// route of the key that matches what is named, and compares only what is
// named. IPv4 (fib_table_delete) compares the type, scope and protocol of
// the header, the priority, the preferred source, the metrics given, and
// the gateway and device of the first nexthop, or a multipath list in
// order from the first; IPv6 (ip6_route_del) the priority, the protocol,
// and the gateway and device of each nexthop. The nexthops are named only
// where the read was whole (plan.Route.DeleteNamesNexthops): a named list
// or gateway missing the kernel's down first nexthop would never match,
// and a pass would fail on it forever.
func (h *Handle) appendRouteIdentity(b []byte, r *plan.Route) ([]byte, error) {
	switch {
	case !r.DeleteNamesNexthops():
	case r.Nexthops != nil:
		// IPv6 deletes each nexthop named, as the route of its own it is
		// there; IPv4 the route whose list begins so.
		var err error
		if b, err = appendMultipath(b, r); err != nil {
			return b, err
		}
	case plan.Deviceless(r.Type):
		// IPv6 keeps them on lo; IPv4 on no device, and the type names
		// them.
		if r.Family == plan.FamilyV6 {
			b = appendU32Attr(b, unix.RTA_OIF, plan.LoopbackIndex)
		}
	default:
		b = appendNexthop(b, r)
	}
	if r.Family != plan.FamilyV4 {
		return b, nil
	}
	// The metrics without their locks: a lock bit of a metric the dump
	// does not show (of value 0, or newer than symroute) cannot be read
	// back, and a lock that differs would match nothing.
	return h.appendSrcMetrics(b, r, false)
}

// appendNexthop appends a plain route's gateway and device.
func appendNexthop(b []byte, r *plan.Route) []byte {
	if r.Gw.IsValid() {
		b = appendGateway(b, unix.RTA_GATEWAY, r.Family, r.Gw)
	}
	if r.Link != 0 {
		b = appendU32Attr(b, unix.RTA_OIF, uint32(r.Link))
	}
	return b
}

// appendMultipath appends a multipath route's RTA_MULTIPATH; nothing for
// a plain route.
func appendMultipath(b []byte, r *plan.Route) ([]byte, error) {
	if r.Nexthops == nil {
		return b, nil
	}
	b, mst := startNested(b, unix.RTA_MULTIPATH)
	for _, nh := range r.Nexthops {
		nst := len(b)
		hops := nh.Weight - 1
		if hops < 0 || hops > 255 {
			return b, fmt.Errorf("nexthop weight %d is not from 1 to 256", nh.Weight)
		}
		b = ne.AppendUint16(b, 0)
		b = append(b, nh.Flags&plan.FlagOnlink, uint8(hops))
		b = ne.AppendUint32(b, uint32(nh.Link))
		if nh.Gw.IsValid() {
			b = appendGateway(b, unix.RTA_GATEWAY, r.Family, nh.Gw)
		}
		ne.PutUint16(b[nst:], uint16(len(b)-nst))
	}
	return endNested(b, mst), nil
}

// metricsAttr encodes a route's metric text as RTA_METRICS, with the lock
// bits or without, remembering the last one: a plan's routes mostly share
// one metric set.
func (h *Handle) metricsAttr(text string, locks bool) ([]byte, error) {
	if text == h.lastMetrics && locks == h.lastMetricsLocks && h.lastMetricsAttr != nil {
		return h.lastMetricsAttr, nil
	}
	ms, err := plan.DecodeMetrics(text)
	if err != nil {
		return nil, err
	}
	b, st := startNested(nil, unix.RTA_METRICS)
	var lock uint32
	for _, m := range ms {
		if m.Lock && m.ID < 32 {
			lock |= 1 << m.ID
		}
		if m.ID == unix.RTAX_CC_ALGO {
			b = appendAttr(b, m.ID, append([]byte(m.Name), 0))
		} else {
			b = appendU32Attr(b, m.ID, m.Value)
		}
	}
	if lock != 0 && locks {
		b = appendU32Attr(b, unix.RTAX_LOCK, lock)
	}
	b = endNested(b, st)
	h.lastMetrics, h.lastMetricsLocks, h.lastMetricsAttr = text, locks, b
	return b, nil
}

// table8 is the table for the 8-bit rtm_table/frh.table field: tables from
// 256 on travel in the 32-bit attribute only.
func table8(t uint32) uint8 {
	if t < 256 {
		return uint8(t)
	}
	return unix.RT_TABLE_UNSPEC
}

func appendAddrAttr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		x := a.As4()
		return appendAttr(b, typ, x[:])
	}
	x := a.As16()
	return appendAttr(b, typ, x[:])
}

// appendGateway writes gw as RTA_GATEWAY, or as RTA_VIA when its family
// differs from the route's (an IPv4 route via an IPv6 neighbour).
func appendGateway(b []byte, typ uint16, fam uint8, gw netip.Addr) []byte {
	if gw.Is4() == (fam == plan.FamilyV4) {
		return appendAddrAttr(b, typ, gw)
	}
	st := len(b)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint16(b, unix.RTA_VIA)
	if gw.Is4() {
		x := gw.As4()
		b = ne.AppendUint16(b, unix.AF_INET)
		b = append(b, x[:]...)
	} else {
		x := gw.As16()
		b = ne.AppendUint16(b, unix.AF_INET6)
		b = append(b, x[:]...)
	}
	ne.PutUint16(b[st:], uint16(len(b)-st))
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
