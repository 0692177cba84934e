package plan

import (
	"sort"
	"strings"
)

// Warning is one condition of the host that defeats symmetric routing, or
// that the planner could not act on, as data: which row of warningKinds
// raised it, the link it is about, what is wrong and what to do. A warning
// changes no plan and no exit status.
type Warning struct {
	// ID is its row's: stable, kebab-case, the metrics' label and the
	// JSON's id, so that a script or an alert can match on it.
	ID WarningID
	// Link is the link it is about, "" where it is about none (or two:
	// ARP flux names both in Text).
	Link string
	// Text says what is wrong; Fix what to do about it, "" where nothing
	// needs doing (it explains what the plan did instead).
	Text, Fix string
}

// String is the warning as the log and --status say it: what is wrong,
// then what to do.
func (w Warning) String() string {
	if w.Fix == "" {
		return w.Text
	}
	return w.Text + "; " + w.Fix
}

// WarningID names a row of warningKinds.
type WarningID string

// The warnings' IDs. They are an interface (metrics labels, --status
// --json, the README's Warnings table): never rename one.
const (
	WarnArpFlux              WarningID = "arp-flux"
	WarnStrictRPFilter       WarningID = "strict-rp-filter"
	WarnNetworkdForeignRules WarningID = "networkd-foreign-rules"
	WarnNetworkdNotRestarted WarningID = "networkd-not-restarted"
	WarnNMOwnRouting         WarningID = "nm-own-routing"
	WarnRuleAhead            WarningID = "rule-ahead"
	WarnDefaultTableAhead    WarningID = "default-table-ahead"
	WarnNoWayOut             WarningID = "no-way-out"
	WarnRouterOffSubnet      WarningID = "router-off-subnet"
	WarnNoFirstHost          WarningID = "no-first-host"
	WarnAddressOnTwoLinks    WarningID = "address-on-two-links"
	WarnRoutesNotMirrored    WarningID = "routes-not-mirrored"
	WarnNoMarkValue          WarningID = "no-mark-value"
)

// warningKind is a row of warningKinds.
type warningKind struct {
	ID WarningID
	// check looks at the host once the mirror is desired; nil for a
	// warning the planner raises on the way (it says what it did instead:
	// those rows name where).
	check func(*Mirror, *hostView) []Warning
}

// hostView is what the host checks read besides the state: the links
// routed in each family, and the IPv4 ones in ascending order.
type hostView struct {
	d      *desirer
	routed map[famLink]bool
	links4 []int
}

// warningKinds is every warning symroute gives, one row each, in the
// order the README's Warnings table lists them (a test keeps the two in
// step, and TestWarningKinds has a case per row).
var warningKinds = []warningKind{
	// Two routed links share an IPv4 subnet and one answers ARP for the
	// other's addresses.
	{WarnArpFlux, func(m *Mirror, v *hostView) []Warning { return m.warnArpFlux(v.d, v.links4) }},
	// rp_filter 1 on a routed link of a host with two or more, without
	// --follow-ingress.
	{WarnStrictRPFilter, func(m *Mirror, v *hostView) []Warning { return m.warnRPFilter(v.d, v.links4) }},
	// networkd runs and deletes other programs' rules.
	{WarnNetworkdForeignRules, func(m *Mirror, v *hostView) []Warning { return warnNetworkd(v, false) }},
	// networkd keeps them from its next start only.
	{WarnNetworkdNotRestarted, func(m *Mirror, v *hostView) []Warning { return warnNetworkd(v, true) }},
	// A routed link's NetworkManager connection routes by its own tables.
	{WarnNMOwnRouting, func(m *Mirror, v *hostView) []Warning { return m.warnNM(v.d, v.routed) }},
	// Another program's rule ahead of ours decides our addresses' traffic.
	{WarnRuleAhead, func(m *Mirror, v *hostView) []Warning { return m.warnRulesAhead(v.d) }},
	// Another program's rule ahead of ours sends it to a table with a
	// default (a full-tunnel VPN).
	{WarnDefaultTableAhead, func(m *Mirror, v *hostView) []Warning { return m.warnDefaultTablesAhead(v.d) }},
	// A routed link with no default in its table (wayout.go).
	{WarnNoWayOut, func(m *Mirror, v *hostView) []Warning { return m.warnNoWayOut(v.d) }},
	// A router given for a link is on none of its subnets (wayout.go,
	// reachable).
	{WarnRouterOffSubnet, nil},
	// first-host asked for a link with no such host (wayout.go, firstHost).
	{WarnNoFirstHost, nil},
	// An address on two managed links: its rule goes to the first's table
	// (plan.go, desireRules).
	{WarnAddressOnTwoLinks, nil},
	// Main routes of kinds the tables do not copy (plan.go, desireRoutes).
	{WarnRoutesNotMirrored, nil},
	// --follow-ingress has no mark value left for a link (ingress.go,
	// newValues).
	{WarnNoMarkValue, nil},
}

// WarningIDs are the IDs of every warning, in warningKinds' order: the
// metrics write a gauge for each, 0 where none was found.
func WarningIDs() []WarningID {
	ids := make([]WarningID, len(warningKinds))
	for i, k := range warningKinds {
		ids[i] = k.ID
	}
	return ids
}

// warnHost runs the host checks of warningKinds.
func (m *Mirror) warnHost(d *desirer, routed map[famLink]bool) {
	v := &hostView{d: d, routed: routed}
	for fl := range routed {
		if fl.fam == FamilyV4 {
			v.links4 = append(v.links4, fl.link)
		}
	}
	sort.Ints(v.links4)
	for _, k := range warningKinds {
		if k.check != nil {
			m.Warnings = append(m.Warnings, k.check(m, v)...)
		}
	}
}

// sortWarnings orders the warnings as they are said, so that a plan's are
// the same whatever order its checks ran in.
func sortWarnings(ws []Warning) {
	sort.SliceStable(ws, func(i, j int) bool { return strings.Compare(ws[i].String(), ws[j].String()) < 0 })
}
