package kernel

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
	"github.com/symroute/symroute/sync/plan"
)

// IPv4 per-link settings (the kernel's devconf, /proc/sys/net/ipv4/conf/L)
// are read and written over rtnetlink, as the AF_INET part of a link's
// IFLA_AF_SPEC: the hardened units set ProtectKernelTunables=yes, which
// makes /proc/sys read-only to them, and netlink needs no file at all.

// IPV4_DEVCONF_* (include/uapi/linux/ip.h). IFLA_INET_CONF dumps the
// settings as an array of u32 in enum order from 1, so SRC_VMARK is at
// index 23; a write names a setting by its number.
const (
	ipv4DevconfRPFilter  = 8
	ipv4DevconfArpFilter = 13
	ipv4DevconfArpIgnore = 19
	ipv4DevconfSrcVmark  = 24
)

// links dumps the links, with their IPv4 src_valid_mark (the AF_INET part
// of IFLA_AF_SPEC, which every link message carries).
func (h *Handle) links() ([]plan.Link, error) {
	var out []plan.Link
	// struct ifinfomsg: family, pad, type, index, flags, change.
	hdr := make([]byte, unix.SizeofIfInfomsg)
	err := h.c.dump(unix.RTM_GETLINK, hdr, func(b []byte) {
		if l, ok := parseLink(b); ok {
			out = append(out, l)
		}
	})
	return out, err
}

// parseLink decodes one RTM_NEWLINK body: what the planner needs, as the
// kernel says it (Kind is IFLA_INFO_KIND, "" for plain devices).
func parseLink(b []byte) (plan.Link, bool) {
	if len(b) < unix.SizeofIfInfomsg {
		return plan.Link{}, false
	}
	l := plan.Link{Index: int(int32(ne.Uint32(b[4:]))), Loopback: ne.Uint32(b[8:])&unix.IFF_LOOPBACK != 0}
	attrs := b[unix.SizeofIfInfomsg:]
	if name, ok := findAttr(attrs, unix.IFLA_IFNAME); ok {
		l.Name = string(bytes.TrimRight(name, "\x00"))
	}
	if m, ok := findAttr(attrs, unix.IFLA_MASTER); ok && len(m) >= 4 {
		l.Master = int(ne.Uint32(m))
	}
	if info, ok := findAttr(attrs, unix.IFLA_LINKINFO); ok {
		if kind, ok := findAttr(info, unix.IFLA_INFO_KIND); ok {
			l.Kind = string(bytes.TrimRight(kind, "\x00"))
		}
		if data, ok := findAttr(info, unix.IFLA_INFO_DATA); ok && l.Kind == "vrf" {
			if t, ok := findAttr(data, unix.IFLA_VRF_TABLE); ok && len(t) >= 4 {
				l.VRFTable = ne.Uint32(t)
			}
		}
	}
	if v, ok := inetConf(attrs, ipv4DevconfSrcVmark); ok {
		l.SrcValidMark = v != 0
	}
	for _, c := range []struct {
		id  int
		set *uint8
	}{{ipv4DevconfRPFilter, &l.RPFilter}, {ipv4DevconfArpFilter, &l.ArpFilter}, {ipv4DevconfArpIgnore, &l.ArpIgnore}} {
		if v, ok := inetConf(attrs, c.id); ok {
			*c.set = uint8(min(v, 255))
		}
	}
	return l, l.Name != ""
}

// netconf constants (include/uapi/linux/netconf.h).
const (
	netconfaIfindex    = 1
	netconfaRPFilter   = 3
	netconfaIfindexAll = -1
)

// confAll reads the IPv4 "all" settings the kernel combines with a link's
// own. rp_filter comes over rtnetlink (RTM_GETNETCONF); the ARP settings
// have no netlink form and come from /proc/sys, opened in the handle's
// namespace, which the hardened units do not show (ProcSubset=pid): -1
// then, and the warnings that need them are not given.
func (h *Handle) confAll() plan.ConfAll {
	all := plan.ConfAll{ArpFilter: -1, ArpIgnore: -1, RPFilter: -1}
	h.c.dump(unix.RTM_GETNETCONF, []byte{unix.AF_INET, 0, 0, 0}, func(b []byte) {
		if len(b) < 4 {
			return
		}
		idx, ok := findAttr(b[4:], netconfaIfindex)
		rp, ok2 := findAttr(b[4:], netconfaRPFilter)
		if ok && ok2 && len(idx) >= 4 && len(rp) >= 4 && int32(ne.Uint32(idx)) == netconfaIfindexAll {
			all.RPFilter = int8(min(ne.Uint32(rp), 127))
		}
	})
	nsthread.Do(h.ns, func() error {
		for _, c := range []struct {
			name string
			set  *int8
		}{{"arp_filter", &all.ArpFilter}, {"arp_ignore", &all.ArpIgnore}} {
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/" + c.name)
			if err != nil {
				continue
			}
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v >= 0 && v < 128 {
				*c.set = int8(v)
			}
		}
		return nil
	})
	return all
}

// inetConf finds IPv4 setting id in a link message's attributes.
func inetConf(attrs []byte, id int) (uint32, bool) {
	spec, ok := findAttr(attrs, unix.IFLA_AF_SPEC)
	if !ok {
		return 0, false
	}
	inet, ok := findAttr(spec, unix.AF_INET)
	if !ok {
		return 0, false
	}
	conf, ok := findAttr(inet, unix.IFLA_INET_CONF)
	if !ok || len(conf) < 4*id {
		return 0, false
	}
	return ne.Uint32(conf[4*(id-1):]), true
}

// appendSrcValidMarkMsg appends an RTM_SETLINK setting link's IPv4
// src_valid_mark to v.
func appendSrcValidMarkMsg(b []byte, link int, v uint8, seq uint32) []byte {
	start := len(b)
	b = appendMsgHdr(b, unix.RTM_SETLINK, unix.NLM_F_REQUEST, seq)
	b = append(b, unix.AF_UNSPEC, 0, 0, 0)
	b = ne.AppendUint32(b, uint32(link))
	b = ne.AppendUint32(b, 0) // flags
	b = ne.AppendUint32(b, 0) // change
	b, spec := startNested(b, unix.IFLA_AF_SPEC)
	b, inet := startNested(b, unix.AF_INET)
	b, conf := startNested(b, unix.IFLA_INET_CONF)
	b = appendU32Attr(b, ipv4DevconfSrcVmark, uint32(v))
	b = endNested(b, conf)
	b = endNested(b, inet)
	b = endNested(b, spec)
	return finishMsg(b, start)
}
