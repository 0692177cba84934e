package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// Lookup asks the kernel's route lookup which route f takes: the route as
// its table holds it (RTM_F_FIB_MATCH, kernel 4.13+), table included, as
// `ip route get fibmatch` prints it. It needs no privilege.
func (h *Handle) Lookup(f plan.Flow) (plan.Route, error) {
	fam, bits := uint8(unix.AF_INET), uint8(32)
	if f.Dst.Is6() {
		fam, bits = unix.AF_INET6, 128
	}
	if f.Src.IsValid() && f.Src.Is6() != f.Dst.Is6() {
		return plan.Route{}, fmt.Errorf("route lookup: %s and %s are of different families", f.Src, f.Dst)
	}
	srcBits := uint8(0)
	if f.Src.IsValid() {
		srcBits = bits
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
	// type, flags.
	body := []byte{fam, bits, srcBits, 0, 0, 0, 0, 0}
	// Without RTM_F_LOOKUP_TABLE the answer names the main table whatever
	// table the route came from.
	body = ne.AppendUint32(body, unix.RTM_F_FIB_MATCH|unix.RTM_F_LOOKUP_TABLE)
	body = appendAttr(body, unix.RTA_DST, f.Dst.AsSlice())
	if f.Src.IsValid() {
		body = appendAttr(body, unix.RTA_SRC, f.Src.AsSlice())
	}
	if f.Iif != 0 {
		body = appendU32Attr(body, unix.RTA_IIF, uint32(f.Iif))
	}
	if f.Oif != 0 {
		body = appendU32Attr(body, unix.RTA_OIF, uint32(f.Oif))
	}
	if f.Mark != 0 {
		body = appendU32Attr(body, unix.RTA_MARK, f.Mark)
	}
	reply, err := h.c.get(unix.RTM_GETROUTE, body)
	if err != nil {
		return plan.Route{}, fmt.Errorf("route lookup of %s: %w", f.Dst, err)
	}
	var r plan.Route
	p := routeParser{keep: func(uint32) bool { return true }}
	if !p.parse(reply, &r) {
		return plan.Route{}, fmt.Errorf("route lookup of %s: reply not understood", f.Dst)
	}
	return r, nil
}
