package report

import (
	"github.com/symroute/symroute/sync/plan"
)

// The IDs of the warnings the host checks below raise; the planner's own
// are plan's (plan/warning.go). IDs are an interface (metrics labels,
// --status --json, the README's Warnings table): never rename one.
const (
	WarnArpFlux              plan.WarningID = "arp-flux"
	WarnStrictRPFilter       plan.WarningID = "strict-rp-filter"
	WarnNetworkdForeignRules plan.WarningID = "networkd-foreign-rules"
	WarnNetworkdNotRestarted plan.WarningID = "networkd-not-restarted"
	WarnNMOwnRouting         plan.WarningID = "nm-own-routing"
	WarnRuleAhead            plan.WarningID = "rule-ahead"
	WarnDefaultTableAhead    plan.WarningID = "default-table-ahead"
	WarnNoWayOut             plan.WarningID = "no-way-out"
)

// warningKind is a row of warningKinds.
type warningKind struct {
	ID plan.WarningID
	// check looks at the host and its mirror; nil for a warning the
	// planner raises on the way (it says what it did instead: plan's
	// comments on those IDs say where).
	check func(*host) []plan.Warning
}

// host is what the checks read: the state, its mirror and the options it
// was desired with, the links by index, and the IPv4 links the mirror
// routes, in ifindex order.
type host struct {
	st      *plan.State
	m       *plan.Mirror
	o       plan.Options
	byIndex map[int]*plan.Link
	links4  []int
}

// warningKinds is every warning symroute gives, one row each, in the
// order the README's Warnings table lists them (a test keeps the two in
// step, and TestWarningKinds has a case per row).
var warningKinds = []warningKind{
	// Two routed links share an IPv4 subnet and one answers ARP for the
	// other's addresses.
	{WarnArpFlux, warnArpFlux},
	// rp_filter 1 on a routed link of a host with two or more, without
	// --follow-ingress.
	{WarnStrictRPFilter, warnRPFilter},
	// networkd runs and deletes other programs' rules.
	{WarnNetworkdForeignRules, func(h *host) []plan.Warning { return warnNetworkd(h, false) }},
	// networkd keeps them from its next start only.
	{WarnNetworkdNotRestarted, func(h *host) []plan.Warning { return warnNetworkd(h, true) }},
	// A routed link's NetworkManager connection routes by its own tables.
	{WarnNMOwnRouting, warnNM},
	// Another program's rule ahead of ours decides our addresses' traffic.
	{WarnRuleAhead, warnRulesAhead},
	// Another program's rule ahead of ours sends it to a table with a
	// default (a full-tunnel VPN).
	{WarnDefaultTableAhead, warnDefaultTablesAhead},
	// A routed link with no default in its table (wayout.go).
	{WarnNoWayOut, warnNoWayOut},
	// The planner's: a router given for a link is on none of its subnets;
	// first-host asked for a link with no such host; an address on two
	// managed links; main routes the tables do not copy; no mark value
	// left for a link.
	{plan.WarnRouterOffSubnet, nil},
	{plan.WarnNoFirstHost, nil},
	{plan.WarnAddressOnTwoLinks, nil},
	{plan.WarnRoutesNotMirrored, nil},
	{plan.WarnNoMarkValue, nil},
}

// WarningIDs are the IDs of every warning, in warningKinds' order: the
// metrics write a gauge for each, 0 where none was found.
func WarningIDs() []plan.WarningID {
	ids := make([]plan.WarningID, len(warningKinds))
	for i, k := range warningKinds {
		ids[i] = k.ID
	}
	return ids
}

// Warnings are the plan's warnings (the planner's own) and those the host
// checks of warningKinds find in st and its mirror m, desired with o, in
// the order they are said.
func Warnings(st *plan.State, m *plan.Mirror, p plan.Plan, o plan.Options) []plan.Warning {
	h := &host{st: st, m: m, o: o, byIndex: st.LinksByIndex(), links4: m.Routed(plan.FamilyV4)}
	ws := append([]plan.Warning(nil), p.Warnings...)
	for _, k := range warningKinds {
		if k.check != nil {
			ws = append(ws, k.check(h)...)
		}
	}
	plan.SortWarnings(ws)
	return ws
}
