package e2e

// systemd-networkd with [DHCPv4] UseGateway=no on em2: main never holds
// em2's default, and every pass reads the lease's router from networkd's
// own lease file, whether networkd-dispatcher's hook or the timer ran it.

import (
	"path/filepath"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// TestWayOutNetworkd: networkd 252 brings em1 and em2 up by DHCP, em2 with
// UseGateway=no (or UseRoutes=no), and networkd-dispatcher runs our script as packaged. em2's
// table gets the lease's router, CLIENT reaches em2's address through the
// strict routers; a timer's pass alone puts the default back when it is
// removed; `networkctl down em2` takes it away.
func TestWayOutNetworkd(t *testing.T) {
	t.Parallel()
	wayOutNetworkd(t, "")
}

// TestWayOutNetworkd257 is TestWayOutNetworkd with Debian 13's networkd 257.
func TestWayOutNetworkd257(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	wayOutNetworkd(t, trixieRoot(t))
}

// wayOutNetworkd runs with each setting that keeps em2's default out of
// main: UseGateway=no, and UseRoutes=no (which UseGateway= follows unless
// set). networkd saves the lease's router in its lease file either way.
func wayOutNetworkd(t *testing.T, root string) {
	for _, setting := range []string{"UseGateway=no", "UseRoutes=no"} {
		setting := setting
		t.Run(setting, func(t *testing.T) {
			t.Parallel()
			wayOutNetworkdWith(t, root, setting)
		})
	}
}

func wayOutNetworkdWith(t *testing.T, root, setting string) {
	requireRootWith(t, "systemd", "/lib/systemd/systemd-networkd", "networkctl")
	testns.RequirePrograms(t, "networkd-dispatcher", "networkd-dispatcher")
	s := newDHCPNet(t, false).addClient()
	h := s.host
	dir := networkdStackDir(t, true)
	addToSection(t, filepath.Join(dir, "run", "systemd", "network", "50-em2.network"), "DHCPv4", setting)
	st := startDispatcherStack(t, h, dir, "testdata/networkd/start.sh", root)
	run := st.inStack(h)
	waitFor(t, "em1 mirrored", daemonTimeout, st.running(listenMirrored(h, "em1", "10.0.0.1")))
	waitFor(t, "em2's table gets its lease's router", daemonTimeout, st.running(wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))))
	assertStackSymmetric(t, s)
	st.waitHooksIdle()

	t.Run("timer", func(t *testing.T) {
		h.ip("route", "del", "default", "table", h.table("em2"), "proto", "234")
		timerPass(t, run)
		if err := wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))(); err != nil {
			t.Fatalf("after the timer's pass: %v", err)
		}
	})

	st.mustExec("networkctl", "down", "em2")
	waitFor(t, "em2's rule and table gone after `networkctl down em2`", daemonTimeout, st.running(listenUnmirrored(h, "em2")))
	st.waitHooksIdle()
	st.mustExec("networkctl", "up", "em2")
	waitFor(t, "em2's table gets its router again", daemonTimeout, st.running(wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run))))
	assertStackSymmetric(t, s)
}
