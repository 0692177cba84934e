package plan

import (
	"sort"
	"strings"
)

// Warning is one condition of the host that defeats symmetric routing, or
// that the planner could not act on, as data: its ID, the link it is
// about, what is wrong and what to do. A warning changes no plan and no
// exit status. The planner raises the warnings of what it did instead of
// what was asked (below); package report checks the host for the others,
// and its table (report/warnkinds.go) lists them all.
type Warning struct {
	// ID names its row: stable, kebab-case, the metrics' label and the
	// JSON's id, so that a script or an alert can match on it.
	ID WarningID `json:"id"`
	// Link is the link it is about, "" where it is about none (or two:
	// ARP flux names both in Text).
	Link string `json:"link,omitempty"`
	// Text says what is wrong; Fix what to do about it, "" where nothing
	// needs doing (it explains what the plan did instead). The JSON names
	// are --status --json's.
	Text string `json:"text"`
	Fix  string `json:"fix,omitempty"`
}

// String is the warning as the log and --status say it: what is wrong,
// then what to do.
func (w Warning) String() string {
	if w.Fix == "" {
		return w.Text
	}
	return w.Text + "; " + w.Fix
}

// WarningID names a warning. IDs are an interface (metrics labels,
// --status --json, the README's Warnings table): never rename one.
type WarningID string

// The warnings the planner raises on the way.
const (
	// A router given for a link is on none of its subnets (wayout.go,
	// reachable).
	WarnRouterOffSubnet WarningID = "router-off-subnet"
	// first-host asked for a link with no such host (wayout.go, firstHost).
	WarnNoFirstHost WarningID = "no-first-host"
	// An address on two managed links: its rule goes to the first's table
	// (plan.go, desireRules).
	WarnAddressOnTwoLinks WarningID = "address-on-two-links"
	// Main routes of kinds the tables do not copy (plan.go, desireRoutes).
	WarnRoutesNotMirrored WarningID = "routes-not-mirrored"
	// --follow-ingress has no mark value left for a link (ingress.go,
	// newValues).
	WarnNoMarkValue WarningID = "no-mark-value"
)

// SortWarnings orders warnings as they are said, so that a plan's are the
// same whatever order they were found in.
func SortWarnings(ws []Warning) {
	sort.SliceStable(ws, func(i, j int) bool { return strings.Compare(ws[i].String(), ws[j].String()) < 0 })
}
