package plan

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// --follow-ingress as data. A connection whose first packet arrives on a
// managed link and is addressed to this host gets that link's value in the
// bits of the mask of its conntrack mark; its packets get the value in their
// mark; a rule per link, "fwmark VALUE/MASK lookup table(link)", routes its
// replies by the link's table. The nftables side is one table of symroute's
// own, described here by Ingress and turned into nftables objects (and read
// back) by the kernel adapter.

// Names of symroute's nftables table and of what it holds.
const (
	NftFamily = "inet"
	NftTable  = "symroute"
	// NftSrcValidMark is the set of links whose IPv4 src_valid_mark
	// symroute turned on: only those are turned off when it lets go.
	NftSrcValidMark = "src_valid_mark"
	// NftRetired is the set of values retired whose conntrack entries
	// are being forgotten (Ingress.Retired).
	NftRetired = "retired"
)

// The table is its own record: nftables cannot OR a register into a mark,
// so each link has constant rules, and its Remember rule holds its ifindex
// and value. The next pass reads them back and keeps every live link's
// value, so a value never changes meaning while connections carry it.

// Ingress is symroute's nftables table: the mark bits it uses, the value of
// each steered link, and the links whose src_valid_mark it set.
type Ingress struct {
	Mask uint32
	// Links are ordered by ifindex; values are unique, non-zero and within
	// Mask.
	Links []IngressLink
	// SrcValidMark are ifindexes, ascending.
	SrcValidMark []int
	// Retired are values no rule marks with any more whose conntrack
	// entries may not all be forgotten yet: not handed out while here.
	Retired []uint32
}

// IngressLink is one steered link and its mark value.
type IngressLink struct {
	Index int
	Mark  uint32
}

// Equal compares two tables by content.
func (t *Ingress) Equal(o *Ingress) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.Mask == o.Mask && slices.Equal(t.Links, o.Links) && slices.Equal(t.SrcValidMark, o.SrcValidMark) &&
		slices.Equal(t.Retired, o.Retired)
}

// Insane says why the record cannot be trusted to forget conntrack entries
// by ("" if it can): a mask of fewer than two bits, a link's or a retired
// value 0 or outside the mask, or one value given twice. Forgetting value 0,
// or by bits outside the mask, would delete other programs' entries; such a
// record was not written by symroute (a hand edit, a planted table).
func (t *Ingress) Insane() string {
	if bits.OnesCount32(t.Mask) < 2 {
		return fmt.Sprintf("its mask %s has fewer than two bits", hex32(t.Mask))
	}
	seen := make(map[uint32]bool, len(t.Links)+len(t.Retired))
	check := func(v uint32, what string) string {
		switch {
		case v == 0:
			return what + " has value 0"
		case v&^t.Mask != 0:
			return fmt.Sprintf("%s has value %s, outside the mask %s", what, hex32(v), hex32(t.Mask))
		case seen[v]:
			return fmt.Sprintf("value %s is given twice", hex32(v))
		}
		seen[v] = true
		return ""
	}
	for _, l := range t.Links {
		if why := check(l.Mark, "link "+strconv.Itoa(l.Index)); why != "" {
			return why
		}
	}
	for _, v := range t.Retired {
		if why := check(v, "a retired value"); why != "" {
			return why
		}
	}
	return ""
}

// IngressState is what the kernel holds of symroute's nftables table.
type IngressState struct {
	// Table is the table as its record reads, nil if there is none.
	Table *Ingress
	// Drift says what the table holds that its record does not explain
	// (edited by hand, or by another version of symroute), "" if nothing:
	// a drifted table is written anew.
	Drift string
	// Err is why nftables could not be read (not in the kernel, not
	// permitted): --follow-ingress cannot work, the rest of a pass can.
	Err error
}

// IngressChain names a chain of the table.
type IngressChain uint8

const (
	// ChainPrerouting: type filter, hook prerouting, priority mangle
	// (-150): after conntrack, before DNAT (-100), so a published
	// container port is seen with the host's address.
	ChainPrerouting IngressChain = iota
	// ChainOutput: type route, hook output, priority mangle: a mark set
	// there makes the kernel route the packet again.
	ChainOutput
	// ChainDNATted: type filter, hook prerouting, priority dstnat + 10:
	// after DNAT, so that a connection DNAT'd to an address the host does
	// not hold (a Service VIP to a pod) is seen to be.
	ChainDNATted
)

// IngressChains are the table's chains, in the order it lists them.
var IngressChains = []IngressChain{ChainPrerouting, ChainOutput, ChainDNATted}

func (c IngressChain) String() string {
	switch c {
	case ChainOutput:
		return "output"
	case ChainDNATted:
		return "dnatted"
	}
	return "prerouting"
}

// Header is the chain's type, hook and priority in nft(8)'s syntax.
func (c IngressChain) Header() string {
	switch c {
	case ChainOutput:
		return "type route hook output priority mangle; policy accept;"
	case ChainDNATted:
		return "type filter hook prerouting priority dstnat + 10; policy accept;"
	}
	return "type filter hook prerouting priority mangle; policy accept;"
}

// IngressShape is what one rule does; the kernel adapter compiles each to
// nftables expressions, Render spells each in nft(8)'s syntax.
type IngressShape uint8

const (
	// SkipMarked: "meta mark != 0 return". A packet another program marked
	// (WireGuard's, a CNI's) is never marked again, nor remembered.
	SkipMarked IngressShape = iota
	// Remember: "iif L ct state new fib daddr type local ct mark set ct
	// mark and ~MASK or V": a connection to this host (a VIP on lo and a
	// published port included: this runs before DNAT) arriving on L. What
	// the host only forwards is not addressed to it, and what it opens is
	// not new in prerouting: neither is remembered.
	Remember
	// SkipForgotten: "ct mark and MASK == 0 return": nothing to restore.
	SkipForgotten
	// RestoreIn: "ct direction original iif L ct mark and MASK == V meta
	// mark set V": every packet from the client, for reverse-path checks
	// (src_valid_mark) and for routing a DNATed one.
	RestoreIn
	// RestoreReply: "ct direction reply ct mark and MASK == V meta mark set
	// V": the replies, forwarded ones from a container (prerouting) and
	// local ones (output), which the fwmark rule then routes.
	RestoreReply
	// RememberDNAT: "iif L ct state new ct status dnat ct mark and MASK ==
	// 0 ct mark set ct mark and ~MASK or V meta mark set meta mark and
	// ~MASK or V": a connection arriving on L that the host DNATs to an
	// address it does not hold (kube-proxy's Service VIP to a pod, a port
	// forward), remembered as a local one is, unless it already is; its
	// first packet gets the value too (the reverse-path check of the
	// client sees it), other programs' bits kept (kube-proxy marks it for
	// masquerade). What the host only forwards is not DNAT'd.
	RememberDNAT
)

// IngressRule is one rule of the table.
type IngressRule struct {
	Chain IngressChain
	Shape IngressShape
	Link  int    // Remember and RestoreIn
	Mark  uint32 // the link's value, for every per-link shape
}

// Rules are the table's rules, chain by chain, in order: the cheap checks
// that let most packets through untouched come first.
func (t *Ingress) Rules() []IngressRule {
	var out []IngressRule
	out = append(out, IngressRule{Chain: ChainPrerouting, Shape: SkipMarked})
	for _, l := range t.Links {
		out = append(out, IngressRule{Chain: ChainPrerouting, Shape: Remember, Link: l.Index, Mark: l.Mark})
	}
	out = append(out, IngressRule{Chain: ChainPrerouting, Shape: SkipForgotten})
	for _, l := range t.Links {
		out = append(out,
			IngressRule{Chain: ChainPrerouting, Shape: RestoreIn, Link: l.Index, Mark: l.Mark},
			IngressRule{Chain: ChainPrerouting, Shape: RestoreReply, Mark: l.Mark})
	}
	out = append(out, IngressRule{Chain: ChainOutput, Shape: SkipMarked},
		IngressRule{Chain: ChainOutput, Shape: SkipForgotten})
	for _, l := range t.Links {
		out = append(out, IngressRule{Chain: ChainOutput, Shape: RestoreReply, Mark: l.Mark})
	}
	for _, l := range t.Links {
		out = append(out, IngressRule{Chain: ChainDNATted, Shape: RememberDNAT, Link: l.Index, Mark: l.Mark})
	}
	return out
}

// Nft spells the rule as nft(8) does, with links by ifindex (a name may
// hold characters nft would need quoted).
func (r IngressRule) Nft(mask uint32) string {
	switch r.Shape {
	case SkipMarked:
		return "meta mark != 0x00000000 return"
	case Remember:
		return fmt.Sprintf("iif %d ct state new fib daddr type local ct mark set ct mark and %s or %s", r.Link, hex32(^mask), hex32(r.Mark))
	case SkipForgotten:
		return fmt.Sprintf("ct mark and %s == 0x00000000 return", hex32(mask))
	case RestoreIn:
		return fmt.Sprintf("ct direction original iif %d ct mark and %s == %s meta mark set %s", r.Link, hex32(mask), hex32(r.Mark), hex32(r.Mark))
	case RestoreReply:
		return fmt.Sprintf("ct direction reply ct mark and %s == %s meta mark set %s", hex32(mask), hex32(r.Mark), hex32(r.Mark))
	case RememberDNAT:
		return fmt.Sprintf("iif %d ct state new ct status dnat ct mark and %s == 0x00000000 ct mark set ct mark and %s or %s "+
			"meta mark set meta mark and %s or %s", r.Link, hex32(mask), hex32(^mask), hex32(r.Mark), hex32(^mask), hex32(r.Mark))
	}
	return "# unknown rule shape"
}

// writeNftSet writes a set of type typ holding elems, in nft(8)'s syntax.
func writeNftSet(b *strings.Builder, name, typ string, elems []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", name, typ)
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
}

// Nft is the table in nft(8)'s syntax, as `nft -f` takes it; name gives a
// link's name for comments ("" if unknown).
func (t *Ingress) Nft(name func(int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", NftFamily, NftTable)
	links := make([]string, len(t.SrcValidMark))
	for i, l := range t.SrcValidMark {
		links[i] = strconv.Itoa(l)
	}
	writeNftSet(&b, NftSrcValidMark, "iface_index", links)
	values := make([]string, len(t.Retired))
	for i, v := range t.Retired {
		values[i] = hex32(v)
	}
	writeNftSet(&b, NftRetired, "mark", values)
	// Every chain, an empty one too: the table is written whole.
	rules := t.Rules()
	for _, c := range IngressChains {
		fmt.Fprintf(&b, "\tchain %s {\n\t\t%s\n", c, c.Header())
		for _, r := range rules {
			if r.Chain != c {
				continue
			}
			b.WriteString("\t\t")
			b.WriteString(r.Nft(t.Mask))
			if r.Link != 0 && name != nil {
				if n := name(r.Link); n != "" {
					b.WriteString(" # ")
					b.WriteString(Printable(n))
				}
			}
			b.WriteByte('\n')
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// MarkValue is the n-th mark value under mask: n's bits laid into the
// mask's set bits from the lowest up. 0 when n does not fit.
func MarkValue(mask uint32, n uint32) uint32 {
	var v uint32
	for m := mask; m != 0 && n != 0; m &= m - 1 {
		if n&1 != 0 {
			v |= m & -m
		}
		n >>= 1
	}
	if n != 0 {
		return 0
	}
	return v
}

// MarkValues is how many values mask holds, 0 (no link) excluded.
func MarkValues(mask uint32) uint32 {
	if bits.OnesCount32(mask) >= 32 {
		return 1<<32 - 1
	}
	return 1<<bits.OnesCount32(mask) - 1
}

// IngressOp is the operand of the table, conntrack and src_valid_mark
// operations.
type IngressOp struct {
	// Table is what IngressWrite writes.
	Table *Ingress
	// Link and Value for SrcValidMarkSet: the link and 0 or 1.
	Link  int
	Value uint8
	// Mark and Mask for ConntrackForget: entries whose conntrack mark
	// and Mask is Mark.
	Mark, Mask uint32
}

// ingressPlan is what Desire decided for --follow-ingress.
type ingressPlan struct {
	// mid is the table written first when this pass retires values or
	// resets src_valid_mark: it stops marking with those values and
	// still records them (and the links to reset), so that what follows
	// it can fail without anything being forgotten. nil when not needed.
	mid *Ingress
	// want is the table the pass ends with, nil for none.
	want *Ingress
	// forgetNow are the values the kernel's table holds as retired: no
	// rule marks with them, so their entries are forgotten first.
	// forgetAfter are the values this pass retires, forgotten once mid
	// stopped marking with them (before it, the rule still there would
	// mark the next packet's new entry again).
	forgetNow, forgetAfter []uint32
	forgetBy               uint32 // the mask they are forgotten by
	svmSet, svmReset       []int
	canChange              bool // nftables could be read: its table may be written
}

// desireIngress decides the table, the fwmark rules (appended to m.Rules)
// and the src_valid_mark changes. routed holds the links with a table.
//
// A value retired, or a src_valid_mark to reset, takes two writes in one
// pass: mid stops the marking but keeps the record, the conntrack entries
// are forgotten and src_valid_mark reset (only then: a strict reverse-path
// check would drop marked packets), and want drops the record. The kernel
// adapter does not write after a forget or reset that failed, so a value
// whose entries may live on stays recorded as retired, and is not handed
// out, until a later pass forgets it.
func (m *Mirror) desireIngress(st *State, o Options, byIndex map[int]*Link, routed map[famLink]bool) {
	ip := &m.ingress
	cur := st.Ingress.Table
	ip.canChange = st.Ingress.Err == nil
	on := o.FollowIngress && !o.Flush
	switch {
	case on && st.Ingress.Err != nil:
		m.IngressErr = fmt.Sprintf("follow-ingress: nftables cannot be used: %v", st.Ingress.Err)
	case on && !m.RuleProtocols:
		m.IngressErr = "follow-ingress: this kernel keeps no rule protocol (it needs 4.17 or newer), so symroute could not tell its fwmark rules from others'; not enabled"
	}
	on = on && m.IngressErr == ""
	want := &Ingress{Mask: o.IngressMask}

	// Links that can be steered: managed, with a table.
	var eligible []int
	isEligible := map[int]bool{}
	for fl := range routed {
		if !isEligible[fl.link] {
			isEligible[fl.link] = true
			eligible = append(eligible, fl.link)
		}
	}
	sort.Ints(eligible)

	value, used := ip.keepValues(cur, o, on, isEligible)
	if on {
		m.newValues(o, eligible, value, used, byIndex)
		for _, idx := range eligible {
			if v := value[idx]; v != 0 {
				want.Links = append(want.Links, IngressLink{Index: idx, Mark: v})
				for _, fam := range []uint8{FamilyV4, FamilyV6} {
					if routed[famLink{fam, idx}] {
						m.Rules = append(m.Rules, ingressRules(o, fam, v, idx, LinkName(byIndex, idx))...)
					}
				}
			}
		}
	}
	m.IngressMarks = value
	want.SrcValidMark = ip.srcValidMark(cur, eligible, value, byIndex)

	// The pass ends with a table while the option is on; mid is the
	// record of what it undoes on the way.
	if on {
		ip.want = want
	}
	if len(ip.forgetAfter) > 0 || len(ip.svmReset) > 0 {
		mid := *want
		mid.Retired = append([]uint32(nil), ip.forgetAfter...)
		sort.Slice(mid.Retired, func(i, j int) bool { return mid.Retired[i] < mid.Retired[j] })
		mid.SrcValidMark = append(append([]int(nil), want.SrcValidMark...), ip.svmReset...)
		sort.Ints(mid.SrcValidMark)
		if !on {
			mid.Links = nil
			mid.Mask = cur.Mask
		}
		ip.mid = &mid
	}
}

// ingressRules are the rules of a steered link's value v in one family:
// what it marks is routed by the link's table; but a packet that came in
// on the link and is forwarded (DNAT'd onward, to a container or to a host
// behind another link) first takes main's route where main has one other
// than a default, so that the link's table, which routes everything else
// by the link's default, never sends it back out of the link. Replies, and
// reverse-path checks (whose lookups come from lo), keep the link's table.
func ingressRules(o Options, fam uint8, v uint32, link int, name string) []Rule {
	return []Rule{
		{Family: fam, Priority: o.IngressPriority() - 1, Iif: name, Mark: v, Mask: o.IngressMask,
			Table: TableMain, SuppressDefault: true, Action: RuleActionLookup, Protocol: Protocol},
		{Family: fam, Priority: o.IngressPriority(), Mark: v, Mask: o.IngressMask,
			Table: o.TableOf(link), Action: RuleActionLookup, Protocol: Protocol},
	}
}

// keepValues keeps the value of every link of the record that keeps being
// steered, and retires every other value of it (forgetAfter), and those it
// holds as retired (forgetNow). A value the record gives twice (a hand
// edit) stays with the first link only, and is not retired: its connections
// cannot be told apart. A record that is not sane (Insane), or of another
// mask than the option's, retires nothing: its values are kept where they
// can be, and nothing is forgotten on its strength (the bits of another
// mask may be another program's: the reason to move ours). used are the
// values not to hand out.
func (ip *ingressPlan) keepValues(cur *Ingress, o Options, on bool, eligible map[int]bool) (value map[int]uint32, used map[uint32]bool) {
	value, used = map[int]uint32{}, map[uint32]bool{}
	if cur == nil {
		return value, used
	}
	sane := cur.Insane() == "" && cur.Mask == o.IngressMask
	kept := map[uint32]bool{}
	ip.forgetBy = cur.Mask
	for _, l := range cur.Links {
		used[l.Mark] = true
		if on && cur.Mask == o.IngressMask && eligible[l.Index] &&
			l.Mark != 0 && l.Mark&^o.IngressMask == 0 && value[l.Index] == 0 && !kept[l.Mark] {
			value[l.Index] = l.Mark
			kept[l.Mark] = true
		}
	}
	if !sane {
		for _, v := range cur.Retired {
			used[v] = true
		}
		return value, used
	}
	retiring := map[uint32]bool{}
	for _, l := range cur.Links {
		if !kept[l.Mark] && !retiring[l.Mark] {
			retiring[l.Mark] = true
			ip.forgetAfter = append(ip.forgetAfter, l.Mark)
		}
	}
	for _, v := range cur.Retired {
		used[v] = true
		if !kept[v] && !retiring[v] {
			ip.forgetNow = append(ip.forgetNow, v)
		}
	}
	return value, used
}

// newValues gives each eligible link without a value the lowest one not
// used, and says so of links past the last value.
func (m *Mirror) newValues(o Options, eligible []int, value map[int]uint32, used map[uint32]bool, byIndex map[int]*Link) {
	n := uint32(1)
	for _, idx := range eligible {
		if value[idx] != 0 {
			continue
		}
		for n <= MarkValues(o.IngressMask) && used[MarkValue(o.IngressMask, n)] {
			n++
		}
		if n > MarkValues(o.IngressMask) {
			link := Printable(LinkName(byIndex, idx))
			m.Warnings = append(m.Warnings, Warning{ID: WarnNoMarkValue, Link: link,
				Text: fmt.Sprintf("follow-ingress: no mark value left under mask %s for link %s: its replies are not steered", hex32(o.IngressMask), link),
				Fix:  "use a wider --ingress-mark-mask"})
			continue
		}
		value[idx] = MarkValue(o.IngressMask, n)
		used[value[idx]] = true
	}
}

// srcValidMark decides src_valid_mark: on for every steered link (with
// strict rp_filter the reverse-path check must see the mark; with 0 or 2 it
// is harmless), recorded before it is set; off again only where symroute
// set it. It returns the final record.
func (ip *ingressPlan) srcValidMark(cur *Ingress, eligible []int, value map[int]uint32, byIndex map[int]*Link) []int {
	recorded := map[int]bool{}
	if cur != nil {
		for _, idx := range cur.SrcValidMark {
			recorded[idx] = true
		}
	}
	var record []int
	for _, idx := range eligible {
		if value[idx] == 0 {
			continue
		}
		if lk := byIndex[idx]; recorded[idx] || !lk.SrcValidMark {
			record = append(record, idx)
			if !lk.SrcValidMark {
				ip.svmSet = append(ip.svmSet, idx)
			}
		}
	}
	if cur != nil {
		for _, idx := range cur.SrcValidMark {
			if lk := byIndex[idx]; value[idx] == 0 && lk != nil && lk.SrcValidMark {
				ip.svmReset = append(ip.svmReset, idx)
			}
		}
	}
	return record
}

// diffIngress returns the operations of the table, the conntrack entries
// and src_valid_mark, in two groups: before the table changes (the forgets
// of values it already holds as retired) and from it on (mid, the forgets
// of values it retires, src_valid_mark resets, the final table and
// src_valid_mark sets). Each group is empty when nothing changes.
func (m *Mirror) diffIngress(st *State) (before, after []Op) {
	ip := &m.ingress
	if !ip.canChange {
		return nil, nil
	}
	forget := func(vs []uint32) (ops []Op) {
		for _, v := range vs {
			ops = append(ops, Op{Kind: ConntrackForget, Ingress: &IngressOp{Mark: v, Mask: ip.forgetBy | v}})
		}
		return ops
	}
	before = forget(ip.forgetNow)
	cur := st.Ingress.Table
	if st.Ingress.Drift != "" || (cur != nil && cur.Insane() != "") {
		cur = nil // whatever it holds, it is written anew
	}
	last := cur // the table as it will be when want is considered
	if ip.mid != nil {
		if !ip.mid.Equal(cur) {
			after = append(after, Op{Kind: IngressWrite, Ingress: &IngressOp{Table: ip.mid}})
		}
		last = ip.mid
	}
	after = append(after, forget(ip.forgetAfter)...)
	for _, idx := range ip.svmReset {
		after = append(after, Op{Kind: SrcValidMarkSet, Ingress: &IngressOp{Link: idx, Value: 0}})
	}
	switch {
	case ip.want != nil && !ip.want.Equal(last):
		after = append(after, Op{Kind: IngressWrite, Ingress: &IngressOp{Table: ip.want}})
	case ip.want == nil && (last != nil || st.Ingress.Table != nil):
		after = append(after, Op{Kind: IngressDelete, Ingress: &IngressOp{}})
	}
	for _, idx := range ip.svmSet {
		after = append(after, Op{Kind: SrcValidMarkSet, Ingress: &IngressOp{Link: idx, Value: 1}})
	}
	return before, after
}
