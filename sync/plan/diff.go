package plan

import (
	"net/netip"
	"sort"
)

// RouteKey is what the kernel tells routes of one table apart by: IPv4 by
// destination, tos and metric; IPv6 by destination and metric (IPv6 has no
// tos). A route whose other attributes change keeps its key and is replaced
// in place; a new metric is a new key, added before the old one goes.
type RouteKey struct {
	Family   uint8
	Table    uint32
	Dst      netip.Prefix
	Tos      uint8
	Priority uint32
}

// Key returns r's RouteKey.
func (r *Route) Key() RouteKey {
	return RouteKey{Family: r.Family, Table: r.Table, Dst: r.Dst, Tos: r.Tos, Priority: r.Priority}
}

// Equal compares everything symroute copies.
func (r *Route) Equal(o *Route) bool {
	if r.Family != o.Family || r.Table != o.Table || r.Dst != o.Dst || r.Tos != o.Tos ||
		r.Priority != o.Priority || r.Type != o.Type || r.Protocol != o.Protocol ||
		r.Scope != o.Scope || r.Gw != o.Gw || r.Link != o.Link || r.Src != o.Src ||
		r.Flags != o.Flags || r.Metrics != o.Metrics || len(r.Nexthops) != len(o.Nexthops) {
		return false
	}
	for i := range r.Nexthops {
		if r.Nexthops[i] != o.Nexthops[i] {
			return false
		}
	}
	return true
}

// gatewayed routes depend on a link route of the same table being there
// first; they are added after and deleted before link routes.
func (r *Route) gatewayed() bool { return r.Gw.IsValid() || r.Nexthops != nil }

type ruleKey struct {
	Family   uint8
	Priority uint32
	Src      netip.Prefix
	Table    uint32
}

func keyOfRule(r *Rule) ruleKey {
	return ruleKey{Family: r.Family, Priority: r.Priority, Src: r.Src, Table: r.Table}
}

// Diff returns the operations that make st equal to m, in apply order:
// route adds and replaces (per table, link routes before gateway routes),
// rule adds, rule deletes, route deletes (gateway routes first). Only rules
// m classifies as ours or legacy and routes in tables m owns are touched.
func Diff(st *State, m *Mirror) Plan {
	p := Plan{Clashes: m.Clashes, Warnings: m.Warnings}

	// Routes, grouped by table so the order within a table can be kept.
	want := make(map[RouteKey]int, len(m.Routes))
	for i := range m.Routes {
		k := m.Routes[i].Key()
		if j, dup := want[k]; dup {
			// Two main routes with one key land in one table (a route via
			// the link and one via an unmanaged link): the link's own wins.
			if !m.ownRoute(&m.Routes[i]) || m.ownRoute(&m.Routes[j]) {
				continue
			}
		}
		want[k] = i
	}
	matched := make([]bool, len(m.Routes))
	type tableOps struct{ add, del [2][]Op } // [0] link routes, [1] gateway routes
	perTable := map[uint32]*tableOps{}
	ops := func(t uint32) *tableOps {
		to := perTable[t]
		if to == nil {
			to = &tableOps{}
			perTable[t] = to
		}
		return to
	}
	cls := func(r *Route) int {
		if r.gatewayed() {
			return 1
		}
		return 0
	}
	for i := range st.Routes {
		cur := &st.Routes[i]
		if !m.Owned[cur.Table] {
			continue
		}
		if j, ok := want[cur.Key()]; ok && !matched[j] {
			matched[j] = true
			if !cur.Equal(&m.Routes[j]) {
				to := ops(cur.Table)
				to.add[cls(&m.Routes[j])] = append(to.add[cls(&m.Routes[j])], Op{Kind: RouteReplace, Route: m.Routes[j]})
			}
			continue
		}
		to := ops(cur.Table)
		to.del[cls(cur)] = append(to.del[cls(cur)], Op{Kind: RouteDel, Route: *cur})
	}
	for i := range m.Routes {
		if matched[i] || want[m.Routes[i].Key()] != i {
			continue
		}
		r := &m.Routes[i]
		to := ops(r.Table)
		to.add[cls(r)] = append(to.add[cls(r)], Op{Kind: RouteAdd, Route: *r})
	}
	tables := make([]uint32, 0, len(perTable))
	for t := range perTable {
		tables = append(tables, t)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i] < tables[j] })

	// Rules.
	wantRule := make(map[ruleKey]int, len(m.Rules))
	for i := range m.Rules {
		wantRule[keyOfRule(&m.Rules[i])] = i
	}
	ruleMatched := make([]bool, len(m.Rules))
	var ruleDels []Op
	for i := range st.Rules {
		cur := &st.Rules[i]
		switch m.ruleClass[i] {
		case ruleForeign:
			continue
		case ruleOurs:
			if j, ok := wantRule[keyOfRule(cur)]; ok && !ruleMatched[j] {
				ruleMatched[j] = true
				continue
			}
		}
		ruleDels = append(ruleDels, Op{Kind: RuleDel, Rule: *cur})
	}

	for _, t := range tables {
		p.Ops = append(p.Ops, perTable[t].add[0]...)
		p.Ops = append(p.Ops, perTable[t].add[1]...)
	}
	for i := range m.Rules {
		if !ruleMatched[i] {
			p.Ops = append(p.Ops, Op{Kind: RuleAdd, Rule: m.Rules[i]})
		}
	}
	p.Ops = append(p.Ops, ruleDels...)
	for _, t := range tables {
		p.Ops = append(p.Ops, perTable[t].del[1]...)
		p.Ops = append(p.Ops, perTable[t].del[0]...)
	}
	return p
}

// ownRoute reports whether r goes through the link whose table it is in.
func (m *Mirror) ownRoute(r *Route) bool {
	link := int(r.Table - m.tableBase)
	if r.Link == link {
		return true
	}
	for _, nh := range r.Nexthops {
		if nh.Link == link {
			return true
		}
	}
	return false
}
