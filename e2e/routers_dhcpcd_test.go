package e2e

// dhcpcd with nogateway on em2: main never holds em2's default, and our hook
// records the lease's router for every later pass.

import (
	"strings"
	"testing"
)

// TestWayOutDhcpcd: dhcpcd 9 binds em1 and em2, em2 with nogateway, and runs
// our hook as packaged. em2's table gets the lease's router, CLIENT reaches
// em2's address through the strict routers, and the record goes when em2
// loses its carrier (dhcpcd drops the lease) and comes back with the next
// bind.
func TestWayOutDhcpcd(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dhcpcd", "dnsmasq", "unshare", "nsenter")
	wayOutDhcpcd(t, "")
}

// TestWayOutDhcpcd10 is TestWayOutDhcpcd with Debian 13's dhcpcd 10, which
// also releases em2 alone (dhcpcd -k em2).
func TestWayOutDhcpcd10(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dnsmasq", "unshare", "nsenter")
	wayOutDhcpcd(t, trixieRoot(t))
}

func wayOutDhcpcd(t *testing.T, osRoot string) {
	s := newDHCPNet(t, false).addClient()
	h := s.host
	r := newDhcpRootIn(t, syncBin, osRoot)
	p := startDhcpcd(t, r, h, "interface em2\nnogateway\n")
	run := func(args ...string) result {
		return r.run(t, h, nil, append([]string{"/usr/sbin/symroute-sync"}, args...)...)
	}
	seen := map[string]int{}
	bound := func(what string) {
		t.Helper()
		r.waitEvent(t, seen, "em2", "BOUND", "REBOOT")
		waitFor(t, what, dhcpHookTimeout, wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run)))
		assertStackSymmetric(t, s)
		if rec := r.leaseRecord("em2"); !strings.HasPrefix(rec, "router=192.168.0.1\n") ||
			!strings.Contains(rec, "\naddr="+h.addr4("em2")+"\n") || !strings.Contains(rec, "\nstack=dhcpcd\n") {
			t.Errorf("em2's record: %q, want router 192.168.0.1, its address and stack", rec)
		}
	}
	gone := func(what string, reasons ...string) {
		t.Helper()
		r.waitEvent(t, seen, "em2", reasons...)
		waitFor(t, what, dhcpHookTimeout, listenUnmirrored(h, "em2"))
		if rec := r.leaseRecord("em2"); rec != "" {
			t.Errorf("em2's record outlived its lease: %q", rec)
		}
		s.pingRemote(t, "em1")
	}
	r.waitEvent(t, seen, "em1", "BOUND", "REBOOT")
	bound("em2's table gets its lease's router")

	s.r2.ip("link", "set", "up0", "down")
	gone("em2's rule and table gone when it lost its carrier", "NOCARRIER")
	s.r2.ip("link", "set", "up0", "up")
	bound("em2's table gets its router again")

	if osRoot == "" {
		return // dhcpcd 9 answers "not running" to -k em2 when it manages several interfaces
	}
	dhcpcdCtl(t, r, p, "-k", "em2")
	gone("em2's rule and table gone after its release", "RELEASE", "STOP", "STOPPED")
}
