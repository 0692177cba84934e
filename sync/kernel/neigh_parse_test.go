package kernel

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// neighMsg is an RTM_NEWNEIGH body as the kernel builds it: struct ndmsg,
// then NDA_DST and NDA_LLADDR.
func neighMsg(fam uint8, ifindex uint32, state uint16, flags uint8, dst string) []byte {
	b := []byte{fam, 0, 0, 0}
	b = ne.AppendUint32(b, ifindex)
	b = ne.AppendUint16(b, state)
	b = append(b, flags, 1)
	if dst != "" {
		b = appendAddrAttr(b, unix.NDA_DST, netip.MustParseAddr(dst))
	}
	return appendAttr(b, unix.NDA_LLADDR, []byte{2, 0, 0, 0, 0, 1})
}

func TestParseRouterNeigh(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  []byte
		want string // the router, "" for none
	}{
		{"router, stale", neighMsg(unix.AF_INET6, 3, unix.NUD_STALE, unix.NTF_ROUTER, "fe80::1"), "fe80::1"},
		{"router, permanent", neighMsg(unix.AF_INET6, 3, unix.NUD_PERMANENT, unix.NTF_ROUTER, "fe80::2"), "fe80::2"},
		{"not a router", neighMsg(unix.AF_INET6, 3, unix.NUD_REACHABLE, 0, "fe80::1"), ""},
		{"global router", neighMsg(unix.AF_INET6, 3, unix.NUD_STALE, unix.NTF_ROUTER, "2001:db8::1"), ""},
		{"proxy", neighMsg(unix.AF_INET6, 3, unix.NUD_STALE, unix.NTF_ROUTER|unix.NTF_PROXY, "fe80::1"), ""},
		{"IPv4", neighMsg(unix.AF_INET, 3, unix.NUD_STALE, unix.NTF_ROUTER, "10.0.0.1"), ""},
		{"mapped", neighMsg(unix.AF_INET6, 3, unix.NUD_STALE, unix.NTF_ROUTER, "::ffff:10.0.0.1"), ""},
		{"no address", neighMsg(unix.AF_INET6, 3, unix.NUD_STALE, unix.NTF_ROUTER, ""), ""},
		{"no link", neighMsg(unix.AF_INET6, 0, unix.NUD_STALE, unix.NTF_ROUTER, "fe80::1"), ""},
		{"short", []byte{unix.AF_INET6, 0, 0, 0, 3, 0, 0, 0, 4, 0}, ""},
	} {
		r, ok := parseRouterNeigh(c.msg)
		got := ""
		if ok {
			if r.Link != 3 || r.Source != plan.RouterRA || r.Stack != "" {
				t.Errorf("%s: %+v", c.name, r)
			}
			got = r.Gw.String()
		}
		if got != c.want {
			t.Errorf("%s: router %q, want %q", c.name, got, c.want)
		}
	}
}
