package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// sizeofRuleHdr is struct fib_rule_hdr: family, dst_len, src_len, tos,
// table, res1, res2, action, then u32 flags.
const sizeofRuleHdr = 12

// FRA_SPORT_MASK and FRA_DPORT_MASK (kernel 6.16), not in x/sys/unix
// v0.30. The kernel lists a single port's mask as all ones.
const (
	fraSportMask = 28
	fraDportMask = 29
)

// parseRule decodes one RTM_NEWRULE body. Anything that narrows the rule
// beyond a source prefix and a firewall mark sets Other: a whitelist, so selectors added by
// kernels newer than this code (dscp, flowlabel...) count too. Such a rule
// keeps its message (Raw), which deletes it, and ip(8)'s spelling of what
// else it selects (Selectors). The library's RuleList is not used because
// it drops the action and l3mdev.
func parseRule(b []byte) (plan.Rule, bool) {
	if len(b) < sizeofRuleHdr || (b[0] != plan.FamilyV4 && b[0] != plan.FamilyV6) {
		return plan.Rule{}, false
	}
	r := plan.Rule{
		Family: b[0], Table: uint32(b[4]), Action: b[7],
		Other: b[1] != 0 || b[3] != 0 || ne.Uint32(b[8:])&unix.FIB_RULE_INVERT != 0,
	}
	for a := b[sizeofRuleHdr:]; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		a = rest
		switch typ {
		case unix.FRA_TABLE:
			r.Table = u32(val)
		case unix.FRA_PRIORITY:
			r.Priority = u32(val)
		case unix.FRA_SRC:
			if ip := addrOf(val); ip.IsValid() {
				r.Src = netip.PrefixFrom(ip, int(b[2]))
			}
		case unix.FRA_FWMARK:
			r.Mark = u32(val)
		case unix.FRA_FWMASK:
			r.Mask = u32(val)
		case unix.FRA_PROTOCOL:
			if len(val) > 0 {
				r.Protocol = val[0]
			}
		case unix.FRA_IIFNAME:
			r.Iif = cString(val)
		case unix.FRA_OIFNAME:
			r.Oif = cString(val)
		case unix.FRA_SUPPRESS_PREFIXLEN:
			// Always dumped; all ones means unset.
			switch u32(val) {
			case 0:
				r.SuppressDefault = true
			case 0xffffffff:
			default:
				r.Other = true
			}
		case unix.FRA_SUPPRESS_IFGROUP:
			if u32(val) != 0xffffffff {
				r.Other = true
			}
		case unix.FRA_PAD:
		default:
			// iif, oif, goto, realms, tun_id, l3mdev, uid
			// range, ports, ip_proto, and whatever comes next: the kernel
			// dumps these only when set.
			r.Other = true
		}
	}
	if r.Other {
		r.Raw, r.Selectors = string(b), ruleSelectors(b)
	}
	return r, true
}

// ruleSelectors spells, as ip(8) reads them, what a rule selects beyond
// its source, mark, table, priority and protocol, and a goto's target. An
// attribute ip(8) has no word for is spelled "unknown-attribute-N", which
// it refuses: a delete without it would take the first rule that has the
// rest, a wanted one maybe.
func ruleSelectors(b []byte) string {
	var w []string
	if ne.Uint32(b[8:])&unix.FIB_RULE_INVERT != 0 {
		w = append(w, "not")
	}
	if b[3] != 0 {
		w = append(w, fmt.Sprintf("tos %#x", b[3]))
	}
	for a := b[sizeofRuleHdr:]; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		a = rest
		if s, ok := ruleSelector(typ, val, b[1]); ok && s != "" {
			w = append(w, s)
		} else if !ok {
			w = append(w, fmt.Sprintf("unknown-attribute-%d", typ))
		}
	}
	return strings.Join(w, " ")
}

// ruleSelector spells one attribute of a rule; "" for those spelled
// elsewhere (source, mark, table, priority, protocol) or unset, and false
// for one ip(8) has no word for.
func ruleSelector(typ uint16, val []byte, dstLen uint8) (string, bool) {
	u16 := func(i int) uint16 { return ne.Uint16(val[i:]) }
	switch {
	case typ == unix.FRA_DST:
		if ip := addrOf(val); ip.IsValid() {
			return "to " + netip.PrefixFrom(ip, int(dstLen)).String(), true
		}
	case typ == unix.FRA_IIFNAME:
		return "iif " + plan.ShellQuote(cString(val)), true
	case typ == unix.FRA_OIFNAME:
		return "oif " + plan.ShellQuote(cString(val)), true
	case typ == unix.FRA_GOTO && len(val) >= 4:
		return fmt.Sprintf("goto %d", u32(val)), true
	case typ == unix.FRA_FLOW && len(val) >= 4:
		// ip(8)'s realms FROM/TO: FROM in the high half.
		return fmt.Sprintf("realms %d/%d", u32(val)>>16, u32(val)&0xffff), true
	case typ == unix.FRA_TUN_ID && len(val) >= 8:
		return fmt.Sprintf("tun_id %d", binary.BigEndian.Uint64(val)), true
	case typ == unix.FRA_SUPPRESS_PREFIXLEN && u32(val) != 0xffffffff:
		return fmt.Sprintf("suppress_prefixlength %d", u32(val)), true
	case typ == unix.FRA_SUPPRESS_IFGROUP && u32(val) != 0xffffffff:
		return fmt.Sprintf("suppress_ifgroup %d", u32(val)), true
	case typ == unix.FRA_L3MDEV && len(val) > 0 && val[0] != 0:
		return "l3mdev", true
	case typ == unix.FRA_UID_RANGE && len(val) >= 8:
		return fmt.Sprintf("uidrange %d-%d", u32(val), u32(val[4:])), true
	case typ == unix.FRA_IP_PROTO && len(val) > 0:
		return fmt.Sprintf("ipproto %d", val[0]), true
	case (typ == unix.FRA_SPORT_RANGE || typ == unix.FRA_DPORT_RANGE) && len(val) >= 4:
		word := "sport "
		if typ == unix.FRA_DPORT_RANGE {
			word = "dport "
		}
		if u16(0) == u16(2) {
			return fmt.Sprintf("%s%d", word, u16(0)), true
		}
		return fmt.Sprintf("%s%d-%d", word, u16(0), u16(2)), true
	case (typ == fraSportMask || typ == fraDportMask) && len(val) >= 2 && u16(0) == 0xffff:
		return "", true // what a single port means
	case typ == unix.FRA_SRC, typ == unix.FRA_FWMARK, typ == unix.FRA_FWMASK, typ == unix.FRA_TABLE,
		typ == unix.FRA_PRIORITY, typ == unix.FRA_PROTOCOL, typ == unix.FRA_PAD,
		typ == unix.FRA_SUPPRESS_PREFIXLEN, typ == unix.FRA_SUPPRESS_IFGROUP, typ == unix.FRA_L3MDEV:
		return "", true
	}
	return "", false
}

// appendRuleMsg appends the request for a rule operation.
func appendRuleMsg(b []byte, kind plan.OpKind, r *plan.Rule, seq uint32) ([]byte, error) {
	if r.Other {
		// A delete names a rule by the fields it carries and matches any
		// value of the others: it must name every selector, those this
		// code cannot read too. The kernel listed them all: the rule goes
		// back as it came, as `ip rule flush` sends it.
		if kind != plan.RuleDel || len(r.Raw) < sizeofRuleHdr {
			return b, fmt.Errorf("rule has selectors symroute cannot write")
		}
		start := len(b)
		b = appendMsgHdr(b, unix.RTM_DELRULE, unix.NLM_F_REQUEST, seq)
		b = append(b, r.Raw...)
		return finishMsg(b, start), nil
	}
	srcLen := 0
	if r.Src.IsValid() {
		srcLen = r.Src.Bits()
		if r.Src.Addr().Is4() != (r.Family == plan.FamilyV4) {
			return b, fmt.Errorf("source %s is not of the rule's family", r.Src)
		}
	}
	action := r.Action
	if action == 0 {
		action = unix.FR_ACT_TO_TBL
	}
	start := len(b)
	typ, flags := uint16(unix.RTM_NEWRULE), uint16(unix.NLM_F_REQUEST)
	if kind == plan.RuleAdd {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	} else {
		typ = unix.RTM_DELRULE
	}
	b = appendMsgHdr(b, typ, flags, seq)
	b = append(b, r.Family, 0, uint8(srcLen), 0, table8(r.Table), 0, 0, action)
	b = ne.AppendUint32(b, 0)
	// Always sent: without it the kernel picks a priority on add and
	// matches any on delete.
	b = appendU32Attr(b, unix.FRA_PRIORITY, r.Priority)
	b = appendU32Attr(b, unix.FRA_TABLE, r.Table)
	if srcLen > 0 {
		b = appendAddrAttr(b, unix.FRA_SRC, r.Src.Addr())
	}
	// A delete without a mark matches rules whatever their mark: ours
	// always name it, so they can only hit the rule meant.
	if r.HasMark() {
		b = appendU32Attr(b, unix.FRA_FWMARK, r.Mark)
		b = appendU32Attr(b, unix.FRA_FWMASK, r.Mask)
	}
	// A delete names them too: without, it takes the first rule of the
	// rest whatever its links.
	for _, n := range []struct {
		typ  uint16
		name string
	}{{unix.FRA_IIFNAME, r.Iif}, {unix.FRA_OIFNAME, r.Oif}} {
		if n.name != "" {
			if len(n.name) > 15 {
				return b[:start], fmt.Errorf("link name %q is longer than 15 bytes", n.name)
			}
			b = appendAttr(b, n.typ, append([]byte(n.name), 0))
		}
	}
	if r.SuppressDefault {
		b = appendU32Attr(b, unix.FRA_SUPPRESS_PREFIXLEN, 0)
	}
	if r.Protocol != 0 {
		b = appendAttr(b, unix.FRA_PROTOCOL, []byte{r.Protocol})
	}
	return finishMsg(b, start), nil
}
