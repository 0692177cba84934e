package kernel

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// sizeofRuleHdr is struct fib_rule_hdr: family, dst_len, src_len, tos,
// table, res1, res2, action, then u32 flags.
const sizeofRuleHdr = 12

// parseRule decodes one RTM_NEWRULE body. Anything that narrows the rule
// beyond a source prefix and a firewall mark sets Other: a whitelist, so selectors added by
// kernels newer than this code (dscp, flowlabel...) count too. The library's
// RuleList is not used because it drops the action and l3mdev.
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
		case unix.FRA_SUPPRESS_PREFIXLEN, unix.FRA_SUPPRESS_IFGROUP:
			// Always dumped; all ones means unset.
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
	return r, true
}

// appendRuleMsg appends the request for a rule operation.
func appendRuleMsg(b []byte, kind plan.OpKind, r *plan.Rule, seq uint32) ([]byte, error) {
	if r.Other {
		// A delete names a rule by the fields it carries and matches any
		// value of the others: without the selectors this would hit
		// another rule.
		return b, fmt.Errorf("rule has selectors symroute cannot write")
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
	if r.Protocol != 0 {
		b = appendAttr(b, unix.FRA_PROTOCOL, []byte{r.Protocol})
	}
	return finishMsg(b, start), nil
}
