package plan

import (
	"net/netip"
)

// Protocol is the rule protocol number symroute tags its rules with
// (FRA_PROTOCOL, kernel 4.17+). iproute2 learns its name from the
// rt_protos.d file the package installs, so `ip rule` shows "proto symroute".
// 234 is unassigned in iproute2's rt_protos and in the kernel's rtnetlink.h.
const Protocol = 234

// LegacyTableBase is the table base the original symrouted hard-coded; its
// rules are recognised at base+ifindex whatever --table-base says.
const LegacyTableBase = 1000

// Kernel constants the planner needs, spelled out so this package does not
// import x/sys/unix (it must build and reason without a kernel).
const (
	FamilyV4 = 2  // AF_INET
	FamilyV6 = 10 // AF_INET6

	TableMain    = 254
	TableLocal   = 255
	TableDefault = 253

	RouteUnicast     = 1 // RTN_UNICAST
	RouteLocal       = 2
	RouteBroadcast   = 3
	RouteAnycast     = 4
	RouteMulticast   = 5
	RouteBlackhole   = 6
	RouteUnreachable = 7
	RouteProhibit    = 8
	RouteThrow       = 9
	RouteNAT         = 10

	ScopeUniverse = 0
	ScopeLink     = 253
	ScopeHost     = 254

	FlagOnlink = 0x4 // RTNH_F_ONLINK
	// FlagHopsDropped is symroute's own, never written: the snapshot
	// dropped nexthops of the route that the kernel flags down, so what
	// was read is not the kernel's whole nexthop list.
	FlagHopsDropped = 0x80

	RuleActionLookup = 1 // FR_ACT_TO_TBL
)

// Link is a network interface as the planner needs to see it.
type Link struct {
	Index int
	Name  string
	// Kind is the rtnetlink link kind ("vrf", "bridge", "veth", ...), empty
	// for plain devices.
	Kind string
	// Master is the ifindex of the link's master device, 0 if none.
	Master   int
	Loopback bool
	// VRFTable is the table a VRF device is bound to (Kind "vrf" only).
	VRFTable uint32
	// SrcValidMark is the link's IPv4 src_valid_mark (--follow-ingress
	// turns it on).
	SrcValidMark bool
	// ArpFilter, ArpIgnore and RPFilter are the link's own IPv4 settings
	// (net.ipv4.conf.LINK.*); the kernel combines each with State.Host.ConfAll's.
	ArpFilter, ArpIgnore, RPFilter uint8
}

// ConfAll are the IPv4 "all" settings (net.ipv4.conf.all.*), -1 where the
// snapshot could not read them (the hardened units see no /proc/sys): a
// warning that needs one is then not given.
type ConfAll struct {
	ArpFilter, ArpIgnore, RPFilter int8
}

// Addr is one address on a link.
type Addr struct {
	Link   int
	Prefix netip.Prefix // address with its prefix length, e.g. 10.0.0.2/16
	Scope  uint8        // RT_SCOPE_*: 0 is global
}

// Rule is one policy routing rule. Only what symroute needs to decide
// ownership is kept: a source prefix and a firewall mark are the selectors
// symroute's rules use; any other (iif, oif, tos, ports, uid range,
// invert...) sets Other, which makes the rule one symroute never wants. A
// rule of symroute's protocol is ours whatever its selectors (a version
// with more rule kinds may have left it), and one with Other is deleted as
// the kernel listed it: Raw and Selectors say how.
type Rule struct {
	Family   uint8
	Priority uint32
	Src      netip.Prefix // zero if the rule matches any source
	// Mark and Mask are "fwmark MARK/MASK"; both zero if the rule has no
	// fwmark selector. The kernel takes a mark given alone with the mask
	// 0xffffffff, and dumps both.
	Mark, Mask uint32
	Table      uint32
	Action     uint8 // FR_ACT_*; RuleActionLookup for "lookup TABLE"
	Protocol   uint8
	// Iif and Oif are "iif NAME" and "oif NAME", "" if not given.
	Iif, Oif string
	// SuppressDefault is "suppress_prefixlength 0": a lookup's result is
	// passed over when it is a default route (any other length is Other).
	SuppressDefault bool
	Other           bool
	// Raw is the rule as the kernel listed it (struct fib_rule_hdr and
	// its attributes), set only with Other: a delete sends it back, as
	// `ip rule flush` does, so that it names every selector, those this
	// version cannot read included. A delete naming fewer would take the
	// first rule that has them, which may be a wanted one.
	Raw string
	// Selectors spell, as ip(8) reads them, what Other stands for ("oif
	// em2", "not", "ipproto 6 dport 80", "goto 32766"; link names quoted
	// for sh): --dry-run prints the delete with them. A selector ip(8)
	// has no word for is spelled "unknown-attribute-N", which ip(8)
	// refuses: better no delete than one of another rule.
	Selectors string
}

// HasMark reports whether r selects by firewall mark.
func (r *Rule) HasMark() bool { return r.Mark != 0 || r.Mask != 0 }

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Link   int
	Gw     netip.Addr
	Weight int // 1-based, as ip(8) prints it
	Flags  uint8
}

// Route is one route of any table. Only the attributes symroute copies are
// kept; Linkdown and Unsupported are read-only facts about a dumped route.
// Fields are ordered to keep it small: a pass may hold 200k of them.
type Route struct {
	Dst netip.Prefix
	Gw  netip.Addr // may be IPv6 on an IPv4 route (RTA_VIA)
	Src netip.Addr // preferred source
	// Metrics is the route's RTA_METRICS as canonical text, "" if none
	// (see EncodeMetrics): one string keeps Route small and comparable.
	Metrics string
	// Nexthops is set for multipath routes only; Gw and Link are then zero.
	Nexthops []Nexthop
	Table    uint32
	Priority uint32
	Link     int // 0 for routes with no device (blackhole...)
	Family   uint8
	Tos      uint8
	Type     uint8
	Protocol uint8
	Scope    uint8
	Flags    uint8 // FlagOnlink, FlagHopsDropped
	// Linkdown: the kernel keeps the route but flags its device down; such
	// a route cannot be added to another table until the link comes back.
	Linkdown bool
	// Unsupported names an attribute symroute does not copy; such routes
	// are left out of the mirror.
	Unsupported Unsupported
}

// LoopbackIndex is lo's ifindex in every network namespace: IPv6 holds
// the routes with no device (blackhole, unreachable...) on it.
const LoopbackIndex = 1

// DeleteNamesNexthops reports whether a delete of r names its nexthops (a
// plain route's gateway and device, a multipath route's list, lo for an
// IPv6 route with no device), so that it takes r and not another route of
// its key: the kernel deletes the first route of the key that matches what
// the request names. Not when the snapshot dropped nexthops the kernel
// flags down (IPv4 compares a named list, or a named gateway, from the
// kernel's first nexthop on: it would never match), nor for a route
// symroute does not read whole (a nexthop object's route never matches a
// named nexthop).
func (r *Route) DeleteNamesNexthops() bool {
	return r.Flags&FlagHopsDropped == 0 && r.Unsupported == Supported
}

// Unsupported is why a route is not mirrored (0: it is).
type Unsupported uint8

const (
	Supported Unsupported = iota
	UnsupportedNexthopObject
	UnsupportedEncap
	UnsupportedSourcePrefix
)

func (u Unsupported) String() string {
	switch u {
	case Supported:
		return ""
	case UnsupportedNexthopObject:
		return "nexthop object (nhid)"
	case UnsupportedEncap:
		return "lightweight tunnel encapsulation"
	case UnsupportedSourcePrefix:
		return "IPv6 source prefix (from)"
	}
	return "unknown"
}

// State is everything a pass reads. Main and Routes hold only main and the
// tables that can be ours (SnapshotTables' keep).
type State struct {
	Links []Link
	Addrs []Addr
	Rules []Rule
	// Main is the main table, packed (MainRoutes); Routes the routes of
	// other tables. A State made by hand may hold main's routes in Routes:
	// Desire and Diff move them to Main first (packMain).
	Main   *MainRoutes
	Routes []Route
	// Copies are routes outside main equal but for their table to a route
	// of Main (see Copy). A route is in Routes or in Copies, never both;
	// Copies never name the main table.
	Copies []Copy
	// TableNames are the tables named in iproute2's rt_tables and
	// rt_tables.d, by number.
	TableNames map[uint32]string
	// Routers are the routers links have outside main: those of live
	// DHCP leases (a hook's record, a stack's lease state) and those the
	// links' IPv6 router advertisements name, for links whose default
	// never reached main (wayout.go).
	Routers []Router
	// Ingress is symroute's nftables table as the kernel has it.
	Ingress IngressState
	// Host is what the warnings read of the host besides (warnkinds.go):
	// their one input beside the state above.
	Host HostFacts
}

// HostFacts are what the warnings read of the host besides its links,
// addresses, rules and routes: the kernel adapter's snapshot fills
// ConfAll and DefaultTables, the pass the rest from other programs' files.
type HostFacts struct {
	// ConfAll are the IPv4 "all" settings.
	ConfAll ConfAll
	// DefaultTables are the tables holding a default route other than a
	// throw, kept or not.
	DefaultTables map[uint32]bool
	// Networkd is what systemd-networkd here keeps.
	Networkd Networkd
	// NMRouting are the links whose NetworkManager connection has its own
	// route table or routing rules.
	NMRouting []NMRouting
}

// NMRouting is a link's NetworkManager connection that sets its own route
// table (ipv4.route-table, ipv6.route-table; 0 is main) or routing rules.
type NMRouting struct {
	Link           int
	Connection     string
	Table4, Table6 uint32
	Rules4, Rules6 int
}

// Networkd is whether systemd-networkd runs in this network namespace, and
// whether it keeps other programs' rules (ManageForeignRoutingPolicyRules=no).
type Networkd struct {
	Running           bool
	KeepsForeignRules bool
	// File is the file that set it; NotYet is true when it was written
	// after networkd started, which reads it only when it starts.
	File   string
	NotYet bool
}

// ReadOptions say what a snapshot reads.
type ReadOptions struct {
	// TableBase decides which tables' routes are kept (SnapshotTables).
	TableBase uint32
}

// RouterSource says where a link's router was learnt.
type RouterSource uint8

const (
	// RouterLease is a live DHCP lease's router (RFC 3442 classless
	// routes' default first, then the Router option).
	RouterLease RouterSource = iota + 1
	// RouterRA is an IPv6 router the link's advertisements name: a
	// link-local neighbour entry flagged router.
	RouterRA
)

// Router is a router a link's traffic can leave by, learnt outside main.
type Router struct {
	Link   int
	Gw     netip.Addr
	Source RouterSource
	// Stack names who holds the lease ("dhclient", "dhcpcd",
	// "NetworkManager", "systemd-networkd"), for reports.
	Stack string
}

// SnapshotTables says which tables a snapshot reads besides main, from the
// links and rules it read first. Keep are those whose routes it holds: the
// tables symroute may own (base+ifindex of every link, any table a rule of
// its protocol or shaped like its rules looks up, ours or the original
// symrouted's after a change of --table-base) and any table above the base
// a rule looks up. Peek are the other tables rules look up, read only for
// whether they hold a default (HostFacts.DefaultTables). A table nothing
// names, even one in symroute's range, is never read: it is not ours
// (DESIGN's "which tables are ours"), and not reading it is what lets a
// snapshot ask the kernel for one table at a time.
func SnapshotTables(links []Link, rules []Rule, tableBase uint32) (keep, peek map[uint32]bool) {
	keep, peek = map[uint32]bool{}, map[uint32]bool{}
	o := Options{TableBase: tableBase}
	for _, l := range links {
		if t := o.TableOf(l.Index); !reservedTable(t) {
			keep[t] = true
		}
	}
	for i := range rules {
		r := &rules[i]
		switch {
		case r.Action != RuleActionLookup || r.Table == 0 || r.Table == TableMain || r.Table == TableLocal:
		case !reservedTable(r.Table) && (r.Table > tableBase || r.Protocol == Protocol || r.FromOnly()):
			keep[r.Table] = true
		default:
			peek[r.Table] = true
		}
	}
	for t := range keep {
		delete(peek, t)
	}
	return keep, peek
}
