package report

import (
	"sort"

	"github.com/symroute/symroute/sync/plan"
)

// LinkStatus is one line of --status: what symroute does for a link and
// whether the kernel has it. The JSON names here and below are --status
// --json's, an interface: never rename one.
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
	// IngressMark is the link's --follow-ingress mark value, 0 if none.
	IngressMark uint32 `json:"ingress_mark,omitempty"`
}

// The states of symroute's nftables table in IngressStatus.Table.
const (
	IngressTableAbsent    = "absent"
	IngressTableInSync    = "in sync"
	IngressTableOutOfSync = "out of sync"
	IngressTableUnknown   = "unknown" // nftables could not be read
)

// IngressStatus is --status's summary of --follow-ingress.
type IngressStatus struct {
	Enabled bool `json:"enabled"`
	// Table is one of the IngressTable states.
	Table string `json:"table"`
	Mask  uint32 `json:"mask"`
	// Error says why the option could not be enabled.
	Error string `json:"error,omitempty"`
}

// IngressSummary summarises --follow-ingress for --status.
func IngressSummary(st *plan.State, p plan.Plan, o plan.Options) IngressStatus {
	s := IngressStatus{Enabled: o.FollowIngress, Table: IngressTableAbsent, Mask: o.IngressMask, Error: p.IngressErr}
	switch {
	case st.Ingress.Err != nil:
		s.Table = IngressTableUnknown
	case st.Ingress.Table != nil:
		s.Table = IngressTableInSync
	}
	for _, op := range p.Ops {
		if op.Kind == plan.IngressWrite || op.Kind == plan.IngressDelete || op.Kind == plan.SrcValidMarkSet {
			s.Table = IngressTableOutOfSync
		}
	}
	return s
}

// RuleStatus is one rule of a link, by its address (From) or, for the
// rule of sockets bound to the link, its name (Oif), and whether it is in
// place.
type RuleStatus struct {
	From string `json:"from,omitempty"`
	Oif  string `json:"oif,omitempty"`
	// Family is an oif rule's, "inet" or "inet6": one for each family the
	// link has a table in.
	Family  string `json:"family,omitempty"`
	Present bool   `json:"present"`
}

// Status summarises st against its mirror m, link by link.
func Status(st *plan.State, m *plan.Mirror, p plan.Plan, o plan.Options) []LinkStatus {
	byIndex := st.LinksByIndex()
	have := map[plan.RuleKey]bool{}
	for i := range st.Rules {
		if m.OwnerOf(i) == plan.RuleOurs {
			have[st.Rules[i].Key()] = true
		}
	}
	routes := map[uint32]int{}
	for i := range st.Routes {
		if m.Owned[st.Routes[i].Table] {
			routes[st.Routes[i].Table]++
		}
	}
	for _, c := range st.Copies {
		if m.Owned[c.Table] {
			routes[c.Table]++
		}
	}
	want := m.WantedRoutes()
	dirty := map[uint32]bool{}
	for _, op := range p.Ops {
		dirty[op.Table()] = true
	}
	out := []LinkStatus{}
	for _, l := range st.Links {
		t := o.TableOf(l.Index)
		ls := LinkStatus{Name: l.Name, Index: l.Index, Managed: o.Managed(l, byIndex), Table: t,
			Clash: m.Clashing[t], Routes: routes[t], WantRoutes: want[t], Rules: []RuleStatus{}}
		for _, r := range m.Rules {
			// A fwmark rule shows as the link's mark.
			switch {
			case r.Table != t || r.HasMark():
			case r.Oif != "":
				ls.Rules = append(ls.Rules, RuleStatus{Oif: r.Oif, Family: familyWord(r.Family), Present: have[r.Key()]})
			default:
				ls.Rules = append(ls.Rules, RuleStatus{From: r.Src.Addr().String(), Present: have[r.Key()]})
			}
		}
		ls.InSync = !dirty[t]
		ls.IngressMark = m.IngressMarks[l.Index]
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// familyWord is a family as nft(8) and ip(8)'s JSON name it.
func familyWord(fam uint8) string {
	if fam == plan.FamilyV6 {
		return "inet6"
	}
	return "inet"
}
