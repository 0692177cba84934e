package report

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/symroute/symroute/sync/plan"
)

// The host checks of warningKinds: what on the host defeats symmetric
// routing, each with what to do. They change no plan and no exit status;
// a pass logs them once.

// warnNM warns of a routed link whose NetworkManager connection has its
// own route table or routing rules: NM then puts the link's routes in that
// table (not main, which symroute mirrors) and manages rules beside ours.
func warnNM(h *host) []plan.Warning {
	var ws []plan.Warning
	links6 := h.m.Routed(plan.FamilyV6)
	for _, n := range h.st.Host.NMRouting {
		if !slices.Contains(h.links4, n.Link) && !slices.Contains(links6, n.Link) {
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
		link := plan.Printable(plan.LinkName(h.byIndex, n.Link))
		ws = append(ws, plan.Warning{ID: WarnNMOwnRouting, Link: link,
			Text: fmt.Sprintf("NetworkManager connection '%s' on %s has %s: NetworkManager then routes %s by tables "+
				"and rules of its own, beside symroute's", plan.Printable(n.Connection), link, strings.Join(own, " and "), link),
			Fix: fmt.Sprintf("drop them from the connection (nmcli connection modify ... ipv4.route-table 0 "+
				"ipv4.routing-rules \"\"), or exclude %s from symroute", link)})
	}
	return ws
}

// warnNetworkd warns of a systemd-networkd that will delete symroute's
// rules the next time it configures a link: one that does not keep other
// programs' rules, or (notYet) one that keeps them from its next start.
func warnNetworkd(h *host, notYet bool) []plan.Warning {
	nd := h.st.Host.Networkd
	switch {
	case !h.m.RoutesAny() || !nd.Running:
	case !nd.KeepsForeignRules && !notYet:
		return []plan.Warning{{ID: WarnNetworkdForeignRules,
			Text: "systemd-networkd runs without ManageForeignRoutingPolicyRules=no: it deletes symroute's rules " +
				"whenever it configures a link (at its start, on networkctl reconfigure)",
			Fix: "install " + NetworkdDropIn + " (the package does) and restart systemd-networkd"}}
	case nd.KeepsForeignRules && nd.NotYet && notYet:
		return []plan.Warning{{ID: WarnNetworkdNotRestarted,
			Text: fmt.Sprintf("systemd-networkd started before %s set ManageForeignRoutingPolicyRules=no, "+
				"and reads it only when it starts: until it restarts it deletes symroute's rules whenever it configures a link "+
				"(the hooks put them back)", plan.Printable(nd.File)),
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
func warnArpFlux(h *host) []plan.Warning {
	links := h.links4
	all := h.st.Host.ConfAll
	if all.ArpFilter < 0 || all.ArpIgnore < 0 {
		return nil
	}
	flux := func(l int) bool {
		ln := h.byIndex[l]
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
	for _, a := range h.st.Addrs {
		if p := a.Prefix.Masked(); a.Scope == plan.ScopeUniverse && p.Addr().Is4() && routedLink[a.Link] && !slices.Contains(byNet[p], a.Link) {
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
	var ws []plan.Warning
	for _, k := range pairs {
		a, b := k.a, k.b
		if !flux(a) && !flux(b) {
			continue
		}
		var open []string
		for _, l := range []int{a, b} {
			if flux(l) {
				open = append(open, plan.Printable(plan.LinkName(h.byIndex, l)))
			}
		}
		ws = append(ws, plan.Warning{ID: WarnArpFlux,
			Text: fmt.Sprintf("links %s and %s are both in %s and ARP flux is not stopped on %s: "+
				"a neighbour may send one link's traffic to the other's MAC, and its replies then leave by the other link",
				plan.Printable(plan.LinkName(h.byIndex, a)), plan.Printable(plan.LinkName(h.byIndex, b)), shared[k], strings.Join(open, " and ")),
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
func warnRPFilter(h *host) []plan.Warning {
	links := h.links4
	all := h.st.Host.ConfAll.RPFilter
	if all < 0 || len(links) < 2 || h.o.FollowIngress {
		return nil
	}
	var ws []plan.Warning
	for _, l := range links {
		ln := h.byIndex[l]
		if ln == nil || max(all, int8(ln.RPFilter)) != 1 {
			continue
		}
		name := plan.Printable(ln.Name)
		ws = append(ws, plan.Warning{ID: WarnStrictRPFilter, Link: name,
			Text: fmt.Sprintf("link %s has strict rp_filter (1): a connection arriving on %s for an address not on it "+
				"(another uplink's, a VIP on lo) is dropped, as its reply would leave by another link", name, name),
			Fix: fmt.Sprintf("set net.ipv4.conf.%s.rp_filter=2 (loose), or turn on --follow-ingress", plan.SysctlName(ln.Name))})
	}
	return ws
}

// caught lists the sources of symroute's address rules that a rule ahead
// of them takes (the fwmark and oif rules have no source), the first three
// and a count of the rest; "" for none.
func caught(m *plan.Mirror, r *plan.Rule) string {
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
func warnNoWayOut(h *host) []plan.Warning {
	var ws []plan.Warning
	for _, fl := range h.m.NoWayOut() {
		name, fam := plan.Printable(plan.LinkName(h.byIndex, fl.Link)), "IPv4"
		if fl.Family == plan.FamilyV6 {
			fam = "IPv6"
		}
		ws = append(ws, plan.Warning{ID: WarnNoWayOut, Link: name,
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
func warnDefaultTablesAhead(h *host) []plan.Warning {
	var ws []plan.Warning
	rulesAhead(h, func(r *plan.Rule) bool {
		inverted := r.Other && r.Selectors == "not"
		return r.Action == plan.RuleActionLookup && (!r.Other || inverted) && (!r.HasMark() || inverted) &&
			h.st.Host.DefaultTables[r.Table] && r.Table != plan.TableMain && r.Table != plan.TableLocal && !h.m.Owned[r.Table]
	}, func(r *plan.Rule, caught string) {
		what := plan.RuleText(r)
		if r.Other && r.Selectors == "not" {
			what = strings.Replace(what, "from ", "not from ", 1)
		}
		ws = append(ws, plan.Warning{ID: WarnDefaultTableAhead,
			Text: fmt.Sprintf("rule '%s' is not symroute's, comes before its rules (priority %d), and table %s "+
				"holds a default: replies from %s leave by that table, not by their links (a full-tunnel VPN does this, wg-quick's or a "+
				"Tailscale exit node's)", what, h.o.Priority, plan.TableWord(r.Table), caught),
			Fix: fmt.Sprintf("give symroute a priority before that rule (priority = %d in symroute.conf)", max(r.Priority/2, 3))})
	})
	return ws
}

// warnRulesAhead warns of another program's rule, ahead of symroute's,
// that decides the route of every packet from one of symroute's addresses:
// such a packet never reaches the address's rule. A rule decides every
// packet it selects when it blackholes, refuses or looks up main, where the
// defaults are; a lookup of another table (default's is most often empty) decides only
// the destinations that table has a route for (Tailscale's "from all lookup
// 52" takes its tailnet's), which the snapshot does not read: not warned of.
func warnRulesAhead(h *host) []plan.Warning {
	var ws []plan.Warning
	rulesAhead(h, func(r *plan.Rule) bool {
		return !r.Other && !r.HasMark() && r.Decides() && (r.Action != plan.RuleActionLookup || r.Table == plan.TableMain)
	}, func(r *plan.Rule, caught string) {
		ws = append(ws, plan.Warning{ID: WarnRuleAhead,
			Text: fmt.Sprintf("rule '%s' is not symroute's and comes before its rules (priority %d): traffic from %s never reaches them",
				plan.RuleText(r), h.o.Priority, caught),
			Fix: fmt.Sprintf("give that rule a priority after %d, or narrow its selectors", h.o.Priority)})
	})
	return ws
}

// rulesAhead calls each for every other program's rule ahead of
// symroute's, with no selector past source and mark that narrows it, that
// judge takes and that catches the sources of symroute's address rules
// (caught).
func rulesAhead(h *host, judge func(r *plan.Rule) bool, each func(r *plan.Rule, caught string)) {
	for i := range h.st.Rules {
		r := &h.st.Rules[i]
		if h.m.OwnerOf(i) != plan.RuleForeign || r.Priority >= h.o.Priority || r.Narrowed() || !judge(r) {
			continue
		}
		if c := caught(h.m, r); c != "" {
			each(r, c)
		}
	}
}
