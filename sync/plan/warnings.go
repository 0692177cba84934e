package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Warnings about hosts that defeat symmetric routing, each with what to
// do. They change no plan and no exit status; a pass logs them once.

// warnNM warns of a routed link whose NetworkManager connection has its
// own route table or routing rules: NM then puts the link's routes in that
// table (not main, which symroute mirrors) and manages rules beside ours.
func (m *Mirror) warnNM(d *desirer, routed map[famLink]bool) []Warning {
	var ws []Warning
	for _, n := range d.st.Host.NMRouting {
		if !routed[famLink{FamilyV4, n.Link}] && !routed[famLink{FamilyV6, n.Link}] {
			continue
		}
		var own []string
		for _, s := range []struct {
			set  bool
			what string
		}{
			{n.Table4 != 0, fmt.Sprintf("ipv4.route-table %d", n.Table4)},
			{n.Table6 != 0, fmt.Sprintf("ipv6.route-table %d", n.Table6)},
			{n.Rules4 > 0, fmt.Sprintf("%d ipv4.routing-rules", n.Rules4)},
			{n.Rules6 > 0, fmt.Sprintf("%d ipv6.routing-rules", n.Rules6)},
		} {
			if s.set {
				own = append(own, s.what)
			}
		}
		link := Printable(linkName(d.byIndex, n.Link))
		ws = append(ws, Warning{ID: WarnNMOwnRouting, Link: link,
			Text: fmt.Sprintf("NetworkManager connection '%s' on %s has %s: NetworkManager then routes %s by tables "+
				"and rules of its own, beside symroute's", Printable(n.Connection), link, strings.Join(own, " and "), link),
			Fix: fmt.Sprintf("drop them from the connection (nmcli connection modify ... ipv4.route-table 0 "+
				"ipv4.routing-rules \"\"), or exclude %s from symroute", link)})
	}
	return ws
}

// warnNetworkd warns of a systemd-networkd that will delete symroute's
// rules the next time it configures a link: one that does not keep other
// programs' rules, or (notYet) one that keeps them from its next start.
func warnNetworkd(v *hostView, notYet bool) []Warning {
	nd := v.d.st.Host.Networkd
	switch {
	case len(v.routed) == 0 || !nd.Running:
	case !nd.KeepsForeignRules && !notYet:
		return []Warning{{ID: WarnNetworkdForeignRules,
			Text: "systemd-networkd runs without ManageForeignRoutingPolicyRules=no: it deletes symroute's rules " +
				"whenever it configures a link (at its start, on networkctl reconfigure)",
			Fix: "install " + NetworkdDropIn + " (the package does) and restart systemd-networkd"}}
	case nd.KeepsForeignRules && nd.NotYet && notYet:
		return []Warning{{ID: WarnNetworkdNotRestarted,
			Text: fmt.Sprintf("systemd-networkd started before %s set ManageForeignRoutingPolicyRules=no, "+
				"and reads it only when it starts: until it restarts it deletes symroute's rules whenever it configures a link "+
				"(the hooks put them back)", Printable(nd.File)),
			Fix: "restart systemd-networkd when convenient"}}
	}
	return nil
}

// NetworkdDropIn is where the package installs its networkd.conf.d drop-in.
const NetworkdDropIn = "/usr/lib/systemd/networkd.conf.d/symroute.conf"

// warnArpFlux warns of two routed links in one IPv4 subnet where one of
// them answers ARP for the other's addresses (ARP flux: Linux answers ARP
// for any local address on any link unless arp_filter or arp_ignore says
// otherwise), so that a neighbour sends one link's traffic to the other's
// MAC, and replies leave by a link the request did not come in on.
func (m *Mirror) warnArpFlux(d *desirer, links []int) []Warning {
	all := d.st.Host.ConfAll
	if all.ArpFilter < 0 || all.ArpIgnore < 0 {
		return nil
	}
	flux := func(l int) bool {
		ln := d.byIndex[l]
		return ln != nil && all.ArpFilter == 0 && ln.ArpFilter == 0 && max(all.ArpIgnore, int8(ln.ArpIgnore)) < 1
	}
	// Two subnets overlap when one holds the other: each link's subnet is
	// looked up at its length and every shorter one (33 lookups), rather
	// than compared with every other link's (1000 links took 18 ms).
	routedLink := map[int]bool{}
	for _, l := range links {
		routedLink[l] = true
	}
	byNet := map[netip.Prefix][]int{}
	for _, a := range d.st.Addrs {
		if p := a.Prefix.Masked(); a.Scope == ScopeUniverse && p.Addr().Is4() && routedLink[a.Link] && !slices.Contains(byNet[p], a.Link) {
			byNet[p] = append(byNet[p], a.Link)
		}
	}
	type pair struct{ a, b int }
	shared := map[pair]netip.Prefix{}
	for p, ls := range byNet {
		for bits := p.Bits(); bits >= 0; bits-- {
			q := netip.PrefixFrom(p.Addr(), bits).Masked()
			for _, m := range byNet[q] {
				for _, l := range ls {
					if l == m {
						continue
					}
					k := pair{min(l, m), max(l, m)}
					if old, ok := shared[k]; !ok || q.Bits() < old.Bits() {
						shared[k] = q
					}
				}
			}
		}
	}
	pairs := make([]pair, 0, len(shared))
	for k := range shared {
		pairs = append(pairs, k)
	}
	sort.Slice(pairs, func(i, j int) bool {
		return pairs[i].a < pairs[j].a || (pairs[i].a == pairs[j].a && pairs[i].b < pairs[j].b)
	})
	var ws []Warning
	for _, k := range pairs {
		a, b := k.a, k.b
		if !flux(a) && !flux(b) {
			continue
		}
		var open []string
		for _, l := range []int{a, b} {
			if flux(l) {
				open = append(open, Printable(linkName(d.byIndex, l)))
			}
		}
		ws = append(ws, Warning{ID: WarnArpFlux,
			Text: fmt.Sprintf("links %s and %s are both in %s and ARP flux is not stopped on %s: "+
				"a neighbour may send one link's traffic to the other's MAC, and its replies then leave by the other link",
				Printable(linkName(d.byIndex, a)), Printable(linkName(d.byIndex, b)), shared[k], strings.Join(open, " and ")),
			Fix: "set net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2 (or arp_filter=1)"})
	}
	return ws
}

// warnRPFilter warns of strict reverse-path filtering on a routed link of
// a host with two or more: a connection that arrives on the link for an
// address of another (weak-host traffic, a VIP on lo) fails the check, as
// the address's rule sends its reply by the other link. --follow-ingress
// routes such replies by the link they came in on, which the check then
// accepts.
func (m *Mirror) warnRPFilter(d *desirer, links []int) []Warning {
	all := d.st.Host.ConfAll.RPFilter
	if all < 0 || len(links) < 2 || d.o.FollowIngress {
		return nil
	}
	var ws []Warning
	for _, l := range links {
		ln := d.byIndex[l]
		if ln == nil || max(all, int8(ln.RPFilter)) != 1 {
			continue
		}
		name := Printable(ln.Name)
		ws = append(ws, Warning{ID: WarnStrictRPFilter, Link: name,
			Text: fmt.Sprintf("link %s has strict rp_filter (1): a connection arriving on %s for an address not on it "+
				"(another uplink's, a VIP on lo) is dropped, as its reply would leave by another link", name, name),
			Fix: fmt.Sprintf("set net.ipv4.conf.%s.rp_filter=2 (loose), or turn on --follow-ingress", sysctlName(ln.Name))})
	}
	return ws
}

// caught lists the sources of symroute's address rules that a rule ahead
// of them takes (the fwmark and oif rules have no source), the first three
// and a count of the rest; "" for none.
func (m *Mirror) caught(r *Rule) string {
	var caught []string
	for _, our := range m.Rules {
		if our.Src.IsValid() && our.Family == r.Family && (!r.Src.IsValid() || r.Src.Contains(our.Src.Addr())) {
			caught = append(caught, our.Src.Addr().String())
		}
	}
	if len(caught) > 3 {
		caught = append(caught[:3], fmt.Sprintf("%d more", len(caught)-3))
	}
	return strings.Join(caught, ", ")
}

// warnNoWayOut warns of a routed link whose table has no default in a
// family: main has none through it and no source gives one (wayout.go), so
// a reply from its address to anywhere off its subnets falls through to
// main and leaves by another link.
func (m *Mirror) warnNoWayOut(d *desirer) []Warning {
	var ws []Warning
	for _, fl := range m.noWayOut {
		name, fam := Printable(linkName(d.byIndex, fl.link)), "IPv4"
		if fl.fam == FamilyV6 {
			fam = "IPv6"
		}
		ws = append(ws, Warning{ID: WarnNoWayOut, Link: name,
			Text: fmt.Sprintf("link %s has no way out in %s: main has no default through it, and neither --gateway, "+
				"a DHCP lease nor a router advertisement gives one, so replies from its addresses to anywhere off its subnets leave by another link",
				name, fam),
			Fix: fmt.Sprintf("give it one in symroute.conf (gateway = %s=ROUTER, or on Azure gateway = %s=first-host), or say it has none (gateway = %s=none)",
				name, name, name)})
	}
	return ws
}

// warnDefaultTablesAhead warns of another program's rule, ahead of
// symroute's, that looks up a table holding a default for traffic from
// symroute's addresses: that table takes every reply (wg-quick's full
// tunnel, "not fwmark 0xca6c lookup 51820"; a Tailscale exit node's table
// 52). Only rules whose selectors symroute reads are judged: by source,
// with no mark or an inverted one.
func (m *Mirror) warnDefaultTablesAhead(d *desirer) []Warning {
	var ws []Warning
	for i := range d.st.Rules {
		r := &d.st.Rules[i]
		inverted := r.Other && r.Selectors == "not"
		if m.ruleClass[i] != ruleForeign || r.Priority >= d.o.Priority || r.Action != RuleActionLookup || r.narrowed() ||
			(r.Other && !inverted) || (r.HasMark() && !inverted) || !d.st.Host.DefaultTables[r.Table] ||
			r.Table == TableMain || r.Table == TableLocal || m.Owned[r.Table] {
			continue
		}
		caught := m.caught(r)
		if caught == "" {
			continue
		}
		what := RuleText(r)
		if inverted {
			what = strings.Replace(what, "from ", "not from ", 1)
		}
		ws = append(ws, Warning{ID: WarnDefaultTableAhead,
			Text: fmt.Sprintf("rule '%s' is not symroute's, comes before its rules (priority %d), and table %s "+
				"holds a default: replies from %s leave by that table, not by their links (a full-tunnel VPN does this, wg-quick's or a "+
				"Tailscale exit node's)", what, d.o.Priority, tableWord(r.Table), caught),
			Fix: fmt.Sprintf("give symroute a priority before that rule (priority = %d in symroute.conf)", max(r.Priority/2, 3))})
	}
	return ws
}

// Rule actions that end the lookup of a packet they select (a lookup may
// fall through if its table has no route; it still wins where it has one).
const (
	ruleActionBlackhole   = 6 // FR_ACT_BLACKHOLE
	ruleActionUnreachable = 7
	ruleActionProhibit    = 8
)

func decides(r *Rule) bool {
	switch r.Action {
	case RuleActionLookup, ruleActionBlackhole, ruleActionUnreachable, ruleActionProhibit:
		return true
	}
	return false
}

// warnRulesAhead warns of another program's rule, ahead of symroute's,
// that decides the route of every packet from one of symroute's addresses:
// such a packet never reaches the address's rule. A rule decides every
// packet it selects when it blackholes, refuses or looks up main, where the
// defaults are; a lookup of another table (default's is most often empty) decides only
// the destinations that table has a route for (Tailscale's "from all lookup
// 52" takes its tailnet's), which the snapshot does not read: not warned of.
func (m *Mirror) warnRulesAhead(d *desirer) []Warning {
	var ws []Warning
	for i := range d.st.Rules {
		r := &d.st.Rules[i]
		if m.ruleClass[i] != ruleForeign || r.Priority >= d.o.Priority || r.Other || r.HasMark() || r.narrowed() || !decides(r) ||
			(r.Action == RuleActionLookup && r.Table != TableMain) {
			continue
		}
		caught := m.caught(r)
		if caught == "" {
			continue
		}
		ws = append(ws, Warning{ID: WarnRuleAhead,
			Text: fmt.Sprintf("rule '%s' is not symroute's and comes before its rules (priority %d): traffic from %s never reaches them",
				RuleText(r), d.o.Priority, caught),
			Fix: fmt.Sprintf("give that rule a priority after %d, or narrow its selectors", d.o.Priority)})
	}
	return ws
}
