package e2e

// NetworkManager with ipv4.never-default on em2: main never holds em2's
// default, and em2's table gets its lease's router from what NetworkManager
// keeps (its device state) and what its dispatcher hands our hook, whatever
// runs the pass: the hook, the listener alone, or the timer.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWayOutNMDispatcher: NetworkManager 1.42 brings em1 and em2 up by DHCP,
// em2 with never-default, and runs our dispatcher script as packaged. em2's
// table gets the lease's router, CLIENT reaches em2's address through the
// strict routers, the hook's record names it, and a disconnect takes it
// away.
func TestWayOutNMDispatcher(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "network-manager", "NetworkManager", "nmcli", "/usr/lib/NetworkManager/nm-dispatcher")
	wayOutNMDispatcher(t, "")
}

// TestWayOutNMDispatcher152 is TestWayOutNMDispatcher with Debian 13's
// NetworkManager 1.52.
func TestWayOutNMDispatcher152(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	wayOutNMDispatcher(t, trixieRoot(t))
}

func wayOutNMDispatcher(t *testing.T, root string) {
	s := newDHCPNet(t, false).addClient()
	h := s.host
	dir := nmStackDir(t, root)
	addToSection(t, filepath.Join(dir, "connections", "em2.nmconnection"), "ipv4", "never-default=true")
	st := startDispatcherStack(t, h, dir, "testdata/nm/start.sh", root)
	run := st.inStack(h)
	waitFor(t, "em1 mirrored", daemonTimeout, st.running(listenMirrored(h, "em1", "10.0.0.1")))
	waitFor(t, "em2's table gets its lease's router", daemonTimeout, st.running(wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))))
	assertStackSymmetric(t, s)
	// The hook recorded the lease, tied to its address: what a pass reads
	// where NetworkManager's device state has no [dhcp4] section.
	st.waitHooksIdle()
	rec := filepath.Join(dir, "run", "symroute", "leases", "em2")
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf("the hook's lease record: %v", err)
	}
	if want := "router=192.168.0.1\n"; !strings.HasPrefix(string(b), want) ||
		!strings.Contains(string(b), "\naddr="+h.addr4("em2")+"\n") || !strings.Contains(string(b), "\nstack=NetworkManager\n") {
		t.Errorf("em2's record: %q, want router 192.168.0.1, its address and stack", b)
	}

	st.mustExec("nmcli", "device", "disconnect", "em2")
	waitFor(t, "em2's rule and table gone after disconnect", daemonTimeout, st.running(listenUnmirrored(h, "em2")))
	st.waitHooksIdle()
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Errorf("em2's record outlived the disconnect (%v)", err)
	}
	st.mustExec("nmcli", "device", "connect", "em2")
	waitFor(t, "em2's table gets its router again", daemonTimeout, st.running(wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))))
	assertStackSymmetric(t, s)
}

// TestWayOutNMListen: NetworkManager 1.42 with never-default on em2 and no
// dispatcher at all. A plain pass, as the timer runs it, gives em2's table
// its lease's router; then `symroute-sync --listen` alone follows a
// disconnect, a reconnect and a renewal that brings a new router (for
// which 1.42 runs no hook, and with never-default changes no IP4Config).
func TestWayOutNMListen(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "network-manager", "NetworkManager", "nmcli")
	wayOutNMListen(t, "")
}

// TestWayOutNMListen152 is TestWayOutNMListen with Debian 13's
// NetworkManager 1.52.
func TestWayOutNMListen152(t *testing.T) {
	t.Parallel()
	wayOutNMListen(t, trixieRoot(t))
}

func wayOutNMListen(t *testing.T, root string) {
	s := newDHCPNet(t, false).addClient()
	h := s.host
	nm := startListenNM(t, h, root, "never-default=true")
	nm.waitRoot(t, root)
	run := nm.inStack(t, h)
	waitFor(t, "NetworkManager running", daemonTimeout, func() error {
		_, err := nm.nmcli(h, "general", "status")
		return err
	})
	nm.mustNmcli(t, h, "connection", "up", "em1")
	nm.mustNmcli(t, h, "connection", "up", "em2")

	t.Run("timer", func(t *testing.T) {
		timerPass(t, run)
		if err := wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))(); err != nil {
			t.Fatalf("after the timer's pass: %v", err)
		}
		assertStackSymmetric(t, s)
	})

	// The listener in NetworkManager's mount namespace, where its /run is,
	// as the unit runs it on a host.
	startListenerCmd(t, func(argv ...string) *exec.Cmd {
		return nsenterCmd(nm.daemon.Cmd.Process.Pid, false, append([]string{syncBin}, argv...)...)
	}, nm.busAddr, "").waitLog(t, "listening")
	nm.mustNmcli(t, h, "device", "disconnect", "em2")
	waitFor(t, "em2's rule and table gone after disconnect", daemonTimeout, listenUnmirrored(h, "em2"))
	nm.mustNmcli(t, h, "device", "connect", "em2")
	waitFor(t, "em2's table gets its router again", daemonTimeout, wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run)))
	assertStackSymmetric(t, s)

	// The next renewal (half of the 2-minute lease) brings a new router.
	s.r2.ip("addr", "add", "192.168.0.254/24", "dev", "up0")
	s.startDnsmasq(1, "192.168.0.254")
	from := time.Now()
	waitFor(t, "the renewal's new router in em2's table", 3*time.Minute, wayOut(h, "em2", "192.168.0.254", checkQuiet(t, run)))
	t.Logf("the renewal's new router reached em2's table %v after dnsmasq offered it (the renewal comes at half the lease)", time.Since(from).Round(time.Millisecond))
	s.pingRemote(t, "em2")
}
