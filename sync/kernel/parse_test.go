package kernel

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// These tests need no root: they feed the parsers messages built the way
// the kernel builds them.

var eq = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func rtmsg(fam, dstLen, table, proto, scope, typ uint8, flags uint32) []byte {
	return ne.AppendUint32([]byte{fam, dstLen, 0, 0, table, proto, scope, typ}, flags)
}

func nexthop(flags, hops uint8, ifindex uint32, gw string) []byte {
	b := ne.AppendUint16(nil, 0)
	b = append(b, flags, hops)
	b = ne.AppendUint32(b, ifindex)
	b = appendAddrAttr(b, unix.RTA_GATEWAY, netip.MustParseAddr(gw))
	ne.PutUint16(b, uint16(len(b)))
	return b
}

func multipathMsg(nhs ...[]byte) []byte {
	b := rtmsg(plan.FamilyV4, 24, unix.RT_TABLE_COMPAT, 4, 0, plan.RouteUnicast, 0)
	b = appendU32Attr(b, unix.RTA_TABLE, 1002)
	b = appendAddrAttr(b, unix.RTA_DST, netip.MustParseAddr("10.9.0.0"))
	var mp []byte
	for _, nh := range nhs {
		mp = append(mp, nh...)
	}
	return appendAttr(b, unix.RTA_MULTIPATH, mp)
}

func TestParseMultipath(t *testing.T) {
	route := plan.Route{Family: plan.FamilyV4, Table: 1002, Dst: netip.MustParsePrefix("10.9.0.0/24"), Type: plan.RouteUnicast, Protocol: 4}
	with := func(f func(*plan.Route)) plan.Route {
		r := route
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want plan.Route
	}{
		{"all up", multipathMsg(nexthop(0, 0, 2, "10.1.0.1"), nexthop(unix.RTNH_F_ONLINK, 2, 3, "10.2.0.1")),
			with(func(r *plan.Route) {
				r.Nexthops = []plan.Nexthop{{Link: 2, Gw: netip.MustParseAddr("10.1.0.1"), Weight: 1}, {Link: 3, Gw: netip.MustParseAddr("10.2.0.1"), Weight: 3, Flags: plan.FlagOnlink}}
			})},
		{"one left is a plain route", multipathMsg(nexthop(unix.RTNH_F_LINKDOWN, 0, 2, "10.1.0.1"), nexthop(unix.RTNH_F_ONLINK, 2, 3, "10.2.0.1")),
			with(func(r *plan.Route) {
				r.Link, r.Gw, r.Flags = 3, netip.MustParseAddr("10.2.0.1"), plan.FlagOnlink|plan.FlagHopsDropped
			})},
		{"two of three left", multipathMsg(nexthop(0, 0, 2, "10.1.0.1"), nexthop(unix.RTNH_F_DEAD|unix.RTNH_F_LINKDOWN, 0, 3, "10.2.0.1"), nexthop(0, 0, 4, "10.4.0.1")),
			with(func(r *plan.Route) {
				r.Nexthops = []plan.Nexthop{{Link: 2, Gw: netip.MustParseAddr("10.1.0.1"), Weight: 1}, {Link: 4, Gw: netip.MustParseAddr("10.4.0.1"), Weight: 1}}
				r.Flags = plan.FlagHopsDropped
			})},
		{"all down", multipathMsg(nexthop(unix.RTNH_F_LINKDOWN, 0, 2, "10.1.0.1"), nexthop(unix.RTNH_F_LINKDOWN|unix.RTNH_F_ONLINK, 0, 3, "10.2.0.1")),
			with(func(r *plan.Route) {
				r.Linkdown = true
				r.Nexthops = []plan.Nexthop{{Link: 2, Gw: netip.MustParseAddr("10.1.0.1"), Weight: 1}, {Link: 3, Gw: netip.MustParseAddr("10.2.0.1"), Weight: 1, Flags: plan.FlagOnlink}}
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got plan.Route
			p := routeParser{keep: func(t uint32) bool { return t == plan.TableMain || t > 1000 }}
			if !p.parse(tc.msg, &got) {
				t.Fatal("not kept")
			}
			if diff := cmp.Diff(tc.want, got, eq); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRouteFilters(t *testing.T) {
	p := routeParser{keep: func(t uint32) bool { return t == plan.TableMain || t > 1000 }}
	for _, tc := range []struct {
		name string
		msg  []byte
		keep bool
	}{
		{"main", rtmsg(plan.FamilyV4, 0, plan.TableMain, 4, 0, 1, 0), true},
		{"local", rtmsg(plan.FamilyV4, 0, plan.TableLocal, 2, 254, 2, 0), false},
		{"the base itself", appendU32Attr(rtmsg(plan.FamilyV4, 0, unix.RT_TABLE_COMPAT, 4, 0, 1, 0), unix.RTA_TABLE, 1000), false},
		{"above the base", appendU32Attr(rtmsg(plan.FamilyV6, 0, unix.RT_TABLE_COMPAT, 4, 0, 1, 0), unix.RTA_TABLE, 1001), true},
		{"cache clone", rtmsg(plan.FamilyV6, 128, plan.TableMain, 4, 0, 1, unix.RTM_F_CLONED), false},
		{"other family", rtmsg(unix.AF_MPLS, 0, plan.TableMain, 4, 0, 1, 0), false},
	} {
		var r plan.Route
		if got := p.parse(tc.msg, &r); got != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.keep)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	var m []byte
	m = appendU32Attr(m, 2, 1400)
	m = appendU32Attr(m, unix.RTAX_LOCK, 1<<2|1<<16)
	m = appendAttr(m, unix.RTAX_CC_ALGO, []byte("reno\x00"))
	m = appendU32Attr(m, 8, 1360)
	m = appendU32Attr(m, 31, 7) // unknown to symroute: not copied
	b := rtmsg(plan.FamilyV4, 0, plan.TableMain, 4, 0, 1, 0)
	b = appendAttr(b, unix.RTA_METRICS, m)
	var r plan.Route
	p := routeParser{keep: func(t uint32) bool { return t == plan.TableMain || t > 1000 }}
	p.parse(b, &r)
	if want := "mtu lock 1400 advmss 1360 congctl lock reno"; r.Metrics != want {
		t.Errorf("metrics %q, want %q", r.Metrics, want)
	}
	// And back: the lock bits and the algorithm's name survive.
	h := &Handle{}
	enc, err := h.metricsAttr(r.Metrics, true)
	if err != nil {
		t.Fatal(err)
	}
	var r2 plan.Route
	p.parse(appendAttr(rtmsg(plan.FamilyV4, 0, plan.TableMain, 4, 0, 1, 0), unix.RTA_METRICS, enc[4:]), &r2)
	if r2.Metrics != r.Metrics {
		t.Errorf("metrics after encode and parse %q, want %q", r2.Metrics, r.Metrics)
	}
}

func ruleMsg(flags uint32, attrs ...[]byte) []byte {
	b := ne.AppendUint32([]byte{plan.FamilyV4, 0, 32, 0, unix.RT_TABLE_COMPAT, 0, 0, unix.FR_ACT_TO_TBL}, flags)
	b = appendU32Attr(b, unix.FRA_TABLE, 1002)
	b = appendU32Attr(b, unix.FRA_PRIORITY, 32765)
	b = appendU32Attr(b, unix.FRA_SUPPRESS_PREFIXLEN, 0xffffffff)
	b = appendAttr(b, unix.FRA_PROTOCOL, []byte{plan.Protocol})
	b = appendAddrAttr(b, unix.FRA_SRC, netip.MustParseAddr("10.1.0.2"))
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// dstLen sets a rule message's destination length.
func dstLen(n uint8, msg []byte) []byte {
	msg[1] = n
	return msg
}

func TestParseRule(t *testing.T) {
	plain := plan.Rule{Family: plan.FamilyV4, Priority: 32765, Src: netip.MustParsePrefix("10.1.0.2/32"), Table: 1002, Action: 1, Protocol: plan.Protocol}
	other := plain
	other.Other = true
	marked := plain
	marked.Mark, marked.Mask = 0x1000000, 0xff000000
	markedOther := marked
	markedOther.Other = true
	iif, oif, suppress := plain, plain, plain // selectors symroute writes itself
	iif.Iif, oif.Oif, suppress.SuppressDefault = "eth0", "$(x)", true
	for _, tc := range []struct {
		name string
		msg  []byte
		want plan.Rule
		// sel is what a rule with Other selects beyond the fields, as
		// ip(8) spells it.
		sel string
	}{
		{"from only", ruleMsg(unix.FIB_RULE_PERMANENT), plain, ""},
		{"fwmark", ruleMsg(0, appendU32Attr(appendU32Attr(nil, unix.FRA_FWMARK, 0x1000000), unix.FRA_FWMASK, 0xff000000)), marked, ""},
		{"not fwmark", ruleMsg(unix.FIB_RULE_INVERT, appendU32Attr(appendU32Attr(nil, unix.FRA_FWMARK, 0x1000000), unix.FRA_FWMASK, 0xff000000)),
			markedOther, "not"},
		{"iif", ruleMsg(0, appendAttr(nil, unix.FRA_IIFNAME, []byte("eth0\x00"))), iif, ""},
		{"oif", ruleMsg(0, appendAttr(nil, unix.FRA_OIFNAME, []byte("$(x)\x00"))), oif, ""},
		{"invert", ruleMsg(unix.FIB_RULE_INVERT), other, "not"},
		{"suppress_prefixlength 0", ruleMsg(0, appendU32Attr(nil, unix.FRA_SUPPRESS_PREFIXLEN, 0)), suppress, ""},
		{"suppress_prefixlength 8", ruleMsg(0, appendU32Attr(nil, unix.FRA_SUPPRESS_PREFIXLEN, 8)), other, "suppress_prefixlength 8"},
		{"oif and not", ruleMsg(unix.FIB_RULE_INVERT, appendAttr(nil, unix.FRA_OIFNAME, []byte("em2\x00"))),
			func() plan.Rule { r := other; r.Oif = "em2"; return r }(), "not oif em2"},
		{"suppress_ifgroup", ruleMsg(0, appendU32Attr(nil, unix.FRA_SUPPRESS_IFGROUP, 5)), other, "suppress_ifgroup 5"},
		{"to", dstLen(8, ruleMsg(0, appendAddrAttr(nil, unix.FRA_DST, netip.MustParseAddr("10.0.0.0")))), other, "to 10.0.0.0/8"},
		{"goto", ruleMsg(0, appendU32Attr(nil, unix.FRA_GOTO, 32766)), other, "goto 32766"},
		{"realms", ruleMsg(0, appendU32Attr(nil, unix.FRA_FLOW, 1<<16|2)), other, "realms 1/2"},
		{"tun_id", ruleMsg(0, appendAttr(nil, unix.FRA_TUN_ID, []byte{0, 0, 0, 0, 0, 0, 0, 7})), other, "tun_id 7"},
		{"l3mdev", ruleMsg(0, appendAttr(nil, unix.FRA_L3MDEV, []byte{1})), other, "l3mdev"},
		{"uidrange", ruleMsg(0, appendAttr(nil, unix.FRA_UID_RANGE, ne.AppendUint32(ne.AppendUint32(nil, 100), 200))), other, "uidrange 100-200"},
		{"ports", ruleMsg(0, appendAttr(nil, unix.FRA_IP_PROTO, []byte{6}),
			appendAttr(nil, unix.FRA_SPORT_RANGE, ne.AppendUint16(ne.AppendUint16(nil, 1000), 2000)),
			appendAttr(nil, unix.FRA_DPORT_RANGE, ne.AppendUint16(ne.AppendUint16(nil, 80), 80))), other, "ipproto 6 sport 1000-2000 dport 80"},
		{"unknown attribute", ruleMsg(0, appendU32Attr(nil, 99, 0)), other, "unknown-attribute-99"},
	} {
		got, ok := parseRule(tc.msg)
		if !ok {
			t.Errorf("%s: not parsed", tc.name)
			continue
		}
		want := tc.want
		if want.Other {
			// The rule as listed: its delete sends it back.
			want.Raw, want.Selectors = string(tc.msg), tc.sel
		}
		if diff := cmp.Diff(want, got, eq); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// A rule with other selectors is deleted by the message the kernel listed
// it in, whatever this code makes of it; and refused for anything else.
func TestRuleMsgOther(t *testing.T) {
	msg := ruleMsg(0, appendAttr(nil, unix.FRA_OIFNAME, []byte("em2\x00")), appendU32Attr(nil, 99, 7))
	r, _ := parseRule(msg)
	b, err := appendRuleMsg(nil, plan.RuleDel, &r, 7)
	if err != nil {
		t.Fatal(err)
	}
	hd, body, rest, err := nextMsg(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("not one message: %v, %d bytes more", err, len(rest))
	}
	if hd.Type != unix.RTM_DELRULE || hd.Flags != unix.NLM_F_REQUEST || hd.Seq != 7 || string(body) != string(msg) {
		t.Errorf("delete: type %d flags %#x seq %d body %q, want RTM_DELRULE, NLM_F_REQUEST, 7, %q", hd.Type, hd.Flags, hd.Seq, body, msg)
	}
	if _, err := appendRuleMsg(nil, plan.RuleAdd, &r, 8); err == nil {
		t.Errorf("an add of a rule with other selectors was not refused")
	}
}

func TestAckError(t *testing.T) {
	// A capped error ack with the kernel's message, as NETLINK_CAP_ACK and
	// NETLINK_EXT_ACK make it.
	errno := int32(unix.EINVAL)
	body := ne.AppendUint32(nil, uint32(-errno))
	body = appendMsgHdr(body, unix.RTM_NEWROUTE, unix.NLM_F_REQUEST, 7)
	body = appendAttr(body, unix.NLMSGERR_ATTR_MSG, []byte("Nexthop device is not up\x00"))
	err := ackError(msgHdr{Type: unix.NLMSG_ERROR, Flags: unix.NLM_F_ACK_TLVS | unix.NLM_F_CAPPED}, body)
	if !errors.Is(err, unix.EINVAL) || err.Error() != "invalid argument (Nexthop device is not up)" {
		t.Errorf("got %v", err)
	}
	if err := ackError(msgHdr{Type: unix.NLMSG_ERROR}, ne.AppendUint32(nil, 0)); err != nil {
		t.Errorf("plain ack: %v", err)
	}
}

func TestDoneAnyway(t *testing.T) {
	wrapped := func(e unix.Errno) error { return &kernelError{errno: e} }
	for _, tc := range []struct {
		kind plan.OpKind
		err  unix.Errno
		done bool
	}{
		{plan.RouteAdd, unix.EEXIST, true},
		{plan.RuleAdd, unix.EEXIST, true},
		{plan.RouteReplace, unix.EEXIST, false},
		{plan.RouteDel, unix.ESRCH, true},
		{plan.RouteDel, unix.ENOENT, true},
		{plan.RuleDel, unix.ENOENT, true},
		{plan.RouteAdd, unix.ENOENT, false},
		{plan.RouteReplace, unix.ENODEV, true},
		{plan.RouteAdd, unix.EINVAL, false},
	} {
		if got := doneAnyway(tc.kind, wrapped(tc.err)); got != tc.done {
			t.Errorf("%v %v: done %v, want %v", tc.kind, tc.err, got, tc.done)
		}
	}
}

// linkMsg is an RTM_NEWLINK body: ifinfomsg, then attrs.
func linkMsg(index int, flags uint32, attrs ...[]byte) []byte {
	b := []byte{unix.AF_UNSPEC, 0, 1, 0}
	b = ne.AppendUint32(b, uint32(index))
	b = ne.AppendUint32(b, flags)
	b = ne.AppendUint32(b, 0)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func nested(typ uint16, attrs ...[]byte) []byte {
	b, start := startNested(nil, typ)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return endNested(b, start)
}

// Links as the kernel dumps them, VRFs included (this test kernel may have
// none to make), with their IPv4 src_valid_mark.
func TestParseLink(t *testing.T) {
	name := func(s string) []byte { return appendAttr(nil, unix.IFLA_IFNAME, []byte(s+"\x00")) }
	kind := func(k string, data ...[]byte) []byte {
		attrs := [][]byte{appendAttr(nil, unix.IFLA_INFO_KIND, []byte(k+"\x00"))}
		if len(data) > 0 {
			attrs = append(attrs, nested(unix.IFLA_INFO_DATA, data...))
		}
		return nested(unix.IFLA_LINKINFO, attrs...)
	}
	conf := make([]byte, 4*30)
	ne.PutUint32(conf[4*(ipv4DevconfSrcVmark-1):], 1)
	inet := nested(unix.IFLA_AF_SPEC, nested(unix.AF_INET, appendAttr(nil, unix.IFLA_INET_CONF, conf)))
	for _, tc := range []struct {
		name string
		msg  []byte
		want plan.Link
	}{
		{"loopback", linkMsg(1, unix.IFF_LOOPBACK|unix.IFF_UP, name("lo")), plan.Link{Index: 1, Name: "lo", Loopback: true}},
		{"plain device, src_valid_mark on", linkMsg(2, unix.IFF_UP, name("em1"), inet), plan.Link{Index: 2, Name: "em1", SrcValidMark: true}},
		{"veth in a bridge", linkMsg(5, 0, name("veth1"), appendU32Attr(nil, unix.IFLA_MASTER, 4), kind("veth")),
			plan.Link{Index: 5, Name: "veth1", Kind: "veth", Master: 4}},
		{"vrf and its table", linkMsg(7, 0, name("vrf-red"), kind("vrf", appendU32Attr(nil, unix.IFLA_VRF_TABLE, 1111))),
			plan.Link{Index: 7, Name: "vrf-red", Kind: "vrf", VRFTable: 1111}},
		{"a table number on a non-vrf is no VRF table", linkMsg(8, 0, name("x"), kind("dummy", appendU32Attr(nil, unix.IFLA_VRF_TABLE, 9))),
			plan.Link{Index: 8, Name: "x", Kind: "dummy"}},
	} {
		got, ok := parseLink(tc.msg)
		if !ok {
			t.Errorf("%s: not parsed", tc.name)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	if _, ok := parseLink(linkMsg(9, 0)); ok {
		t.Error("a link with no name parsed")
	}
}
