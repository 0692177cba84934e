package plan

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
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
func (r *Route) Equal(o *Route) bool { return r.Table == o.Table && r.equalBut(o) }

// equalBut compares everything symroute copies but the table: a copy in
// one table against its source in main, with no copy made. FlagHopsDropped
// is not copied: the kernel never holds it, so a copy written from a route
// read with it reads back without it.
func (r *Route) equalBut(o *Route) bool { return r.Dst == o.Dst && r.equalButDst(o) }

// equalButDst is equalBut less the destination too: a main route's rest
// (MainRoutes) against a route.
func (r *Route) equalButDst(o *Route) bool {
	if r.Family != o.Family || r.Tos != o.Tos ||
		r.Priority != o.Priority || r.Type != o.Type || r.Protocol != o.Protocol ||
		r.Scope != o.Scope || r.Gw != o.Gw || r.Link != o.Link || r.Src != o.Src ||
		r.Flags&^FlagHopsDropped != o.Flags&^FlagHopsDropped || r.Metrics != o.Metrics {
		return false
	}
	return slices.Equal(r.Nexthops, o.Nexthops)
}

// gatewayed routes depend on a link route of the same table being there
// first; they are added after and deleted before link routes.
func (r *Route) gatewayed() bool { return r.Gw.IsValid() || r.Nexthops != nil }

// hashKey is RouteKey packed into 32 bytes with no pointer and no padding,
// so maps hash it as one block of memory: at 100k routes per table the
// diff is mostly map probes, and netip.Prefix's 32 bytes (with a pointer)
// hash field by field.
type hashKey struct {
	hi, lo   uint64
	table    uint32
	priority uint32
	bits     uint8
	tos      uint8
	family   uint8
	pad      [5]uint8
}

func (k RouteKey) hash() hashKey {
	a := k.Dst.Addr().As16()
	return hashKey{
		hi: binary.BigEndian.Uint64(a[:8]), lo: binary.BigEndian.Uint64(a[8:]),
		table: k.Table, priority: k.Priority, bits: uint8(k.Dst.Bits()), tos: k.Tos, family: k.Family,
	}
}

// RuleKey is what tells one of our rules from another (the diff, the
// status, a pass's watch on its own writes). Like hashKey it holds no
// pointer (netip.Prefix does), so a map hashes it as one block of memory
// rather than field by field: a third of Diff's time at 4096 rules. Family
// tells an IPv4 source from its IPv4-mapped form; srcBits is -1 for a rule
// with no source. The action and Other are in it so that a rule of ours
// of another shape (an oif, a blackhole) is never taken for the wanted
// rule of its source, priority and table.
type RuleKey struct {
	src, iif, oif               [16]byte // names: IFNAMSIZ
	priority, mark, mask, table uint32
	srcBits                     int16
	family, action              uint8
	other, suppress             bool
}

// Key is the rule's RuleKey.
func (r *Rule) Key() RuleKey {
	k := RuleKey{src: r.Src.Addr().As16(), srcBits: int16(r.Src.Bits()), family: r.Family,
		priority: r.Priority, mark: r.Mark, mask: r.Mask, table: r.Table, action: r.Action, other: r.Other,
		suppress: r.SuppressDefault}
	copy(k.iif[:], r.Iif)
	copy(k.oif[:], r.Oif)
	return k
}

// Diff returns the operations that make st equal to m, in apply order:
// route adds and replaces (per table, link routes before gateway routes),
// deletes of our rules with other selectors (see diffRules), rule adds,
// then --follow-ingress's changes (forgets of values already retired, the
// nftables table, forgets of values it retires, src_valid_mark resets and
// sets), rule deletes, route deletes (gateway routes first). Only rules m
// classifies as ours or legacy, routes in tables m owns and symroute's own
// nftables table are touched.
func Diff(st *State, m *Mirror) Plan {
	st.packMain()
	p := Plan{Clashes: m.Clashes, Warnings: m.Warnings, IngressErr: m.IngressErr}

	tables, perTable := diffRoutes(st, m)
	ruleAdds, otherDels, ruleDels := diffRules(st, m)

	// The plan's list made at its size: grown by appends, a first pass of
	// 1M routes would copy 32 MB of operations several times over.
	before, after := m.diffIngress(st)
	n := len(otherDels) + len(ruleAdds) + len(before) + len(after) + len(ruleDels)
	for _, to := range perTable {
		n += len(to.add[0]) + len(to.add[1]) + len(to.del[0]) + len(to.del[1])
	}
	p.Ops = make([]Op, 0, n)
	d := differ{st: st, m: m}
	for _, t := range tables {
		p.Ops = d.appendOps(p.Ops, perTable[t].add[0])
		p.Ops = d.appendOps(p.Ops, perTable[t].add[1])
	}
	p.Ops = append(p.Ops, otherDels...)
	p.Ops = append(p.Ops, ruleAdds...)
	// The fwmark rules are in place before the table marks anything, and
	// go after it stopped.
	p.Ops = append(p.Ops, before...)
	p.Ops = append(p.Ops, after...)
	p.Ops = append(p.Ops, ruleDels...)
	for _, t := range tables {
		p.Ops = d.appendOps(p.Ops, perTable[t].del[1])
		p.Ops = d.appendOps(p.Ops, perTable[t].del[0])
	}
	return p
}

// tableOps are one table's route operations: [0] link routes, [1] gateway
// routes.
type tableOps struct {
	add, del [2][]opRef
}

// opRef is a route operation of one table's diff as an index, 8 bytes
// where an Op is 48: a wanted route to add or replace (an index into
// m.want), or a route to delete (an index of Diff's have). A first pass of
// 1M routes holds every table's until the plan is put in order, which
// held as Ops was 46 MB more.
type opRef struct {
	i    int32
	kind OpKind
}

// appendOps appends the operations refs stand for to ops.
func (d *differ) appendOps(ops []Op, refs []opRef) []Op {
	for _, r := range refs {
		if r.kind != RouteDel {
			ops = append(ops, d.m.op(r.kind, d.m.want[r.i]))
			continue
		}
		if of := d.copyOf(r.i); of >= 0 {
			ops = append(ops, Op{Kind: RouteDel, Main: d.st.Main, Of: of, Into: d.st.Copies[r.i-int32(len(d.st.Routes))].Table})
		} else {
			ops = append(ops, Op{Kind: RouteDel, Route: &d.st.Routes[r.i]})
		}
	}
	return ops
}

// diffRoutes diffs the routes of every table m owns, table by table: the
// tables with work, in order, and their operations.
func diffRoutes(st *State, m *Mirror) ([]uint32, map[uint32]*tableOps) {
	// Grouped by table; the kernel dumps a table's routes together and
	// want holds runs of one table, so the last table's slice is kept at
	// hand rather than hashed for every route.
	// owned table -> indices into st.Routes, then st.Copies after them
	have := map[uint32]*[]int32{}
	nr := len(st.Routes)
	var owned tableCache[bool]
	isOwned := func(t uint32) bool { return m.Owned[t] }
	group(nr+len(st.Copies), func(i int) (uint32, bool) {
		var t uint32
		if i < nr {
			t = st.Routes[i].Table
		} else {
			t = st.Copies[i-nr].Table
		}
		return t, owned.get(t, isOwned)
	}, have)
	// table -> indices into m.want: a table's throws first, as a snapshot
	// holds them (they are no Copies, which come last), so that a table in
	// sync is walked in step.
	want := map[uint32]*[]int32{}
	group(len(m.want), func(i int) (uint32, bool) { return m.want[i].table, m.want[i].src == srcProto }, want)
	group(len(m.want), func(i int) (uint32, bool) { return m.want[i].table, m.want[i].src != srcProto }, want)
	list := func(g map[uint32]*[]int32, t uint32) []int32 {
		if p := g[t]; p != nil {
			return *p
		}
		return nil
	}
	perTable := map[uint32]*tableOps{}
	d := differ{st: st, m: m}
	for t := range m.Owned {
		h, w := list(have, t), list(want, t)
		if len(h) == 0 && len(w) == 0 {
			continue
		}
		to := &tableOps{}
		if len(h) == 0 {
			// A table being filled (a first pass): every wanted route is
			// an add, so the adds are made at their size; grown by
			// appends, 1M of them left 167 MB of garbage.
			n1 := 0
			for _, wi := range w {
				if m.gatewayed(m.want[wi]) {
					n1++
				}
			}
			to.add[0], to.add[1] = make([]opRef, 0, len(w)-n1), make([]opRef, 0, n1)
		}
		perTable[t] = to
		d.table(h, w, func(op opRef) {
			// 0: link route, 1: gateway route (Into does not change it)
			var gw bool
			if op.kind == RouteDel {
				r, _ := d.have(op.i, &d.emitted)
				gw = r.gatewayed()
			} else {
				gw = m.gatewayed(m.want[op.i])
			}
			kind := 0
			if gw {
				kind = 1
			}
			if op.kind == RouteDel {
				to.del[kind] = append(to.del[kind], op)
			} else {
				to.add[kind] = append(to.add[kind], op)
			}
		})
	}
	tables := make([]uint32, 0, len(perTable))
	for t := range perTable {
		tables = append(tables, t)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i] < tables[j] })
	return tables, perTable
}

// diffRules pairs the rules of ours in st with m's: the wanted rules to
// add, and the deletes of ours and legacy rules that are not wanted, those
// with other selectors apart. They go before the adds, though they break
// nothing wanted: the kernel compares a destination, a tos or realms only
// when the rule added has them, and `not` never, so while `from A to
// 10.0.0.0/8 lookup T` is there it refuses `from A lookup T` as existing
// (EEXIST, which counts as done: the pass would end without the rule).
func diffRules(st *State, m *Mirror) (adds, otherDels, dels []Op) {
	wantRule := newRuleIndex(m.Rules)
	matched := make([]bool, len(m.Rules))
	for i := range st.Rules {
		r := &st.Rules[i]
		switch m.ruleClass[i] {
		case ruleForeign:
			continue
		case ruleOurs:
			if j, ok := wantRule.find(r.Key()); ok && !matched[j] {
				matched[j] = true
				continue
			}
		}
		// A rule narrowed by links goes early too: a delete of a `not`
		// rule, which cannot name its inversion, would take it instead
		// while it is there (ip(8) replaying --dry-run).
		if r.Other || r.narrowed() {
			otherDels = append(otherDels, Op{Kind: RuleDel, Rule: r})
		} else {
			dels = append(dels, Op{Kind: RuleDel, Rule: r})
		}
	}
	for i := range m.Rules {
		if !matched[i] {
			adds = append(adds, Op{Kind: RuleAdd, Rule: &m.Rules[i]})
		}
	}
	return adds, otherDels, dels
}

// ruleIndex finds a rule of a list by its key, the last of the key where
// several share it. It maps a 64-bit hash of the key rather than the key:
// a map keyed by RuleKey (72 bytes) held 700 KB at 4096 rules, a page
// fault every 4 KB in a process as short as a pass. A key whose hash
// another key holds goes to spill.
type ruleIndex struct {
	rules  []Rule
	byHash map[uint64]int32
	spill  map[RuleKey]int32
	seed   maphash.Seed
	// hash is hashKey but in tests, which make keys collide.
	hash func(k *RuleKey) uint64
}

func newRuleIndex(rules []Rule) *ruleIndex {
	x := &ruleIndex{rules: rules, byHash: make(map[uint64]int32, len(rules)), seed: maphash.MakeSeed()}
	x.hash = x.hashKey
	x.fill()
	return x
}

func (x *ruleIndex) fill() {
	rules := x.rules
	for i := range rules {
		k := rules[i].Key()
		h := x.hash(&k)
		if j, dup := x.byHash[h]; dup && rules[j].Key() != k {
			if x.spill == nil {
				x.spill = map[RuleKey]int32{}
			}
			x.spill[k] = int32(i)
			continue
		}
		x.byHash[h] = int32(i)
	}
}

// find returns the index of the rule of key k.
func (x *ruleIndex) find(k RuleKey) (int, bool) {
	if j, ok := x.byHash[x.hash(&k)]; ok && x.rules[j].Key() == k {
		return int(j), true
	}
	j, ok := x.spill[k]
	return int(j), ok
}

func (x *ruleIndex) hashKey(k *RuleKey) uint64 {
	var b [72]byte
	copy(b[0:], k.src[:])
	copy(b[16:], k.iif[:])
	copy(b[32:], k.oif[:])
	binary.LittleEndian.PutUint32(b[48:], k.priority)
	binary.LittleEndian.PutUint32(b[52:], k.mark)
	binary.LittleEndian.PutUint32(b[56:], k.mask)
	binary.LittleEndian.PutUint32(b[60:], k.table)
	binary.LittleEndian.PutUint16(b[64:], uint16(k.srcBits))
	b[66], b[67] = k.family, k.action
	if k.other {
		b[68] = 1
	}
	if k.suppress {
		b[69] = 1
	}
	return maphash.Bytes(x.seed, b[:70])
}

// group appends each index i < n to g[table] where of(i) keeps it. It
// counts first, so that each list is made at its size: grown by appends,
// the lists of a no-op pass over 1M routes left 30 MB of garbage. The
// last few tables' counts and lists are kept at hand (tableCache).
func group(n int, of func(int) (uint32, bool), g map[uint32]*[]int32) {
	counts := map[uint32]*int{}
	count := func(t uint32) *int {
		if counts[t] == nil {
			counts[t] = new(int)
		}
		return counts[t]
	}
	var tc tableCache[*int]
	for i := 0; i < n; i++ {
		if t, keep := of(i); keep {
			*tc.get(t, count)++
		}
	}
	for t, c := range counts {
		if p := g[t]; p != nil {
			*p = slices.Grow(*p, *c)
		} else {
			l := make([]int32, 0, *c)
			g[t] = &l
		}
	}
	var lc tableCache[*[]int32]
	list := func(t uint32) *[]int32 { return g[t] }
	for i := 0; i < n; i++ {
		if t, keep := of(i); keep {
			l := lc.get(t, list)
			*l = append(*l, int32(i))
		}
	}
}

// tableCache keeps what a map gave for the last few tables: a host's
// wanted routes alternate between its links' tables route by route (main
// interleaves them), and a map probe each was a tenth of a no-op pass's
// planning at 1M routes.
type tableCache[V any] struct {
	t    [4]uint32
	v    [4]V
	n, a int // slots filled; the slot to fill next
}

// get returns the value of table t, from miss when it is not kept.
func (c *tableCache[V]) get(t uint32, miss func(uint32) V) V {
	for k := 0; k < c.n; k++ {
		if c.t[k] == t {
			return c.v[k]
		}
	}
	v := miss(t)
	c.t[c.a], c.v[c.a] = t, v
	c.a = (c.a + 1) % len(c.t)
	c.n = min(c.n+1, len(c.t))
	return v
}

// differ diffs one table at a time. Routes that exist only as indices (a
// Copy of a main route, a wanted copy) are materialised into its scratch
// routes, reused from route to route rather than allocated for each.
type differ struct {
	st *State
	m  *Mirror
	// haveCopy holds a Copy of cur, materialised (see have).
	haveCopy Route
	// wanted holds a wanted route, materialised; keyHolder the wanted
	// route that already holds its key, when two want one key; src and
	// ahead the main routes the walk compares; emitted an operation's.
	wanted, keyHolder, src, ahead, emitted Route
}

// lookAhead is how far the diff's walk looks for its step again: far
// enough for a few routes added or gone together, near enough that a table
// far out of step costs little before the map takes over.
const lookAhead = 4

// have returns the route of index i of Diff's have (a copy materialised
// into scratch), and the main route it copies (-1 if it is no Copy).
func (d *differ) have(i int32, scratch *Route) (*Route, int32) {
	if nr := int32(len(d.st.Routes)); i >= nr {
		c := d.st.Copies[i-nr]
		return d.st.copyRoute(c, scratch), c.Of
	}
	return &d.st.Routes[i], -1
}

// copyOf returns the main route that index i of Diff's have is a Copy
// of, -1 if it is no Copy.
func (d *differ) copyOf(i int32) int32 {
	if nr := int32(len(d.st.Routes)); i >= nr {
		return d.st.Copies[i-nr].Of
	}
	return -1
}

// table emits the operations that turn the routes cur (indices of Diff's
// have) into want (indices into m.want). The kernel dumps every table in
// the same trie order, and want keeps main's order, so on a host in sync
// the two line up: they are walked side by side. Where they fall out of
// step (a route added, gone or changed: a changed route is no Copy and is
// held apart), the walk looks a few routes ahead on each side to step in
// again, and leaves what it passes over to pairByKey. A Copy of the very
// main route a wanted route copies is that route: nothing is compared.
// The walk stays here rather than in a helper that returns what it left,
// so that those lists can stay on this stack.
func (d *differ) table(cur, want []int32, emit func(opRef)) {
	m := d.m
	var leftCur, leftWant []int32
	i, j := 0, 0
	for i < len(cur) && j < len(want) {
		w := m.want[want[j]]
		if j+1 < len(want) && m.sameSourceKey(w, m.want[want[j+1]]) {
			break // two wanted routes with one key: the map decides
		}
		if w.alt < 0 && d.copyOf(cur[i]) == w.src {
			// A Copy of the very main route w copies: nothing to compare,
			// nor to materialise.
			i, j = i+1, j+1
			continue
		}
		src := m.source(w, &d.src)
		c, _ := d.have(cur[i], &d.haveCopy)
		switch {
		case c.sameKey(src) && c.equalBut(src):
		case c.sameKey(src):
			// Not what is wanted: maybe another program's route of the
			// same key (IPv4 keeps several, `ip route append`), with ours
			// further on, since a table's Copies come after its other
			// routes. The map pairs exact matches first.
			leftCur, leftWant = append(leftCur, cur[i]), append(leftWant, want[j])
		default:
			// Out of step: c further on in want (routes added before it),
			// or src further on in cur (routes gone before it)?
			if k := d.aheadInWant(c, want, j); k >= 0 {
				leftWant = append(leftWant, want[j:k]...)
				j = k
				continue
			}
			if k := d.aheadInCur(src, cur, i); k >= 0 {
				leftCur = append(leftCur, cur[i:k]...)
				i = k
				continue
			}
			leftCur, leftWant = append(leftCur, cur[i]), append(leftWant, want[j])
		}
		i, j = i+1, j+1
	}
	cur, want = append(leftCur, cur[i:]...), append(leftWant, want[j:]...)
	if len(cur) == 0 && len(want) == 0 {
		return
	}
	d.pairByKey(cur, want, emit)
}

// aheadInWant returns the index in want, within lookAhead after j, of
// the first route with c's key; -1 if there is none.
func (d *differ) aheadInWant(c *Route, want []int32, j int) int {
	for k := j + 1; k < len(want) && k <= j+lookAhead; k++ {
		if c.sameKey(d.m.source(d.m.want[want[k]], &d.ahead)) {
			return k
		}
	}
	return -1
}

// aheadInCur returns the index in cur, within lookAhead after i, of the
// first route with src's key; -1 if there is none. It reuses haveCopy.
func (d *differ) aheadInCur(src *Route, cur []int32, i int) int {
	for k := i + 1; k < len(cur) && k <= i+lookAhead; k++ {
		if n, _ := d.have(cur[k], &d.haveCopy); n.sameKey(src) {
			return k
		}
	}
	return -1
}

// pairByKey pairs the routes cur with want by key and emits the deletes,
// replaces and adds that make them equal.
func (d *differ) pairByKey(cur, want []int32, emit func(opRef)) {
	m := d.m
	if len(cur) == 0 && d.keysOnce(want) {
		// Nothing to pair (a table being filled): the index by key, 96
		// MB for 1M routes, would only say so.
		for _, wi := range want {
			emit(opRef{wi, RouteAdd})
		}
		return
	}
	// Made here rather than by the helpers, so that they can stay on this
	// stack.
	byKey := make(map[hashKey]int32, len(want))
	d.indexByKey(want, byKey)
	matched, exact := make([]bool, len(want)), make([]bool, len(cur))
	d.pairExact(cur, want, byKey, matched, exact)
	for x, ci := range cur {
		if exact[x] {
			continue
		}
		c, _ := d.have(ci, &d.haveCopy)
		j, ok := byKey[c.Key().hash()]
		if !ok || matched[j] {
			emit(opRef{ci, RouteDel})
			continue
		}
		matched[j] = true
		if !c.Equal(m.route(m.want[want[j]], &d.wanted)) {
			emit(opRef{want[j], RouteReplace})
		}
	}
	for j, wi := range want {
		if !matched[j] && byKey[m.key(m.want[wi]).hash()] == int32(j) {
			emit(opRef{wi, RouteAdd})
		}
	}
}

// keysOnce reports whether no two routes of want share a key. Routes of
// one key come from main's routes of one key, which the kernel dumps one
// after another (as table walks assume), so only neighbours are compared,
// and every route against the few made from prototypes (throws, ways out),
// which come first.
func (d *differ) keysOnce(want []int32) bool {
	m := d.m
	var protos map[hashKey]bool
	for j, wi := range want {
		k := m.key(m.want[wi]).hash()
		if m.want[wi].src == srcProto {
			if protos == nil {
				protos = map[hashKey]bool{}
			}
			if protos[k] {
				return false
			}
			protos[k] = true
			continue
		}
		if protos[k] || (j+1 < len(want) && m.want[want[j+1]].src != srcProto && k == m.key(m.want[want[j+1]]).hash()) {
			return false
		}
	}
	return true
}

// indexByKey maps the key of each route of want to its index in want.
func (d *differ) indexByKey(want []int32, byKey map[hashKey]int32) {
	m := d.m
	for j, wi := range want {
		k := m.key(m.want[wi]).hash()
		if prev, dup := byKey[k]; dup {
			// Two main routes with one key land in one table (a route via
			// the link and one via an unmanaged link): the link's own wins.
			if !m.ownRoute(m.route(m.want[wi], &d.wanted)) || m.ownRoute(m.route(m.want[want[prev]], &d.keyHolder)) {
				continue
			}
		}
		byKey[k] = int32(j)
	}
}

// pairExact pairs the routes of cur equal to the wanted route of their key
// first: a route of a key held twice (ours and another program's appended
// one) is paired with the one equal to it, and the other is deleted; in
// the order read, ours could be deleted instead. It marks which of want
// (matched) and of cur (exact) are paired.
func (d *differ) pairExact(cur, want []int32, byKey map[hashKey]int32, matched, exact []bool) {
	m := d.m
	for x, ci := range cur {
		c, _ := d.have(ci, &d.haveCopy)
		if j, ok := byKey[c.Key().hash()]; ok && !matched[j] && c.Equal(m.route(m.want[want[j]], &d.wanted)) {
			matched[j], exact[x] = true, true
		}
	}
}

// source is the route w copies: its main-table source (materialised into
// tmp), or its alt. Every field but Table is what w wants.
func (m *Mirror) source(w wantRoute, tmp *Route) *Route {
	if w.alt >= 0 {
		return &m.alts[w.alt]
	}
	return m.st.Main.Get(int(w.src), tmp)
}

// gatewayed is source(w).gatewayed(), read from a main route's rest with
// no copy of it made: a first pass asks it twice of every wanted route.
func (m *Mirror) gatewayed(w wantRoute) bool {
	if w.alt >= 0 {
		return m.alts[w.alt].gatewayed()
	}
	return m.st.Main.rest(int(w.src)).gatewayed()
}

// sameSourceKey compares the keys of the routes v and w copy, but for the
// table, with no copy of a main route made.
func (m *Mirror) sameSourceKey(v, w wantRoute) bool {
	if v.alt < 0 && w.alt < 0 {
		return m.st.Main.sameKey(int(v.src), int(w.src))
	}
	var a, b Route
	return m.source(v, &a).sameKey(m.source(w, &b))
}

// sameKey compares the kernel's key of r and o, but for the table.
func (r *Route) sameKey(o *Route) bool {
	return r.Dst == o.Dst && r.Priority == o.Priority && r.Tos == o.Tos && r.Family == o.Family
}

// op is an operation that writes w: a copy of a main route or of a
// prototype refers to it, and names its table in Into.
func (m *Mirror) op(kind OpKind, w wantRoute) Op {
	switch {
	case w.alt >= 0 && w.src != srcProto:
		return Op{Kind: kind, Route: &m.alts[w.alt]}
	case w.alt >= 0:
		return Op{Kind: kind, Route: &m.alts[w.alt], Into: w.table}
	}
	return Op{Kind: kind, Main: m.st.Main, Of: w.src, Into: w.table}
}

// ownRoute reports whether r goes through the link whose table it is in.
func (m *Mirror) ownRoute(r *Route) bool { return r.Via(int(r.Table - m.tableBase)) }

// Via reports whether r goes through link, alone or as one of its nexthops.
func (r *Route) Via(link int) bool {
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
