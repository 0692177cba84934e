package e2e

import (
	"testing"
	"time"
)

// TestListenNetworkManager: the real NetworkManager 1.42 manages em1 and em2
// by DHCP with no dispatcher script; only `symroute-sync --listen` and the
// signals NM sends on its bus keep routing symmetric through bring-up,
// disconnect, reconnect and a DHCP renewal whose router changed (for which
// NM runs no hook at all).
func TestListenNetworkManager(t *testing.T) {
	s := newListenDHCP(t)
	nm := startListenNM(t, s.host)
	l := startListenProc(t, s.host, nm.busAddr, "")
	l.listening(t)
	waitFor(t, "NetworkManager running", listenStackTimeout, func() error {
		_, err := nm.nmcli(s.host, "general", "status")
		return err
	})

	nm.mustNmcli(t, s.host, "connection", "up", "em1")
	nm.mustNmcli(t, s.host, "connection", "up", "em2")
	waitFor(t, "bring-up mirrored em1", listenStackTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))
	waitFor(t, "bring-up mirrored em2", listenStackTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	// The remote answers em2's address only if the request left by em2.
	mustPing(t, s.host, listenAddr4(s.host, "em2"), "198.51.100.1")
	mustPing(t, s.host, listenAddr4(s.host, "em1"), "198.51.100.1")

	nm.mustNmcli(t, s.host, "device", "disconnect", "em2")
	waitFor(t, "em2's rule and table gone after disconnect", listenStackTimeout, listenUnmirrored(s.host, "em2"))
	waitFor(t, "em1 untouched", listenStackTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	nm.mustNmcli(t, s.host, "device", "connect", "em2")
	waitFor(t, "em2 mirrored again after reconnect", listenStackTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	mustPing(t, s.host, listenAddr4(s.host, "em2"), "198.51.100.1")

	// The next renewal (half of the 2-minute lease) brings a new router.
	s.up2.ip("addr", "add", "192.168.0.254/24", "dev", "up2")
	s.stopDnsmasq(2)
	s.startDnsmasq(2, "192.168.0.254")
	waitFor(t, "renewal's new router mirrored into em2's table", 3*time.Minute, listenMirrored(s.host, "em2", "192.168.0.254"))
	mustPing(t, s.host, listenAddr4(s.host, "em2"), "198.51.100.1")
}
