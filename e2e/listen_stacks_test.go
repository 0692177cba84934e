package e2e

// `symroute-sync --listen` following the real network stacks, with no hook
// installed: only the listener and the signals the daemon sends on its bus
// keep routing symmetric (bed_stacks_test.go runs the daemons, on the DHCP
// uplinks of bed_dhcp_test.go), on Debian 12's daemons and on Debian 13's
// (run chrooted from a Debian 13 root, in the same namespaces).

import (
	"testing"
	"time"
)

// TestListenNetworkd: the real systemd-networkd 252 configures em1 and em2
// by DHCP without networkd-dispatcher; `symroute-sync --listen` follows its
// link-state signals through bring-up, em2 going down and up, and a DHCP
// renewal (`networkctl renew`) that brings a new router, after which
// networkd reconfigures the link and says so on the bus.
func TestListenNetworkd(t *testing.T) {
	t.Parallel()
	listenNetworkd(t, "", "252")
}

// TestListenNetworkd257 is TestListenNetworkd with Debian 13's networkd.
func TestListenNetworkd257(t *testing.T) {
	t.Parallel()
	listenNetworkd(t, trixieRoot(t), "257")
}

func listenNetworkd(t *testing.T, root, version string) {
	s := newDHCPNet(t, false)
	// em2 starts without carrier (its peer down), so its bring-up happens
	// while the listener listens.
	s.r2.ip("link", "set", "up0", "down")
	nd := startListenNetworkd(t, s.host, root)
	l := startListener(t, s.host, nd.busAddr, "")
	nd.waitRoot(t, root)
	l.waitLog(t, "listening")
	waitFor(t, "em1 mirrored", daemonTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	s.r2.ip("link", "set", "up0", "up")
	waitFor(t, "em2 mirrored after its carrier came", daemonTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	s.pingRemote(t, "em2")
	s.pingRemote(t, "em1")

	s.host.ip("link", "set", "em2", "down")
	waitFor(t, "em2's rule and table gone after link down", daemonTimeout, listenUnmirrored(s.host, "em2"))
	waitFor(t, "em1 untouched", daemonTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	s.host.ip("link", "set", "em2", "up")
	waitFor(t, "em2 mirrored again after link up", daemonTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	s.pingRemote(t, "em2")

	// A renewal that brings a new router: no hook, no timer, only the
	// listener. The time it took is logged, not asserted. (networkctl is
	// this machine's: a D-Bus client of the daemon under test.)
	s.r2.ip("addr", "add", "192.168.0.254/24", "dev", "up0")
	s.startDnsmasq(1, "192.168.0.254")
	from := time.Now()
	if _, err := nd.ctl(s.host, "networkctl", "renew", "em2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewal's new router mirrored into em2's table", daemonTimeout, listenMirrored(s.host, "em2", "192.168.0.254"))
	t.Logf("networkd %s: the renewal's new router reached em2's table %v after `networkctl renew`", version, time.Since(from).Round(time.Millisecond))
	s.pingRemote(t, "em2")
}

// TestListenNetworkManager: the real NetworkManager 1.42 manages em1 and em2
// by DHCP with no dispatcher script; only `symroute-sync --listen` and the
// signals NM sends on its bus keep routing symmetric through bring-up,
// disconnect, reconnect and a DHCP renewal whose router changed (for which
// NM 1.42 runs no hook at all).
func TestListenNetworkManager(t *testing.T) {
	t.Parallel()
	listenNetworkManager(t, "", "1.42")
}

// TestListenNetworkManager152 is TestListenNetworkManager with Debian 13's
// NetworkManager.
func TestListenNetworkManager152(t *testing.T) {
	t.Parallel()
	listenNetworkManager(t, trixieRoot(t), "1.52")
}

func listenNetworkManager(t *testing.T, root, version string) {
	s := newDHCPNet(t, false)
	nm := startListenNM(t, s.host, root)
	l := startListener(t, s.host, nm.busAddr, "")
	nm.waitRoot(t, root)
	l.waitLog(t, "listening")
	waitFor(t, "NetworkManager running", daemonTimeout, func() error {
		_, err := nm.nmcli(s.host, "general", "status")
		return err
	})

	nm.mustNmcli(t, s.host, "connection", "up", "em1")
	nm.mustNmcli(t, s.host, "connection", "up", "em2")
	waitFor(t, "bring-up mirrored em1", daemonTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))
	waitFor(t, "bring-up mirrored em2", daemonTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	// The remote answers em2's address only if the request left by em2.
	s.pingRemote(t, "em2")
	s.pingRemote(t, "em1")

	nm.mustNmcli(t, s.host, "device", "disconnect", "em2")
	waitFor(t, "em2's rule and table gone after disconnect", daemonTimeout, listenUnmirrored(s.host, "em2"))
	waitFor(t, "em1 untouched", daemonTimeout, listenMirrored(s.host, "em1", "10.0.0.1"))

	nm.mustNmcli(t, s.host, "device", "connect", "em2")
	waitFor(t, "em2 mirrored again after reconnect", daemonTimeout, listenMirrored(s.host, "em2", "192.168.0.1"))
	s.pingRemote(t, "em2")

	// The next renewal (half of the 2-minute lease) brings a new router.
	s.r2.ip("addr", "add", "192.168.0.254/24", "dev", "up0")
	s.startDnsmasq(1, "192.168.0.254")
	from := time.Now()
	waitFor(t, "renewal's new router mirrored into em2's table", 3*time.Minute, listenMirrored(s.host, "em2", "192.168.0.254"))
	t.Logf("NetworkManager %s: the renewal's new router reached em2's table %v after dnsmasq offered it (the renewal comes at half the lease)", version, time.Since(from).Round(time.Millisecond))
	s.pingRemote(t, "em2")
}
