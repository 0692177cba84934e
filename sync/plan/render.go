package plan

import (
	"fmt"
	"strconv"
	"strings"
)

var routeTypeNames = map[uint8]string{
	RouteLocal: "local", RouteBroadcast: "broadcast", RouteAnycast: "anycast", RouteMulticast: "multicast",
	RouteBlackhole: "blackhole", RouteUnreachable: "unreachable",
	RouteProhibit: "prohibit", RouteThrow: "throw", RouteNAT: "nat",
}

// ruleActionNop is FR_ACT_NOP: a rule that selects and does nothing.
const ruleActionNop = 3

// ruleActionWords are ip(8)'s words for the rule actions other than
// lookup and goto.
var ruleActionWords = map[uint8]string{
	ruleActionNop: "nop", ruleActionBlackhole: "blackhole", ruleActionUnreachable: "unreachable", ruleActionProhibit: "prohibit",
}

// Deviceless reports route types that have no nexthop (IPv6 shows them on lo).
func Deviceless(t uint8) bool {
	return t == RouteBlackhole || t == RouteUnreachable || t == RouteProhibit || t == RouteThrow
}

// Renderer prints operations as ip(8) commands: numeric tables, protocols
// and scopes, -4/-6, link names quoted for sh, so the output pastes
// anywhere and `sh` replays it.
type Renderer struct {
	// LinkName returns the name of an ifindex; "" if unknown.
	LinkName func(int) string
}

// NewRenderer returns a Renderer naming links from st.
func NewRenderer(st *State) Renderer {
	names := make(map[int]string, len(st.Links))
	for _, l := range st.Links {
		names[l.Index] = l.Name
	}
	return Renderer{LinkName: func(i int) string { return names[i] }}
}

// Render returns op as one ip command, or, for --follow-ingress's
// operations, the nft, conntrack or sysctl command that does the same (a
// table write is an `nft -f` here-document over several lines).
func (rn Renderer) Render(op Op) string {
	var b strings.Builder
	b.Grow(96)
	switch {
	case op.Kind.IsRoute():
		rn.route(&b, op)
	case op.Kind.IsRule():
		rn.rule(&b, op)
	default:
		rn.ingress(&b, op)
	}
	return b.String()
}

// Describe returns op on one line, for logs: Render, but a table write is
// summed up by its links and values.
func (rn Renderer) Describe(op Op) string {
	if op.Kind != IngressWrite {
		return rn.Render(op)
	}
	var b strings.Builder
	b.WriteString("nft: write table " + NftFamily + " " + NftTable + ", mask " + hex32(op.Ingress.Table.Mask) + ", links")
	for _, l := range op.Ingress.Table.Links {
		b.WriteString(" " + Printable(rn.name(l.Index)) + "=" + hex32(l.Mark))
	}
	if len(op.Ingress.Table.Links) == 0 {
		b.WriteString(" none")
	}
	if len(op.Ingress.Table.Retired) > 0 {
		b.WriteString(", retired")
		for _, v := range op.Ingress.Table.Retired {
			b.WriteString(" " + hex32(v))
		}
	}
	return b.String()
}

func (rn Renderer) name(idx int) string {
	if rn.LinkName != nil {
		if n := rn.LinkName(idx); n != "" {
			return n
		}
	}
	return "if" + strconv.Itoa(idx)
}

// heredoc ends the nft script of a table write; no line of the script can
// be it.
const heredoc = "SYMROUTE_NFT"

func (rn Renderer) ingress(b *strings.Builder, op Op) {
	x := op.Ingress
	switch op.Kind {
	case IngressWrite:
		// "add" then "delete" makes the delete succeed whether or not
		// the table is there; one nft -f is one transaction.
		b.WriteString("nft -f - <<'" + heredoc + "'\n")
		b.WriteString("add table " + NftFamily + " " + NftTable + "\n")
		b.WriteString("delete table " + NftFamily + " " + NftTable + "\n")
		b.WriteString(x.Table.Nft(rn.LinkName))
		b.WriteString(heredoc)
	case IngressDelete:
		b.WriteString("nft delete table " + NftFamily + " " + NftTable)
	case ConntrackForget:
		// conntrack exits 1 when nothing matched, which is no failure.
		b.WriteString("conntrack -D -m " + hex32(x.Mark) + "/" + hex32(x.Mask) + " || :")
	case SrcValidMarkSet:
		// The slash form keeps a dot in a link name ("em1.100") a dot.
		b.WriteString("sysctl -qw " + ShellQuote("net/ipv4/conf/"+rn.name(x.Link)+"/src_valid_mark="+strconv.Itoa(int(x.Value))))
	default:
		b.WriteString("# unknown operation " + op.Kind.String())
	}
}

func famFlag(f uint8) string {
	if f == FamilyV6 {
		return "ip -6 "
	}
	return "ip -4 "
}

func (rn Renderer) route(b *strings.Builder, op Op) {
	r := op.RouteIn(&Route{})
	b.WriteString(famFlag(r.Family))
	switch op.Kind {
	case RouteAdd:
		b.WriteString("route add ")
	case RouteReplace:
		b.WriteString("route replace ")
	default:
		b.WriteString("route del ")
	}
	if n, ok := routeTypeNames[r.Type]; ok {
		b.WriteString(n)
		b.WriteByte(' ')
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Tos != 0 {
		b.WriteString(" tos 0x")
		b.WriteString(strconv.FormatUint(uint64(r.Tos), 16))
	}
	del := op.Kind == RouteDel
	if !del && r.Nexthops == nil && !Deviceless(r.Type) {
		rn.via(b, r.Family, r.Gw)
		rn.dev(b, r.Link)
	}
	if del {
		rn.hopIdentity(b, r)
	}
	b.WriteString(" table ")
	b.WriteString(strconv.FormatUint(uint64(r.Table), 10))
	b.WriteString(" proto ")
	b.WriteString(strconv.Itoa(int(r.Protocol)))
	if !del || r.Family == FamilyV4 {
		b.WriteString(" scope ")
		b.WriteString(strconv.Itoa(int(r.Scope)))
	}
	b.WriteString(" metric ")
	b.WriteString(strconv.FormatUint(uint64(r.Priority), 10))
	if del && r.Family == FamilyV6 {
		// IPv6 compares neither the source nor the metrics on a delete.
		rn.nexthops(b, r, del)
		return
	}
	if r.Src.IsValid() {
		b.WriteString(" src ")
		b.WriteString(r.Src.String())
	}
	if r.Flags&FlagOnlink != 0 && !del {
		b.WriteString(" onlink")
	}
	if r.Metrics != "" {
		b.WriteByte(' ')
		b.WriteString(metricsOf(r.Metrics, del))
	}
	rn.nexthops(b, r, del)
}

// hopIdentity writes the nexthop a delete names ahead of its table, as
// the kernel adapter sends it (see Route.DeleteNamesNexthops).
func (rn Renderer) hopIdentity(b *strings.Builder, r *Route) {
	switch {
	case !r.DeleteNamesNexthops() || r.Nexthops != nil:
	case Deviceless(r.Type):
		if r.Family == FamilyV6 {
			rn.dev(b, LoopbackIndex)
		}
	default:
		rn.via(b, r.Family, r.Gw)
		rn.dev(b, r.Link)
	}
}

// nexthops writes a multipath route's nexthops (a delete's only where it
// names them).
func (rn Renderer) nexthops(b *strings.Builder, r *Route, del bool) {
	if del && !r.DeleteNamesNexthops() {
		return
	}
	for _, nh := range r.Nexthops {
		b.WriteString(" nexthop")
		rn.via(b, r.Family, nh.Gw)
		rn.dev(b, nh.Link)
		if nh.Weight > 1 {
			b.WriteString(" weight ")
			b.WriteString(strconv.Itoa(nh.Weight))
		}
		if nh.Flags&FlagOnlink != 0 {
			b.WriteString(" onlink")
		}
	}
}

// metricsOf is a route's metric text as a write names it, and as a delete
// does: without locks, which a delete leaves out (see the kernel adapter).
func metricsOf(text string, del bool) string {
	if !del {
		return text
	}
	ms, err := DecodeMetrics(text)
	if err != nil {
		return text
	}
	for i := range ms {
		ms[i].Lock = false
	}
	return EncodeMetrics(ms)
}

func (rn Renderer) via(b *strings.Builder, fam uint8, gw interface {
	IsValid() bool
	Is6() bool
	String() string
}) {
	if !gw.IsValid() {
		return
	}
	b.WriteString(" via ")
	if fam == FamilyV4 && gw.Is6() {
		b.WriteString("inet6 ")
	}
	b.WriteString(gw.String())
}

func (rn Renderer) dev(b *strings.Builder, idx int) {
	if idx == 0 {
		return
	}
	name := ""
	if rn.LinkName != nil {
		name = rn.LinkName(idx)
	}
	if name == "" {
		// A vanished link: a delete still names the route by its key.
		return
	}
	b.WriteString(" dev ")
	b.WriteString(ShellQuote(name))
}

func (rn Renderer) rule(b *strings.Builder, op Op) {
	r := op.Rule
	b.WriteString(famFlag(r.Family))
	if op.Kind == RuleAdd {
		b.WriteString("rule add")
	} else {
		b.WriteString("rule del")
	}
	b.WriteString(" priority ")
	b.WriteString(strconv.FormatUint(uint64(r.Priority), 10))
	if r.Src.IsValid() {
		b.WriteString(" from ")
		b.WriteString(r.Src.String())
	}
	if r.HasMark() {
		b.WriteString(" fwmark 0x")
		b.WriteString(strconv.FormatUint(uint64(r.Mark), 16))
		b.WriteString("/0x")
		b.WriteString(strconv.FormatUint(uint64(r.Mask), 16))
	}
	// A rule of other selectors spells these in them.
	if r.Iif != "" && !r.Other {
		b.WriteString(" iif " + ShellQuote(r.Iif))
	}
	if r.Oif != "" && !r.Other {
		b.WriteString(" oif " + ShellQuote(r.Oif))
	}
	if r.Selectors != "" {
		b.WriteByte(' ')
		b.WriteString(r.Selectors)
	}
	// ip(8) sends no action with a delete unless told one, and the kernel
	// then deletes the first rule that matches the rest, whatever its
	// action (a blackhole of ours beside it, say): a delete names it, as
	// the kernel adapter sends it, "unicast" being ip(8)'s word for a
	// lookup. (goto is in Selectors, with its target.)
	w := ruleActionWords[r.Action]
	if w == "" && op.Kind == RuleDel && (r.Action == RuleActionLookup || r.Action == 0) {
		w = "unicast"
	}
	if w != "" {
		b.WriteByte(' ')
		b.WriteString(w)
	}
	// Table 0 (a goto, an l3mdev rule) would match any table: left out,
	// as ip(8) shows it.
	if r.Table != 0 {
		b.WriteString(" table ")
		b.WriteString(strconv.FormatUint(uint64(r.Table), 10))
	}
	if r.SuppressDefault && !r.Other {
		b.WriteString(" suppress_prefixlength 0")
	}
	if r.Protocol != 0 {
		b.WriteString(" protocol ")
		b.WriteString(strconv.Itoa(int(r.Protocol)))
	}
}

// ShellQuote quotes s for sh when it holds anything but plain name
// characters: link names may hold $, ;, ` and quotes, and even control
// characters (escape sequences a terminal would act on), which are written
// as printf octal escapes so that neither the terminal showing the plan
// nor sh replaying it sees them raw.
func ShellQuote(s string) string {
	plain, printable := s != "", true
	for i := 0; i < len(s); i++ {
		c := s[i]
		plain = plain && (c == '.' || c == '_' || c == '-' || c == '@' || c == '+' || c == ':' ||
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		printable = printable && c >= 0x20 && c < 0x7f
	}
	switch {
	case plain:
		return s
	case printable:
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString(`"$(printf '`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			b.WriteString("%%")
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\'':
			b.WriteString(`'\''`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\%03o`, c)
		}
	}
	b.WriteString(`')"`)
	return b.String()
}
