package plan

import "sort"

// LinkStatus is one line of --status: what symroute does for a link and
// whether the kernel has it.
type LinkStatus struct {
	Name    string       `json:"name"`
	Index   int          `json:"ifindex"`
	Managed bool         `json:"managed"`
	Table   uint32       `json:"table"`
	Clash   string       `json:"clash,omitempty"`
	Rules   []RuleStatus `json:"rules"`
	// Routes counts the routes in the link's table now, and those the
	// mirror wants there.
	Routes     int  `json:"routes"`
	WantRoutes int  `json:"want_routes"`
	InSync     bool `json:"in_sync"`
}

// RuleStatus is one address and whether its rule is in place.
type RuleStatus struct {
	From    string `json:"from"`
	Present bool   `json:"present"`
}

// Status summarises st against its mirror m, link by link.
func Status(st *State, m *Mirror, p Plan, o Options) []LinkStatus {
	byIndex := make(map[int]*Link, len(st.Links))
	for i := range st.Links {
		byIndex[st.Links[i].Index] = &st.Links[i]
	}
	have := map[ruleKey]bool{}
	for i := range st.Rules {
		if m.ruleClass[i] == ruleOurs {
			have[keyOfRule(&st.Rules[i])] = true
		}
	}
	routes := map[uint32]int{}
	for i := range st.Routes {
		if m.Owned[st.Routes[i].Table] {
			routes[st.Routes[i].Table]++
		}
	}
	want := map[uint32]int{}
	for _, w := range m.want {
		want[w.table]++
	}
	dirty := map[uint32]bool{}
	for _, op := range p.Ops {
		dirty[op.Table()] = true
	}
	var out []LinkStatus
	for _, l := range st.Links {
		t := o.TableOf(l.Index)
		ls := LinkStatus{Name: l.Name, Index: l.Index, Managed: o.Managed(l, byIndex), Table: t,
			Clash: m.Clashing[t], Routes: routes[t], WantRoutes: want[t], Rules: []RuleStatus{}}
		for _, r := range m.Rules {
			if r.Table == t {
				ls.Rules = append(ls.Rules, RuleStatus{From: r.Src.Addr().String(), Present: have[keyOfRule(&r)]})
			}
		}
		ls.InSync = !dirty[t]
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}
