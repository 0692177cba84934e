package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// snapshotTries bounds retries of dumps the kernel flags as interrupted:
// each retry needs a change racing the dump, which a busy host makes rare
// and a pathological one would make endless.
const snapshotTries = 5

// Snapshot implements plan.Kernel.
func (h *Handle) Snapshot(o plan.ReadOptions) (*plan.State, error) {
	var err error
	for try := 0; try < snapshotTries; try++ {
		var st *plan.State
		if st, err = h.snapshot(o); err == nil {
			h.names = make(map[int]string, len(st.Links))
			for _, l := range st.Links {
				h.names[l.Index] = l.Name
			}
			return st, nil
		}
		if !errors.Is(err, errInterrupted) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("snapshot: %d tries in a row: %w", snapshotTries, err)
}

func (h *Handle) snapshot(o plan.ReadOptions) (*plan.State, error) {
	base := o.TableBase
	st := &plan.State{}
	var err error
	if st.Links, err = h.links(); err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	if st.Addrs, err = h.addrs(); err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	// A host symroute keeps holds about a rule an address: made at that
	// size, the rules of 4096 addresses are not copied a dozen times.
	st.Rules = make([]plan.Rule, 0, len(st.Addrs)+8)
	for _, fam := range []uint8{plan.FamilyV4, plan.FamilyV6} {
		err := h.c.dump(unix.RTM_GETRULE, dumpHdr(fam), func(b []byte) {
			if r, ok := parseRule(b); ok {
				st.Rules = append(st.Rules, r)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("dump %s rules: %w", famName(fam), err)
		}
	}
	// Links and rules first: they decide which tables are read.
	keep, peek := plan.SnapshotTables(st.Links, st.Rules, base)
	tr, err := h.routes(keep, peek)
	if err != nil {
		return nil, err
	}
	st.Main, st.Routes, st.Copies, st.Host.DefaultTables = tr.main, tr.other, tr.copies, tr.defaults
	if st.Routers, err = h.raRouters(); err != nil {
		return nil, fmt.Errorf("dump ipv6 neighbours: %w", err)
	}
	// Whether or not --follow-ingress is on: a pass with it off removes
	// what it left.
	st.Ingress = h.readIngress()
	st.Host.ConfAll = h.confAll()
	return st, nil
}

// routes reads the routes a snapshot keeps: main's, then those of the
// tables keep holds, each a Copy where it is equal but for its table to a
// main route (on a host in sync, nearly all). It also returns which of
// main, keep and peek hold a default other than a throw
// (State.DefaultTables): a rule of another program ahead of ours that
// looks one up takes every reply.
//
// Main is packed as its messages arrive (plan.MainRoutes), and must be
// whole before another table's routes can be matched to it. Where the
// kernel filters dumps by table (strict checking, Linux 4.20 and newer),
// main is dumped on its own, and every other table after it is matched as
// its messages arrive, holding nothing of them but the differences.
// Elsewhere one dump brings every table in no set order, and the kept
// messages of the other tables are held until it ends (wholeRoutes).
func (h *Handle) routes(keep, peek map[uint32]bool) (tableRoutes, error) {
	if !h.wholeDumps {
		if err := unix.SetsockoptInt(h.c.fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
			// Refused before 4.20: no filter, so dump everything, as
			// then on every pass.
			h.wholeDumps = true
		} else {
			defer unix.SetsockoptInt(h.c.fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 0)
			return h.routesByTable(keep, peek)
		}
	}
	return h.wholeRoutes(keep, peek)
}

// routeReader is what the two ways of reading routes share: main, packed
// as its messages arrive, the routes of other tables as they are parsed
// once main is whole, and the tables holding a default.
type routeReader struct {
	keep, peek map[uint32]bool
	defaults   map[uint32]bool
	main       *plan.MainRoutes
	finder     *plan.CopyFinder
	// p fills routes whose table table() has found (fill): the parser's
	// own keep is not used.
	p      routeParser
	copies []plan.Copy
	other  []plan.Route
	r      plan.Route
}

func newRouteReader(keep, peek map[uint32]bool) *routeReader {
	return &routeReader{keep: keep, peek: peek, defaults: map[uint32]bool{}, main: &plan.MainRoutes{},
		p: routeParser{metrics: map[string]string{}}}
}

// table returns the table of message b and whether it is read at all, and
// notes a default in it.
func (rr *routeReader) table(b []byte) (uint32, bool) {
	t, ok := routeTable(b, func(t uint32) bool { return t == plan.TableMain || rr.keep[t] || rr.peek[t] })
	// rtm_dst_len 0 is a default; rtm_type after it.
	if ok && b[1] == 0 && b[7] != unix.RTN_THROW {
		rr.defaults[t] = true
	}
	return t, ok
}

// takeMain packs b, a message of main.
func (rr *routeReader) takeMain(b []byte) {
	rr.p.fill(b, plan.TableMain, &rr.r)
	rr.main.Add(&rr.r)
}

// mainRead readies the matching of other tables' routes to main's.
func (rr *routeReader) mainRead() {
	rr.finder = plan.NewCopyFinder(rr.main)
}

// takeOther takes b, a message of table t besides main, once main is
// read: kept if t may be ours (a table read only for its default is not).
func (rr *routeReader) takeOther(b []byte, t uint32) {
	if !rr.keep[t] {
		return
	}
	rr.p.fill(b, t, &rr.r)
	if of, ok := rr.finder.Find(&rr.r); ok {
		if rr.copies == nil {
			// A host in sync copies nearly every main route once: growing
			// the copies to 1M by appends alone would move them a dozen
			// times. Made at the first, so that a first pass, which finds
			// none, makes none.
			rr.copies = make([]plan.Copy, 0, rr.main.Len())
		}
		rr.copies = append(rr.copies, plan.Copy{Of: of, Table: rr.r.Table})
	} else {
		rr.other = appendDoubling(rr.other, rr.r)
	}
}

// tableRoutes are the routes a snapshot reads: main, packed; the other
// tables' routes that copy no main route, and those that do.
type tableRoutes struct {
	main     *plan.MainRoutes
	other    []plan.Route
	copies   []plan.Copy
	defaults map[uint32]bool
}

func (rr *routeReader) result() tableRoutes {
	return tableRoutes{main: rr.main, other: rr.other, copies: rr.copies, defaults: rr.defaults}
}

// routesByTable reads main with one dump a family, then every other table
// of keep and peek with its own.
func (h *Handle) routesByTable(keep, peek map[uint32]bool) (tableRoutes, error) {
	rr := newRouteReader(keep, peek)
	fams := []uint8{plan.FamilyV4, plan.FamilyV6}
	for _, fam := range fams {
		err := h.dumpTable(fam, plan.TableMain, func(b []byte) {
			if t, ok := rr.table(b); ok && t == plan.TableMain {
				rr.takeMain(b)
			}
		})
		if err != nil {
			return tableRoutes{}, fmt.Errorf("dump %s routes of table main: %w", famName(fam), err)
		}
	}
	rr.mainRead()
	tables := make([]uint32, 0, len(keep)+len(peek))
	for t := range keep {
		tables = append(tables, t)
	}
	for t := range peek {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, fam := range fams {
		for _, want := range tables {
			err := h.dumpTable(fam, want, func(b []byte) {
				if t, ok := rr.table(b); ok && t != plan.TableMain {
					rr.takeOther(b, t)
				}
			})
			if err != nil {
				return tableRoutes{}, fmt.Errorf("dump %s routes of table %d: %w", famName(fam), want, err)
			}
		}
	}
	return rr.result(), nil
}

// dumpTable dumps the routes of one table (RTA_TABLE, which strict
// checking makes a filter; a table that does not exist is ENOENT).
// Messages of other tables are not expected, but fn is given whatever
// comes and sorts it: a filter ignored costs time, never correctness.
func (h *Handle) dumpTable(fam uint8, table uint32, fn func(b []byte)) error {
	var a [8]byte
	ne.PutUint16(a[0:], 8)
	ne.PutUint16(a[2:], unix.RTA_TABLE)
	ne.PutUint32(a[4:], table)
	err := h.c.dump(unix.RTM_GETROUTE, append(dumpHdr(fam), a[:]...), fn)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// wholeRoutes reads every table with one dump a family: main is packed as
// it comes, and the kept messages of other tables are copied (IPv6 ones
// less what parse ignores) into 1 MiB chunks, about 60 bytes a route, as
// main may come last.
func (h *Handle) wholeRoutes(keep, peek map[uint32]bool) (tableRoutes, error) {
	rr := newRouteReader(keep, peek)
	var raw rawRoutes
	for _, fam := range []uint8{plan.FamilyV4, plan.FamilyV6} {
		err := h.c.dump(unix.RTM_GETROUTE, dumpHdr(fam), func(b []byte) {
			switch t, ok := rr.table(b); {
			case ok && t == plan.TableMain:
				rr.takeMain(b)
			case ok && keep[t]:
				raw.add(b)
			}
		})
		if err != nil {
			return tableRoutes{}, fmt.Errorf("dump %s routes: %w", famName(fam), err)
		}
	}
	rr.mainRead()
	// Only kept tables' messages were held.
	raw.each(func(b []byte) {
		t, _ := routeTable(b, func(uint32) bool { return true })
		rr.takeOther(b, t)
	})
	return rr.result(), nil
}

const rawChunk = 1 << 20

// rawRoutes holds route messages, each as a 4-byte length and the message
// (IPv6 ones less the attributes parse ignores: cacheinfo alone is 36 bytes).
type rawRoutes struct {
	chunks [][]byte
}

// each calls f with every message held.
func (r *rawRoutes) each(f func(b []byte)) {
	for _, c := range r.chunks {
		for len(c) >= 4 {
			l := int(ne.Uint32(c))
			f(c[4 : 4+l])
			c = c[4+l:]
		}
	}
}

func (r *rawRoutes) add(b []byte) {
	last := len(r.chunks) - 1
	if need := 4 + len(b) + 3; last < 0 || cap(r.chunks[last])-len(r.chunks[last]) < need {
		r.chunks = append(r.chunks, make([]byte, 0, max(rawChunk, need)))
		last++
	}
	c := r.chunks[last]
	st := len(c)
	c = append(c, 0, 0, 0, 0)
	// IPv4 messages carry little parse ignores: one copy is cheaper than
	// sifting attributes. IPv6 ones carry cacheinfo and more (about 50
	// bytes a route), so they are sifted.
	if b[0] == plan.FamilyV4 {
		c = append(c, b...)
	} else {
		c = append(c, b[:unix.SizeofRtMsg]...)
		for a := b[unix.SizeofRtMsg:]; len(a) >= 4; {
			l := int(ne.Uint16(a))
			if l < 4 || l > len(a) {
				break
			}
			n := min(align4(l), len(a))
			switch ne.Uint16(a[2:]) & nlaTypeMask {
			case unix.RTA_TABLE, unix.RTA_DST, unix.RTA_PRIORITY, unix.RTA_GATEWAY, unix.RTA_VIA,
				unix.RTA_OIF, unix.RTA_PREFSRC, unix.RTA_METRICS, unix.RTA_MULTIPATH, rtaNHID, unix.RTA_ENCAP, unix.RTA_SRC:
				c = append(c, a[:n]...)
				for len(c)%4 != 0 {
					c = append(c, 0)
				}
			}
			a = a[n:]
		}
	}
	ne.PutUint32(c[st:], uint32(len(c)-st-4))
	r.chunks[last] = c
}

// appendDoubling appends v to s, doubling s when it is full: append grows
// a large slice by a quarter, and in a process this short every new page
// costs a fault (about 10 us in a VM), so a list of 4096 routes or
// addresses grown by appends cost several times its size in copies and
// faults.
func appendDoubling[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 16))
	}
	return append(s, v)
}

// dumpHdr is the body of a dump request: an rtmsg, or a fib_rule_hdr of
// the same size, naming only the family.
func dumpHdr(fam uint8) []byte { return []byte{fam, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }

func famName(fam uint8) string {
	if fam == plan.FamilyV6 {
		return "ipv6"
	}
	return "ipv4"
}

// addrs dumps every address. Parsed by hand, as the library's
// per-attribute allocations cost about 3 ms at 4096 addresses, more than
// the kernel's dump itself.
func (h *Handle) addrs() ([]plan.Addr, error) {
	var out []plan.Addr
	err := h.c.dump(unix.RTM_GETADDR, []byte{unix.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0}, func(b []byte) {
		if a, ok := parseAddr(b); ok {
			out = appendDoubling(out, a)
		}
	})
	return out, err
}

// parseAddr decodes one RTM_NEWADDR body (struct ifaddrmsg: family,
// prefixlen, flags, scope, index). IPv4 sends IFA_LOCAL, the address, and
// IFA_ADDRESS, the peer if it differs; IPv6 sends IFA_ADDRESS alone, and
// IFA_LOCAL too only if it has a peer. A point-to-point address is its
// local address as a host prefix (iproute2: the prefix belongs to the
// peer), as vishvananda/netlink reads it.
func parseAddr(b []byte) (plan.Addr, bool) {
	if len(b) < unix.SizeofIfAddrmsg {
		return plan.Addr{}, false
	}
	var local, peer netip.Addr
	for attrs := b[unix.SizeofIfAddrmsg:]; ; {
		typ, val, rest, ok := nextAttr(attrs)
		if !ok {
			break
		}
		switch typ {
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(val)
		case unix.IFA_ADDRESS:
			peer, _ = netip.AddrFromSlice(val)
		}
		attrs = rest
	}
	a := plan.Addr{Link: int(ne.Uint32(b[4:])), Scope: b[3]}
	switch {
	case local.IsValid() && b[0] == unix.AF_INET && local == peer:
		a.Prefix = netip.PrefixFrom(local, int(b[1]))
	case local.IsValid():
		a.Prefix = netip.PrefixFrom(local, local.BitLen())
	default:
		a.Prefix = netip.PrefixFrom(peer, int(b[1]))
	}
	return a, a.Prefix.IsValid()
}
