package report

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/symroute/symroute/sync/plan"
)

// Explanation says why a flow takes the route the kernel chose: the rule
// that selected the table, the table, and the route, each with whose it
// is and why it is there.
type Explanation struct {
	// Rule is the first rule, in priority order, that selects the flow and
	// looks up Table; nil if none could be told (the kernel's lookup found
	// the table by a rule with selectors symroute does not read).
	Rule    *plan.Rule
	RuleWhy string
	// Passed are the rules before Rule that selected the flow and looked
	// up a table with no route for it: the lookup went on past them.
	Passed []string
	Table  uint32
	// TableWhy says whose the table is.
	TableWhy string
	Route    plan.Route
	RouteWhy string
	// Notes are what an administrator should know about the path: a
	// source address of another link, a route symroute will remove.
	Notes []string
}

// Explain explains got, the route the kernel's lookup of f returned, given
// st and its mirror m.
func Explain(st *plan.State, m *plan.Mirror, o plan.Options, f plan.Flow, got plan.Route) Explanation {
	byIndex := st.LinksByIndex()
	e := Explanation{Table: got.Table, Route: got}
	fam := plan.FamilyOf(f.Dst)
	thrown := false
	// In the kernel's order: by priority, then as listed.
	order := make([]int, len(st.Rules))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return st.Rules[order[a]].Priority < st.Rules[order[b]].Priority })
	for _, i := range order {
		r := &st.Rules[i]
		if r.Family != fam || !selects(r, f, byIndex) || (r.Action != plan.RuleActionLookup && !r.Decides()) {
			continue
		}
		// A lookup of main that suppresses defaults took the flow only if
		// main's route was no default.
		if r.Action == plan.RuleActionLookup && r.Table == got.Table && !(r.SuppressDefault && got.Dst.Bits() == 0) {
			e.Rule = r
			e.RuleWhy = ruleWhy(st, m, i, o, byIndex)
			if r.Other {
				e.RuleWhy += "; it has selectors symroute does not read, and may not be the one the kernel used"
			}
			break
		}
		// Every lookup starts in local; only the rules after it are news.
		if !r.Other && r.Action == plan.RuleActionLookup && r.Table != plan.TableLocal {
			why, throw := passedWhy(st, m, r, f.Dst, byIndex)
			thrown = thrown || throw
			e.Passed = append(e.Passed, fmt.Sprintf("rule '%s' (%s): %s, so the lookup went on",
				plan.RuleText(r), ruleWhy(st, m, i, o, byIndex), why))
		}
	}
	e.TableWhy = tableWhy(m, o, got.Table, byIndex)
	e.RouteWhy = routeWhy(st, m, &got, byIndex)
	// A reply steered by its ingress mark leaves by the link it came in on
	// whatever its address: that is the point. One to another link's
	// subnet leaves by that link, as without symroute.
	if f.Src.IsValid() && got.Type == plan.RouteUnicast && f.Mark == 0 && !thrown {
		if owner, ok := addrLink(st, f.Src); ok && !got.Via(owner) && f.Iif == 0 {
			e.Notes = append(e.Notes, fmt.Sprintf("the flow leaves by %s, but %s is an address of %s: a reverse-path filter or a firewall on the way may drop it",
				plan.Printable(routeLinks(&got, byIndex)), f.Src, plan.Printable(plan.LinkName(byIndex, owner))))
		}
	}
	return e
}

// passedWhy says why a lookup of table t went on past it for dst: one of
// symroute's throws of another link's subnet (true), or no route.
func passedWhy(st *plan.State, m *plan.Mirror, r *plan.Rule, dst netip.Addr, byIndex map[int]*plan.Link) (string, bool) {
	t := r.Table
	if r.SuppressDefault {
		return fmt.Sprintf("table %s routes %s by a default, which the rule passes over", plan.TableName(st, t), dst), false
	}
	if th, link, ok := m.ThrowOf(t, dst); ok {
		return fmt.Sprintf("table %s throws %s, a connected subnet of %s, to the rules after it (symroute's: as without symroute, never through another link)",
			plan.TableName(st, t), th.Dst, plan.Printable(plan.LinkName(byIndex, link))), true
	}
	return fmt.Sprintf("table %s has no route for %s", plan.TableName(st, t), dst), false
}

// selects reports whether r's selectors, as far as symroute reads them,
// take f; a rule with others (ports, tos...) is taken to. An oif rule takes
// only a flow bound to its link, and Iif 0 comes from lo.
func selects(r *plan.Rule, f plan.Flow, byIndex map[int]*plan.Link) bool {
	if r.Src.IsValid() && (!f.Src.IsValid() || !r.Src.Contains(f.Src)) {
		return false
	}
	if r.Oif != "" && (f.Oif == 0 || plan.LinkName(byIndex, f.Oif) != r.Oif) {
		return false
	}
	if r.Iif != "" && (f.Iif == 0 && r.Iif != "lo" || f.Iif != 0 && plan.LinkName(byIndex, f.Iif) != r.Iif) {
		return false
	}
	return !r.HasMark() || f.Mark&r.Mask == r.Mark
}

func ruleWhy(st *plan.State, m *plan.Mirror, i int, o plan.Options, byIndex map[int]*plan.Link) string {
	r := &st.Rules[i]
	switch m.OwnerOf(i) {
	case plan.RuleOurs:
		if r.Other || r.Action != plan.RuleActionLookup {
			what := strings.TrimSpace(r.ActionWords())
			return fmt.Sprintf("symroute's protocol, but not a rule this version writes (%s): the next pass deletes it", plan.Printable(what))
		}
		if r.SuppressDefault && r.Iif != "" {
			return fmt.Sprintf("symroute's, --follow-ingress: what came in on %s and is forwarded takes main's route where it is no default", plan.Printable(r.Iif))
		}
		link := plan.LinkName(byIndex, int(r.Table-o.TableBase))
		if r.Oif != "" {
			return fmt.Sprintf("symroute's, for sockets bound to %s", plan.Printable(r.Oif))
		}
		if r.HasMark() {
			return fmt.Sprintf("symroute's, --follow-ingress: replies of connections that came in on %s", plan.Printable(link))
		}
		return fmt.Sprintf("symroute's, for %s's address %s", plan.Printable(link), r.Src.Addr())
	case plan.RuleLegacy:
		return "the original symrouted's; symroute replaces it"
	}
	switch {
	case r.Priority == 0 && r.Table == plan.TableLocal, r.Priority == 32766 && r.Table == plan.TableMain, r.Priority == 32767 && r.Table == plan.TableDefault:
		return "the kernel's own"
	}
	return fmt.Sprintf("not symroute's (protocol %s)", plan.ProtoName(r.Protocol))
}

func tableWhy(m *plan.Mirror, o plan.Options, t uint32, byIndex map[int]*plan.Link) string {
	switch {
	case t == plan.TableMain:
		return "the main table"
	case t == plan.TableLocal:
		return "the kernel's table of local and broadcast addresses"
	case m.Owned[t] && t > o.TableBase:
		if l, ok := byIndex[int(t-o.TableBase)]; ok {
			return "symroute's mirror of " + plan.Printable(l.Name)
		}
		return "symroute's, of a link that is gone (the next pass empties it)"
	case m.Owned[t]:
		return "symroute's (a table of the original symrouted)"
	}
	if why, ok := m.Clashing[t]; ok {
		return "not symroute's: used by " + why
	}
	return "not symroute's"
}

func routeWhy(st *plan.State, m *plan.Mirror, r *plan.Route, byIndex map[int]*plan.Link) string {
	if r.Table == plan.TableMain || !m.Owned[r.Table] {
		return fmt.Sprintf("%s's own (protocol %s)", plan.TableName(st, r.Table), plan.ProtoName(r.Protocol))
	}
	switch origin, from := m.OriginOf(r); origin {
	case plan.OriginCopy:
		return "copied from main"
	case plan.OriginWayOut:
		return fmt.Sprintf("symroute's way out for %s: main has no default through it; the router is from %s",
			plan.Printable(plan.LinkName(byIndex, r.Link)), from)
	case plan.OriginThrow:
		return "symroute's throw of another link's subnet: main decides, as without symroute"
	case plan.OriginOther:
		return "symroute's"
	}
	return "in symroute's table but not as a pass leaves it: the next pass replaces or removes it"
}

// addrLink returns the link holding local address a.
func addrLink(st *plan.State, a netip.Addr) (int, bool) {
	for _, ad := range st.Addrs {
		if ad.Prefix.Addr() == a {
			return ad.Link, true
		}
	}
	return 0, false
}

// routeLinks names the links r leaves by.
func routeLinks(r *plan.Route, byIndex map[int]*plan.Link) string {
	if len(r.Nexthops) == 0 {
		return plan.LinkName(byIndex, r.Link)
	}
	s := ""
	for i, nh := range r.Nexthops {
		if i > 0 {
			s += " and "
		}
		s += plan.LinkName(byIndex, nh.Link)
	}
	return s
}
