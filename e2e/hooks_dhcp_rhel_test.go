package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// TestHookDhclientRHEL runs real dhclients whose script follows RHEL's
// dhclient-script contract (testdata/dhcp/rhel-dhclient-script: Debian's
// never reads dhclient.d), with our dhclient.d/symroute.sh installed byte
// for byte. RHEL's script calls NAME_restore before it removes the
// address, so the release shows that our pass runs when dhclient-script is
// done, not when it calls us. Its `ip route replace default` makes em2's
// default replace em1's in main: em1's table gets its default from the
// recorded lease router.
func TestHookDhclientRHEL(t *testing.T) {
	t.Parallel()
	dhNeed(t)
	testns.RequirePrograms(t, "", "bash")
	c := &dhclientRun{t: t, net: newDhcpNet(t, false), root: newDhcpRoot(t, syncBin), procs: map[string]*dhcpProc{}, seen: map[string]int{}}
	// No /etc/dhcp/dhclient.d on a Debian host: the overlay's upper
	// layer makes it.
	dhcpDir := filepath.Join(c.root.dir, "etc.upper", "dhcp", "dhclient.d")
	if err := os.MkdirAll(dhcpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dhcpInstall(t, "dhcp-hooks/dhclient.d-symroute.sh", dhcpDir, "symroute.sh", 0o755)
	harness, err := filepath.Abs("testdata/dhcp/rhel-dhclient-script")
	if err != nil {
		t.Fatal(err)
	}
	dhcpWriteHook(t, c.root.dir, "dhclient.conf", "request subnet-mask, broadcast-address, routers;\ntimeout 30;\ninitial-interval 1;\n", 0o644)
	start := func(t *testing.T, iface string) {
		t.Helper()
		argv := append([]string{"dhclient", "-4", "-d", "-sf", harness}, c.files(iface)...)
		c.procs[iface] = startDhcpProc(c.t, "dhclient-"+iface, c.root.command(c.net.host, append(argv, iface)...))
		c.wait(t, iface, "BOUND", "REBOOT")
	}
	h := c.net.host
	start(t, "em1")
	start(t, "em2")
	a1, a2 := c.net.addr4("em1"), c.net.addr4("em2")
	if got := dhcpDefaultOf(h.routes("4", "main"), "em1"); got != "" {
		t.Fatalf("main still has em1's default %q: the harness should have replaced it", got)
	}
	t.Run("bring-up", func(t *testing.T) {
		c.waitConverged(t, "after both binds", dhWant{
			addrs:   map[string]string{"em1": a1, "em2": a2},
			routers: map[string]string{"em1": "10.0.0.1", "em2": "192.168.0.1"},
		})
		mustPing(t, h, a1, dhcpRemote)
		mustPing(t, h, a2, dhcpRemote)
	})
	t.Run("release", func(t *testing.T) {
		argv := append([]string{"dhclient", "-4", "-r", "-sf", harness}, c.files("em2")...)
		if res := c.root.run(t, h, nil, append(argv, "em2")...); res.code != 0 {
			t.Fatalf("dhclient -r em2: %s", res)
		}
		c.wait(t, "em2", "RELEASE")
		c.procs["em2"].stop()
		c.waitConverged(t, "after em2's release", dhWant{
			addrs:   map[string]string{"em1": a1},
			routers: map[string]string{"em1": "10.0.0.1"},
		})
		if rec := c.root.leaseRecord("em2"); rec != "" {
			t.Errorf("em2's lease record outlived the release:\n%s", rec)
		}
		mustPing(t, h, a1, dhcpRemote)
		if res := c.root.check(t, h); res.code != 0 {
			t.Errorf("--check after release: %s", res)
		}
	})
}
