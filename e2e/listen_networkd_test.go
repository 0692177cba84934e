package e2e

import "testing"

// TestListenNetworkd: the real systemd-networkd 252 configures em1 and em2
// by DHCP without networkd-dispatcher; `symroute-sync --listen` follows its
// link-state signals through bring-up and em2 going down and up. networkd
// signals link states only, so renewals there are the timer's job (not
// tested here).
func TestListenNetworkd(t *testing.T) {
	s := newListenDHCP(t)
	// em2 starts without carrier (its peer down), so its bring-up happens
	// while the listener listens.
	s.up2.ip("link", "set", "up2", "down")
	nd := startListenNetworkd(t, s.host)
	l := startListenProc(t, s.host, nd.busAddr, "")
	l.listening(t)
	waitFor(t, "em1 mirrored", listenStackTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	s.up2.ip("link", "set", "up2", "up")
	waitFor(t, "em2 mirrored after its carrier came", listenStackTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	mustPing(t, s.host, listenAddr4(s.host, "em2"), "198.51.100.1")
	mustPing(t, s.host, listenAddr4(s.host, "em1"), "198.51.100.1")

	s.host.ip("link", "set", "em2", "down")
	waitFor(t, "em2's rule and table gone after link down", listenStackTimeout, listenUnmirrored(s.host, "em2"))
	waitFor(t, "em1 untouched", listenStackTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	s.host.ip("link", "set", "em2", "up")
	waitFor(t, "em2 mirrored again after link up", listenStackTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	mustPing(t, s.host, listenAddr4(s.host, "em2"), "198.51.100.1")
}
