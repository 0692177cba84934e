package plan

import (
	"net/netip"
	"sort"
)

// What the reports (package report: --status, --explain) read of a
// mirror: whose each rule of the state is, how many routes a table should
// hold, and why a route is in one. The mirror's own fields stay private,
// so that the planner may change how it keeps them.

// RuleOwner says whose a rule of the state is.
type RuleOwner uint8

const (
	RuleForeign RuleOwner = iota // another program's, or the kernel's
	RuleOurs                     // symroute's (its protocol, or its shape on an old kernel)
	RuleLegacy                   // the original symrouted's, which symroute replaces
)

// OwnerOf says whose rule i of the state the mirror was desired from is.
func (m *Mirror) OwnerOf(i int) RuleOwner {
	switch m.ruleClass[i] {
	case ruleOurs:
		return RuleOurs
	case ruleLegacy:
		return RuleLegacy
	}
	return RuleForeign
}

// WantedRoutes counts the routes the mirror wants in each table.
func (m *Mirror) WantedRoutes() map[uint32]int {
	n := map[uint32]int{}
	for _, w := range m.want {
		n[w.table]++
	}
	return n
}

// RouteOrigin says why the mirror wants a route in one of its tables.
type RouteOrigin uint8

const (
	OriginNone   RouteOrigin = iota // not as a pass leaves the table: the next one replaces or removes it
	OriginCopy                      // a copy of main's route
	OriginWayOut                    // symroute's default for a link main has none through (wayout.go)
	OriginThrow                     // symroute's throw of another link's connected subnet
	OriginOther                     // symroute's own otherwise
)

// OriginOf says why r, a route of one of the mirror's tables, is there,
// and for a way out where its router comes from.
func (m *Mirror) OriginOf(r *Route) (RouteOrigin, string) {
	for _, w := range m.want {
		var tmp Route
		c := m.route(w, &tmp)
		if c.Table != r.Table || !c.sameKey(r) || !c.equalBut(r) {
			continue
		}
		switch {
		case w.src >= 0:
			return OriginCopy, ""
		case r.Dst.Bits() == 0:
			if from, ok := m.wayOuts[famLink{r.Family, r.Link}]; ok {
				return OriginWayOut, from
			}
		case r.IsThrow():
			return OriginThrow, ""
		}
		return OriginOther, ""
	}
	return OriginNone, ""
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

// Decides reports whether r ends the lookup of a packet it selects: a
// blackhole, unreachable or prohibit, or a lookup (which may fall through
// if its table has no route, but wins where it has one).
func (r *Rule) Decides() bool { return decides(r) }

// ActionWords are ip(8)'s words for r's selectors it does not read and
// its action, where it is not a lookup.
func (r *Rule) ActionWords() string {
	if r.Selectors == "" {
		return ruleActionWords[r.Action]
	}
	return r.Selectors + " " + ruleActionWords[r.Action]
}

// TableName is table t as ip(8) names it, with its rt_tables name.
func TableName(st *State, t uint32) string { return tableName(st, t) }

// ProtoName is protocol p as ip(8) names it.
func ProtoName(p uint8) string { return protoName(p) }

// FamilyOf is a's family.
func FamilyOf(a netip.Addr) uint8 { return familyOf(a) }

// LinkFamily is a link in a family.
type LinkFamily struct {
	Family uint8
	Link   int
}

// Routed are the links with an address rule in a family, in ifindex
// order: those the mirror routes.
func (m *Mirror) Routed(fam uint8) []int {
	var out []int
	for fl := range m.routed {
		if fl.fam == fam {
			out = append(out, fl.link)
		}
	}
	sort.Ints(out)
	return out
}

// RoutesAny reports whether the mirror routes any link.
func (m *Mirror) RoutesAny() bool { return len(m.routed) > 0 }

// NoWayOut are the routed links whose table has no default in a family,
// main having none through them and no source giving one, while main has
// one in that family (wayout.go).
func (m *Mirror) NoWayOut() []LinkFamily {
	out := make([]LinkFamily, len(m.noWayOut))
	for i, fl := range m.noWayOut {
		out[i] = LinkFamily{fl.fam, fl.link}
	}
	return out
}

// Narrowed reports whether r has selectors past its source and mark that
// symroute reads (iif, oif, suppress_prefixlength): it takes only part of
// its source's traffic.
func (r *Rule) Narrowed() bool { return r.narrowed() }

// TableWord is table t as ip(8) names it: main, local and default by name.
func TableWord(t uint32) string { return tableWord(t) }

// LinksByIndex maps st's links by ifindex, pointing into st.Links.
func (st *State) LinksByIndex() map[int]*Link {
	byIndex := make(map[int]*Link, len(st.Links))
	for i := range st.Links {
		byIndex[st.Links[i].Index] = &st.Links[i]
	}
	return byIndex
}
