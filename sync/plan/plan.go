package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// OpKind says what an operation does.
type OpKind uint8

const (
	RouteAdd OpKind = iota + 1
	RouteReplace
	RouteDel
	RuleAdd
	RuleDel
	// IngressWrite makes symroute's nftables table Ingress.Table, in one
	// transaction.
	IngressWrite
	// IngressDelete removes symroute's nftables table.
	IngressDelete
	// ConntrackForget deletes the conntrack entries of a retired mark
	// value, so that it never routes a reply by another link's table.
	ConntrackForget
	// SrcValidMarkSet sets a link's IPv4 src_valid_mark.
	SrcValidMarkSet
)

func (k OpKind) String() string {
	switch k {
	case RouteAdd:
		return "route add"
	case RouteReplace:
		return "route replace"
	case RouteDel:
		return "route del"
	case RuleAdd:
		return "rule add"
	case RuleDel:
		return "rule del"
	case IngressWrite:
		return "nft write"
	case IngressDelete:
		return "nft delete"
	case ConntrackForget:
		return "conntrack forget"
	case SrcValidMarkSet:
		return "src_valid_mark set"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// IsRoute tells route operations from the others.
func (k OpKind) IsRoute() bool { return k == RouteAdd || k == RouteReplace || k == RouteDel }

// IsRule tells rule operations from the others.
func (k OpKind) IsRule() bool { return k == RuleAdd || k == RuleDel }

// Op is one change; Route (or Main), Rule or Ingress is set according to
// Kind. They point into the State or Mirror the plan was made from (a first
// pass over 1M routes must not copy each one again: 144 MB).
type Op struct {
	Kind OpKind
	// Into, when not 0, is the table a route operation writes: Route, or
	// route Of of Main when Route is nil, is then the route it copies, with
	// no copy made. Read the route with RouteIn.
	Into    uint32
	Of      int32
	Route   *Route
	Main    *MainRoutes
	Rule    *Rule
	Ingress *IngressOp
}

// RouteIn returns the route a route operation writes: Route, or when Into
// is set a copy of it (or of main's route Of) in that table made in
// scratch.
func (op *Op) RouteIn(scratch *Route) *Route {
	switch {
	case op.Into == 0:
		return op.Route
	case op.Route == nil:
		op.Main.Get(int(op.Of), scratch)
	default:
		*scratch = *op.Route
	}
	scratch.Table = op.Into
	return scratch
}

// Table is the routing table the operation writes, 0 for none.
func (op Op) Table() uint32 {
	switch {
	case op.Kind.IsRoute() && op.Into != 0:
		return op.Into
	case op.Kind.IsRoute():
		return op.Route.Table
	case op.Kind.IsRule():
		return op.Rule.Table
	}
	return 0
}

// Clash is a managed link whose table another program uses: symroute
// leaves the table alone and the link unmirrored.
type Clash struct {
	Link   string
	Index  int
	Table  uint32
	Reason string
}

func (c Clash) String() string {
	return fmt.Sprintf("link %s: table %d is used by %s; link skipped", c.Link, c.Table, c.Reason)
}

// Plan is the ordered list of operations that turns a state into its mirror,
// with what the planner found on the way.
type Plan struct {
	Ops      []Op
	Clashes  []Clash
	Warnings []Warning
	// IngressErr says why --follow-ingress could not be enabled; the rest
	// of the plan stands, and the pass ends as partial.
	IngressErr string
}

// Partial reports whether a pass of this plan ends partial, however well
// its operations go: a link skipped, or --follow-ingress refused.
func (p Plan) Partial() bool { return len(p.Clashes) > 0 || p.IngressErr != "" }

// Mirror is the desired state: every rule and route symroute should have,
// and which tables it owns.
type Mirror struct {
	Rules []Rule
	// want are the desired routes, as references to the main-table routes
	// of st they copy: a copy differs from its source only in its table,
	// unless it is a multipath route's share or has metrics overridden, and
	// those few are materialised in alts.
	want []wantRoute
	alts []Route
	st   *State
	// Owned are the tables symroute may write and clear.
	Owned map[uint32]bool
	// Clashing are tables another program uses, with the user.
	Clashing map[uint32]string
	Clashes  []Clash
	Warnings []Warning
	// RuleProtocols is false on kernels that drop a rule's protocol
	// (before 4.17): our rules are then told by priority and table.
	RuleProtocols bool
	// IngressMarks are the mark values of steered links, by ifindex.
	IngressMarks map[int]uint32
	// IngressErr says why --follow-ingress could not be enabled.
	IngressErr string
	ingress    ingressPlan
	// wayOuts say where each link's default of symroute's comes from, by
	// family (wayout.go).
	wayOuts map[famLink]string
	// hasDefault are the tables that want a default, by family, and
	// noWayOut the routed links left with none, main having none through
	// them (warnNoWayOut).
	hasDefault map[famTable]bool
	noWayOut   []famLink
	// ruleClass classifies State.Rules by index.
	ruleClass []ruleClass
	// routed are the links with an address rule, by family.
	routed    map[famLink]bool
	tableBase uint32
}

type ruleClass uint8

const (
	ruleForeign ruleClass = iota
	ruleOurs
	ruleLegacy
)

// Compute is Desire followed by Diff.
func Compute(st *State, o Options) Plan {
	return Diff(st, Desire(st, o))
}

func isHostPrefix(p netip.Prefix) bool { return p.IsValid() && p.IsSingleIP() }

// FromOnly is the shape of symroute's rules and the original symrouted's:
// "from ADDR lookup TABLE" and nothing else.
func (r *Rule) FromOnly() bool {
	return !r.Other && !r.HasMark() && !r.narrowed() && r.Action == RuleActionLookup && isHostPrefix(r.Src)
}

// narrowed reports whether r selects by link or suppresses defaults.
func (r *Rule) narrowed() bool { return r.Iif != "" || r.Oif != "" || r.SuppressDefault }

// reservedTable reports tables no pass may ever write.
func reservedTable(t uint32) bool { return t == 0 || (t >= 252 && t <= 255) }

// Desire computes the mirror of st: which rules are whose (ruleKinds),
// which tables another program uses (clashSources), which tables are ours,
// then the rules, the routes and --follow-ingress's table. Main routes
// held in st.Routes are moved to st.Main first.
func Desire(st *State, o Options) *Mirror {
	st.packMain()
	m := &Mirror{Owned: map[uint32]bool{}, Clashing: map[uint32]string{}, tableBase: o.TableBase, st: st}
	d := newDesirer(st, o)
	m.classifyRules(d)
	for _, src := range clashSources {
		src.find(st, m, func(t uint32, why string) {
			if _, seen := m.Clashing[t]; !seen || src.overrides {
				m.Clashing[t] = why
			}
		})
	}
	m.ownTables(d)
	if o.Flush {
		m.desireIngress(st, o, d.byIndex, nil)
		return m
	}
	routed := m.desireRules(d)
	m.desireOifRules(d, routed)
	m.desireIngress(st, o, d.byIndex, routed)
	m.desireRoutes(d, routed)
	m.routed = routed
	SortWarnings(m.Warnings)
	return m
}

// desirer holds what Desire's steps share about a state.
type desirer struct {
	st      *State
	o       Options
	byIndex map[int]*Link
	// holders are the links holding each global address: for legacy
	// rules and addresses on two links.
	holders map[netip.Addr]holders
	// managed is true for links we mirror and false for other links that
	// exist; a link that is not there at all (gone since its routes were
	// dumped) is in neither, and its routes are not copied.
	managed map[int]bool
}

func newDesirer(st *State, o Options) *desirer {
	d := &desirer{st: st, o: o, byIndex: st.LinksByIndex(), holders: make(map[netip.Addr]holders, len(st.Addrs)),
		managed: make(map[int]bool, len(st.Links))}
	for _, a := range st.Addrs {
		if a.Scope == ScopeUniverse {
			ip := a.Prefix.Addr()
			d.holders[ip] = d.holders[ip].with(a.Link)
		}
	}
	for _, l := range st.Links {
		d.managed[l.Index] = o.Managed(l, d.byIndex)
	}
	return d
}

// ruleKinds say which rules are symroute's, row by row: the first whose
// test holds classifies the rule; a rule no row claims is foreign, never
// touched. Kernels since 4.17 dump a protocol on every rule (their default
// rules carry "kernel"), so a dump with no protocol anywhere is an older
// kernel, which drops the protocol written: protocols says which.
var ruleKinds = []struct {
	what  string
	class ruleClass
	is    func(r *Rule, d *desirer, protocols bool) bool
}{
	{"carries symroute's rule protocol", ruleOurs, func(r *Rule, _ *desirer, _ bool) bool {
		return r.Protocol == Protocol
	}},
	{"on a kernel without rule protocols: from-only, at our priority, looking up a table above the base", ruleOurs,
		func(r *Rule, d *desirer, protocols bool) bool {
			return !protocols && r.Protocol == 0 && r.Priority == d.o.Priority && r.FromOnly() && r.Table > d.o.TableBase
		}},
	{"the original symrouted's: from-only, no protocol, table 1000+ifindex of a link holding the address", ruleLegacy,
		func(r *Rule, d *desirer, _ bool) bool {
			return r.Protocol == 0 && r.FromOnly() && isLegacy(r, d.holders[r.Src.Addr()])
		}},
}

func (m *Mirror) classifyRules(d *desirer) {
	for _, r := range d.st.Rules {
		if r.Protocol != 0 {
			m.RuleProtocols = true
			break
		}
	}
	m.ruleClass = make([]ruleClass, len(d.st.Rules))
	for i := range d.st.Rules {
		for _, k := range ruleKinds {
			if k.is(&d.st.Rules[i], d, m.RuleProtocols) {
				m.ruleClass[i] = k.class
				break
			}
		}
	}
}

// clashSources are the ways another program shows it uses a table, which
// symroute then never writes, in the order they are looked at: a later
// source's reason replaces an earlier one's where it overrides.
var clashSources = []struct {
	what      string
	overrides bool
	find      func(st *State, m *Mirror, clash func(t uint32, why string))
}{
	{"a rule that is not symroute's looks the table up", false, func(st *State, m *Mirror, clash func(uint32, string)) {
		for i := range st.Rules {
			if r := &st.Rules[i]; m.ruleClass[i] == ruleForeign && r.Action == RuleActionLookup {
				clash(r.Table, "a rule not made by symroute ('"+RuleText(r)+"'"+otherSelectors(r)+")")
			}
		}
	}},
	{"a VRF device is bound to the table", true, func(st *State, _ *Mirror, clash func(uint32, string)) {
		for _, l := range st.Links {
			if l.Kind == "vrf" && l.VRFTable != 0 {
				clash(l.VRFTable, "VRF "+l.Name)
			}
		}
	}},
	{"rt_tables or rt_tables.d names the table for something else", true, func(st *State, _ *Mirror, clash func(uint32, string)) {
		for t, name := range st.TableNames {
			if !isOurTableName(name) {
				clash(t, fmt.Sprintf("the name %q in rt_tables", name))
			}
		}
	}},
}

// ownTables marks the tables symroute may write and clear: base+ifindex of
// every link and every table a rule of ours looks up, unless another
// program uses it, it is reserved, or it is main.
func (m *Mirror) ownTables(d *desirer) {
	own := func(t uint32) {
		if _, clash := m.Clashing[t]; !clash && !reservedTable(t) && t != TableMain {
			m.Owned[t] = true
		}
	}
	for _, l := range d.st.Links {
		own(d.o.TableOf(l.Index))
	}
	for i := range d.st.Rules {
		if m.ruleClass[i] != ruleForeign {
			own(d.st.Rules[i].Table)
		}
	}
}

// desireRules wants one rule per global address on a managed, unclashed
// link (an address on several links goes to the lowest ifindex), and
// returns the links that get a table, per family.
func (m *Mirror) desireRules(d *desirer) map[famLink]bool {
	routed := map[famLink]bool{}
	clashReported := map[int]bool{}
	// A rule an address at most, and an oif rule a link and family after
	// them: grown by appends, the rules of 4096 addresses were copied a
	// dozen times (a sixth of a no-op pass's planning at 64 x 64).
	m.Rules = make([]Rule, 0, len(d.st.Addrs)+2*len(d.st.Links))
	for _, a := range d.st.Addrs {
		if a.Scope != ScopeUniverse || !d.managed[a.Link] {
			continue
		}
		ip := a.Prefix.Addr()
		owner := a.Link
		d.holders[ip].each(func(h int) {
			if d.managed[h] && h < owner {
				owner = h
			}
		})
		if owner != a.Link {
			m.Warnings = append(m.Warnings, Warning{ID: WarnAddressOnTwoLinks, Link: Printable(LinkName(d.byIndex, a.Link)),
				Text: fmt.Sprintf("address %s is on %s and %s: its rule goes to %s", ip,
					LinkName(d.byIndex, owner), LinkName(d.byIndex, a.Link), LinkName(d.byIndex, owner))})
			continue
		}
		t := d.o.TableOf(a.Link)
		if why, clash := m.Clashing[t]; clash {
			if !clashReported[a.Link] {
				clashReported[a.Link] = true
				m.Clashes = append(m.Clashes, Clash{Link: LinkName(d.byIndex, a.Link), Index: a.Link, Table: t, Reason: why})
			}
			continue
		}
		fam := familyOf(ip)
		m.Rules = append(m.Rules, Rule{
			Family: fam, Priority: d.o.Priority, Src: netip.PrefixFrom(ip, ip.BitLen()),
			Table: t, Action: RuleActionLookup, Protocol: Protocol,
		})
		routed[famLink{fam, a.Link}] = true
	}
	return routed
}

// oifRules reports whether the mirror has symroute's oif rules: asked for,
// and on a kernel that keeps rule protocols. An older one keeps none, and
// its fallback tells ours by a from-only shape an oif rule does not have:
// one written there would be taken for another program's, and its table
// for a clash.
func (m *Mirror) oifRules(o Options) bool { return o.OifRules && m.RuleProtocols }

// desireOifRules wants, for each routed link and family, "oif LINK lookup
// table(LINK)" at the address rules' priority: a socket bound to the link
// (SO_BINDTODEVICE, IP_UNICAST_IF) is routed by its table, as a reply from
// its address is. Unbound traffic carries no oif and keeps main; IPv4
// multicast to 224.0.0.0/24 and broadcast bound to a link skip the rules,
// IPv6 multicast finds the local table first, and the link's own subnets
// and link-local routes are in its table (desireRoutes).
func (m *Mirror) desireOifRules(d *desirer, routed map[famLink]bool) {
	if !m.oifRules(d.o) {
		return
	}
	for _, fam := range [2]uint8{FamilyV4, FamilyV6} {
		var links []int
		for fl := range routed {
			if fl.fam == fam {
				links = append(links, fl.link)
			}
		}
		sort.Ints(links)
		for _, l := range links {
			m.Rules = append(m.Rules, Rule{Family: fam, Priority: d.o.Priority, Oif: LinkName(d.byIndex, l),
				Table: d.o.TableOf(l), Action: RuleActionLookup, Protocol: Protocol})
		}
	}
}

func familyOf(ip netip.Addr) uint8 {
	if ip.Is6() {
		return FamilyV6
	}
	return FamilyV4
}

// desireRoutes wants each main route in the table of its device, or in
// every routed table of its family when it has no device or one we do not
// manage (blackholes, container bridges, tunnels).
func (m *Mirror) desireRoutes(d *desirer, routed map[famLink]bool) {
	st, o := d.st, d.o
	var links [2][]int // routed links by family index, ascending
	for fl := range routed {
		fi := famIndex(fl.fam)
		links[fi] = append(links[fi], fl.link)
	}
	sort.Ints(links[0])
	sort.Ints(links[1])
	skipped := map[Unsupported]int{}
	sn, mainDefault, nMain := readMain(st, d.managed)
	var defaults []int // indices of wanted defaults
	m.want = make([]wantRoute, 0, nMain)
	// r is main's route i, materialised: add reads it and keeps nothing
	// of it but copies.
	r := &Route{}
	add := func(src int, c *Route, link int) {
		w := wantRoute{src: int32(src), table: o.TableOf(link), alt: -1}
		if r.Dst.Bits() == 0 {
			defaults = append(defaults, len(m.want))
		}
		if c == nil {
			sn.want(r, w.table)
		} else {
			sn.want(c, w.table)
		}
		if c != nil || len(o.RouteMetrics) > 0 {
			if c == nil {
				c = r
			}
			m.alts = append(m.alts, finishCopy(*c, o, link))
			w.alt = int32(len(m.alts) - 1)
		}
		m.want = append(m.want, w)
	}
	lc := linkCache{managed: d.managed, routed: routed}
	for i := 0; i < st.Main.Len(); i++ {
		st.Main.Get(i, r)
		if r.Unsupported != Supported {
			skipped[r.Unsupported]++
			continue
		}
		if r.Linkdown {
			continue
		}
		if r.Family == FamilyV6 && r.Dst.Bits() >= linkLocalV6.Bits() && linkLocalV6.Contains(r.Dst.Addr()) {
			if m.linkLocalCopied(r, d, routed) {
				add(i, nil, r.Link)
			}
			continue
		}
		fi := famIndex(r.Family)
		if r.Nexthops != nil {
			for _, l := range links[fi] {
				if c, ok := multipathCopy(r, l, d.managed); ok {
					add(i, &c, l)
				}
			}
			continue
		}
		if r.Link != 0 {
			if known, mg, rt := lc.of(r.Family, r.Link); !known {
				continue
			} else if mg {
				if rt {
					add(i, nil, r.Link)
				}
				continue
			}
		}
		for _, l := range links[fi] {
			add(i, nil, l)
		}
	}
	for why, n := range skipped {
		m.Warnings = append(m.Warnings, Warning{ID: WarnRoutesNotMirrored, Text: fmt.Sprintf("%d main routes not mirrored: %s", n, why.String())})
	}
	m.throws(sn, o, links)
	m.wayOut(d, routed, mainDefault, links, defaults)
}

// linkCache answers, for a link and family, whether the link is known,
// managed and routed, from the maps, the last answer kept: main's routes
// come in runs of one link, and two map probes a route were a tenth of a
// no-op pass's planning at 1M routes.
type linkCache struct {
	managed           map[int]bool
	routed            map[famLink]bool
	last              famLink
	known, mg, rt, ok bool
}

func (c *linkCache) of(fam uint8, link int) (known, managed, routed bool) {
	if !c.ok || c.last != (famLink{fam, link}) {
		c.last, c.ok = famLink{fam, link}, true
		c.mg, c.known = c.managed[link]
		c.rt = c.routed[c.last]
	}
	return c.known, c.mg, c.rt
}

// readMain reads main's routes once: its connected subnets, the links its
// defaults go through, and how many routes it has.
func readMain(st *State, managed map[int]bool) (sn *subnets, mainDefault map[famLink]bool, n int) {
	sn, mainDefault = &subnets{}, map[famLink]bool{}
	var r Route
	n = st.Main.Len()
	for i := 0; i < n; i++ {
		st.Main.Get(i, &r)
		if links := subnetLinks(&r, managed); links != nil {
			sn.add(&r, links)
		}
		if r.Dst.Bits() == 0 {
			noteDefault(&r, mainDefault)
			if r.Type == RouteUnicast {
				mainDefault[famLink{r.Family, 0}] = true // main has one at all
			}
		}
	}
	return sn, mainDefault, n
}

// linkLocalCopied reports whether r, an IPv6 link-local route of main, is
// copied into its link's table: where the link has an oif rule. A socket
// bound to the link is routed by its table, whose default must then not
// send fe80::/10 to the router. A throw would not do: a lookup bound to a
// link passes over routes of other devices, the throw's lo included, and
// takes the default.
func (m *Mirror) linkLocalCopied(r *Route, d *desirer, routed map[famLink]bool) bool {
	return m.oifRules(d.o) && r.Nexthops == nil && d.managed[r.Link] && routed[famLink{r.Family, r.Link}]
}

// noteDefault notes the links a default of main goes through, whole or
// as a nexthop, down or not (a default of symroute's would then be refused,
// or contradict main).
func noteDefault(r *Route, links map[famLink]bool) {
	if r.Link != 0 {
		links[famLink{r.Family, r.Link}] = true
	}
	for _, nh := range r.Nexthops {
		links[famLink{r.Family, nh.Link}] = true
	}
}

var linkLocalV6 = netip.MustParsePrefix("fe80::/10")

func famIndex(f uint8) int {
	if f == FamilyV6 {
		return 1
	}
	return 0
}

// famTable is a table in one address family.
type famTable struct {
	fam   uint8
	table uint32
}

// famLink is a link in one address family.
type famLink struct {
	fam  uint8
	link int
}

// wantRoute is one desired route: route src of st.Main copied into
// table, or alts[alt] when alt >= 0: copied into table when src is srcProto
// (a throw, one prototype for every table that holds it), else whole (src
// is then the main route it was made from, or srcNone for routes of no main
// route, like a lease router's default).
type wantRoute struct {
	src   int32
	table uint32
	alt   int32
}

const (
	srcNone  = -1
	srcProto = -2
)

// route returns w as a Route; tmp is scratch space for the common case.
func (m *Mirror) route(w wantRoute, tmp *Route) *Route {
	switch {
	case w.src == srcProto:
		*tmp = m.alts[w.alt]
	case w.alt >= 0:
		return &m.alts[w.alt]
	default:
		m.st.Main.Get(int(w.src), tmp)
		tmp.Linkdown = false
	}
	tmp.Table = w.table
	return tmp
}

func (m *Mirror) key(w wantRoute) RouteKey {
	if w.alt >= 0 && w.src != srcProto {
		return m.alts[w.alt].Key()
	}
	var k RouteKey
	if w.alt >= 0 {
		k = m.alts[w.alt].Key()
	} else {
		k = m.st.Main.key(int(w.src))
	}
	k.Table = w.table
	return k
}

func finishCopy(r Route, o Options, link int) Route {
	r.Table = o.TableOf(link)
	r.Metrics = overrideMetrics(r.Metrics, o.RouteMetrics)
	r.Linkdown = false
	return r
}

// multipathCopy is link's share of a multipath route: its own nexthops and
// those through links we do not manage; one nexthop makes a plain route.
func multipathCopy(r *Route, link int, managed map[int]bool) (Route, bool) {
	var nhs []Nexthop
	for _, nh := range r.Nexthops {
		if mg, exists := managed[nh.Link]; nh.Link == link || (exists && !mg) {
			nhs = append(nhs, nh)
		}
	}
	c := *r
	switch len(nhs) {
	case 0:
		return c, false
	case 1:
		c.Nexthops = nil
		c.Link, c.Gw, c.Flags = nhs[0].Link, nhs[0].Gw, nhs[0].Flags
	default:
		c.Nexthops = nhs
	}
	return c, true
}

func isLegacy(r *Rule, h holders) bool {
	legacy := false
	h.each(func(l int) { legacy = legacy || r.Table == LegacyTableBase+uint32(l) })
	return legacy
}

// holders are the links holding one address. Almost every address has
// one, kept inline: a slice per address was nearly every allocation the
// planner made at 4096 addresses.
type holders struct {
	first int // 0: none (link indices start at 1)
	more  []int
}

func (h holders) with(link int) holders {
	if h.first == 0 {
		h.first = link
	} else {
		h.more = append(h.more, link)
	}
	return h
}

func (h holders) each(fn func(link int)) {
	if h.first == 0 {
		return
	}
	fn(h.first)
	for _, l := range h.more {
		fn(l)
	}
}

// OurTableNamePrefix starts the rt_tables names that are symroute's own
// ("symroute-em1"): naming a table so is no clash.
const OurTableNamePrefix = "symroute"

func isOurTableName(name string) bool {
	return strings.HasPrefix(name, OurTableNamePrefix)
}
