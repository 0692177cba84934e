package plan

import (
	"fmt"
	"net/netip"
	"path"
)

// A way out for every link. Where main holds no default through a managed
// link in a family (a cloud's secondary NIC, NetworkManager's never-default,
// networkd's UseGateway=no, dhcpcd's nogateway, an IPv6 link with
// accept_ra_defrtr=0), the link's table would route only its own subnets,
// and a reply from its address to anyone else would fall through to main
// and leave by another link. So the table gets a default of symroute's,
// via the first router of these that gives one: the administrator's
// (--gateway LINK=ADDR), the router of the link's live DHCP lease (whatever
// stack holds it), for IPv6 the router the link's advertisements name,
// and, where asked for, the first host of the link's IPv4 subnet (--gateway
// GLOB=first-host, Azure's convention). main's own default through the
// link always wins: symroute never contradicts main.

// wayOutMetric is the metric of symroute's default in a family: ahead of
// any default of main's copied into the table (one via a tunnel symroute
// does not manage), which with the same key gives way to it. IPv6 takes 0
// as 1024, which a read back would never match.
func wayOutMetric(fam uint8) uint32 {
	if fam == FamilyV6 {
		return 1
	}
	return 0
}

// wayOut wants, in the table of each routed link and family without a
// default of main's through the link (mainDefault), a default via the
// first router its sources give, and notes the links left with none.
func (m *Mirror) wayOut(d *desirer, routed map[famLink]bool, mainDefault map[famLink]bool, links [2][]int, defaults []int) {
	// The tables that want a default, by table and family (warnNoWayOut).
	m.hasDefault = map[famTable]bool{}
	var tmp Route
	for _, i := range defaults {
		w := m.want[i]
		m.hasDefault[famTable{m.source(w, &tmp).Family, w.table}] = true
	}
	for fi, fam := range [2]uint8{FamilyV4, FamilyV6} {
		for _, link := range links[fi] {
			fl := famLink{fam, link}
			if mainDefault[fl] || !routed[fl] {
				continue
			}
			gw, from, ok := m.router(d, fl)
			if !ok && from != "" {
				continue // --gateway LINK=none: no router on purpose
			}
			var flags uint8
			if ok {
				flags, ok = m.reachable(d, fl, gw, from)
			}
			if !ok {
				// Where main has no default in the family at all (an IPv4-only
				// host's IPv6, a private network), replies off the subnets go
				// nowhere with or without symroute: nothing to say.
				if !m.hasDefault[famTable{fam, d.o.TableOf(link)}] && mainDefault[famLink{fam, 0}] {
					m.noWayOut = append(m.noWayOut, fl)
				}
				continue
			}
			r := Route{Family: fam, Table: d.o.TableOf(link), Dst: netip.PrefixFrom(unspecified(fam), 0), Priority: wayOutMetric(fam),
				Type: RouteUnicast, Protocol: Protocol, Gw: gw, Link: link, Flags: flags}
			defaults = m.wantInstead(r, defaults)
			m.hasDefault[famTable{fam, r.Table}] = true
			if m.wayOuts == nil {
				m.wayOuts = map[famLink]string{}
			}
			m.wayOuts[fl] = from
		}
	}
}

// router is the first router of a link in a family its sources give, and
// where it comes from; none, from "--gateway GLOB=none", where the first
// --gateway naming the link in the family says it has none on purpose
// (a storage or backup network), which no lease or advertisement
// overrides.
func (m *Mirror) router(d *desirer, fl famLink) (netip.Addr, string, bool) {
	name := LinkName(d.byIndex, fl.link)
	for _, g := range d.o.Gateways {
		if ok, _ := path.Match(g.Links, name); !ok || g.FirstHost || (!g.None && familyOf(g.Addr) != fl.fam) {
			continue
		}
		if g.None {
			return netip.Addr{}, "--gateway " + g.Links + "=none", false
		}
		return g.Addr, "--gateway " + g.Links + "=" + g.Addr.String(), true
	}
	for _, src := range []RouterSource{RouterLease, RouterRA} {
		for _, r := range d.st.Routers {
			if r.Link == fl.link && r.Source == src && familyOf(r.Gw) == fl.fam {
				return r.Gw, r.what(), true
			}
		}
	}
	if fl.fam == FamilyV4 {
		for _, g := range d.o.Gateways {
			if ok, _ := path.Match(g.Links, name); ok && g.FirstHost {
				return m.firstHost(d, fl.link, g.Links)
			}
		}
	}
	return netip.Addr{}, "", false
}

// firstHost is the first host of the link's first IPv4 subnet (Azure's
// gateway), said so when there is none.
func (m *Mirror) firstHost(d *desirer, link int, glob string) (netip.Addr, string, bool) {
	for _, a := range d.st.Addrs {
		if a.Link != link || a.Scope != ScopeUniverse || !a.Prefix.Addr().Is4() {
			continue
		}
		if a.Prefix.Bits() > 30 {
			break // a /31 or /32 has no first host
		}
		if h := a.Prefix.Masked().Addr().Next(); h != a.Prefix.Addr() {
			return h, "--gateway " + glob + "=first-host (" + a.Prefix.Masked().String() + ")", true
		}
		break
	}
	name := Printable(LinkName(d.byIndex, link))
	m.Warnings = append(m.Warnings, Warning{ID: WarnNoFirstHost, Link: name,
		Text: fmt.Sprintf("gateway %s=first-host: link %s has no IPv4 subnet whose first host is another's (a /31 or /32, or its own address): no default from it",
			glob, name),
		Fix: fmt.Sprintf("give its router (gateway = %s=ROUTER)", name)})
	return netip.Addr{}, "", false
}

// reachable decides how a default reaches gw: directly where gw is on one
// of the link's subnets (or link-local), onlink where the link's address of
// the family is a host route (a /32, as on GCP, or a /128); else it cannot
// be added, and the router is not used (said so).
func (m *Mirror) reachable(d *desirer, fl famLink, gw netip.Addr, from string) (uint8, bool) {
	if gw.IsLinkLocalUnicast() {
		return 0, true
	}
	host := false
	for _, a := range d.st.Addrs {
		if a.Link != fl.link || a.Scope != ScopeUniverse || familyOf(a.Prefix.Addr()) != fl.fam {
			continue
		}
		if a.Prefix.Masked().Contains(gw) && !a.Prefix.IsSingleIP() {
			return 0, true
		}
		host = host || a.Prefix.IsSingleIP()
	}
	if host {
		return FlagOnlink, true
	}
	name := Printable(LinkName(d.byIndex, fl.link))
	m.Warnings = append(m.Warnings, Warning{ID: WarnRouterOffSubnet, Link: name,
		Text: fmt.Sprintf("router %s of link %s (%s) is on none of its subnets: not used", gw, name, from),
		Fix:  fmt.Sprintf("give a router on one of its subnets (gateway = %s=ROUTER)", name)})
	return 0, false
}

// wantInstead wants r, an alt of no main route, in the place of any route
// wanted in its table with its key: a default of main's copied into the
// table with the same key (one via an unmanaged link) gives way, as in
// Diff the link's own route wins, and one key wanted twice would never
// settle. Only a default can have its key: the wanted defaults are known
// by index (defaults), and the whole list is filtered only when one does;
// it returns the indices as they are after.
func (m *Mirror) wantInstead(r Route, defaults []int) []int {
	m.alts = append(m.alts, r)
	key := r.Key()
	for _, i := range defaults {
		if w := m.want[i]; w.table == key.Table && m.key(w) == key {
			kept := m.want[:0]
			for _, w := range m.want {
				if w.table != key.Table || m.key(w) != key {
					kept = append(kept, w)
				}
			}
			m.want = kept
			defaults = m.defaultWants()
			break
		}
	}
	m.want = append(m.want, wantRoute{src: srcNone, table: r.Table, alt: int32(len(m.alts) - 1)})
	return defaults
}

// defaultWants are the indices of the wanted defaults.
func (m *Mirror) defaultWants() []int {
	var out []int
	var tmp Route
	for i, w := range m.want {
		if m.source(w, &tmp).Dst.Bits() == 0 {
			out = append(out, i)
		}
	}
	return out
}

func unspecified(fam uint8) netip.Addr {
	if fam == FamilyV6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// what says where a router comes from, for reports.
func (r Router) what() string {
	switch r.Source {
	case RouterRA:
		return "the router advertisements on the link"
	case RouterLease:
		if r.Stack != "" {
			return "its DHCP lease (" + r.Stack + ")"
		}
		return "its DHCP lease"
	}
	return "unknown"
}
