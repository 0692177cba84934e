package kernel

import (
	"net/netip"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// raRouters are the IPv6 routers the links' advertisements name: the
// neighbour entries of link-local addresses the kernel flags router
// (NTF_ROUTER). The kernel flags the sender of every advertisement that
// carries its link-layer address, accept_ra_defrtr=0 or not (it then only
// installs no default), and of every neighbour advertisement with the
// router bit. It keeps no lifetime there: a router is one while its entry
// lives. One dump, which the kernel cannot filter by flag; only the
// flagged entries are kept. A link with several has them lowest address
// first, so the one a table uses does not change from pass to pass.
func (h *Handle) raRouters() ([]plan.Router, error) {
	var out []plan.Router
	err := h.c.dump(unix.RTM_GETNEIGH, ndmsgHdr(unix.AF_INET6), func(b []byte) {
		if r, ok := parseRouterNeigh(b); ok {
			out = append(out, r)
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Link != out[j].Link {
			return out[i].Link < out[j].Link
		}
		return out[i].Gw.Less(out[j].Gw)
	})
	return out, err
}

// ndmsgHdr is a neighbour dump's body: struct ndmsg naming only the family
// (a strict-checking kernel refuses any other field set).
func ndmsgHdr(fam uint8) []byte { return []byte{fam, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }

// sizeofNdmsg is struct ndmsg: family, two pads, ifindex (s32), state
// (u16), flags (u8), type (u8).
const sizeofNdmsg = 12

// parseRouterNeigh decodes one RTM_NEWNEIGH body into a router, if it is
// an IPv6 entry flagged router whose address is link-local: ok is false
// for anything else, proxy entries included.
func parseRouterNeigh(b []byte) (plan.Router, bool) {
	if len(b) < sizeofNdmsg || b[0] != unix.AF_INET6 || b[10]&unix.NTF_ROUTER == 0 || b[10]&unix.NTF_PROXY != 0 {
		return plan.Router{}, false
	}
	link := int(int32(ne.Uint32(b[4:])))
	dst, ok := findAttr(b[sizeofNdmsg:], unix.NDA_DST)
	if !ok || link <= 0 {
		return plan.Router{}, false
	}
	a, ok := netip.AddrFromSlice(dst)
	if !ok || !a.Is6() || a.Is4In6() || !a.IsLinkLocalUnicast() {
		return plan.Router{}, false
	}
	return plan.Router{Link: link, Gw: a, Source: plan.RouterRA}, true
}
