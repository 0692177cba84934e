package e2e

// RHEL's dhclient-script contract: our dhclient.d/symroute.sh, whose pass
// runs when dhclient-script is done with the lease, not when it calls us.

import (
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
	testns.RequirePrograms(t, "", "bash")
	c := newDhclientRun(t, false)
	// No /etc/dhcp/dhclient.d on a Debian host: the overlay's upper
	// layer makes it.
	copyFile(t, repoFile("dhcp-hooks", "dhclient.d-symroute.sh"), filepath.Join(c.root.etcDir("dhcp/dhclient.d"), "symroute.sh"), 0o755)
	var err error
	if c.script, err = filepath.Abs("testdata/dhcp/rhel-dhclient-script"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(c.root.dir, "dhclient.conf"), "request subnet-mask, broadcast-address, routers;\ntimeout 30;\ninitial-interval 1;\n", 0o644)
	h := c.net.host
	c.start(t, "em1", 0)
	c.start(t, "em2", 0)
	a1, a2 := h.addr4("em1"), h.addr4("em2")
	if got := defaultOf(h.routes("4", "main"), "em1"); got != "" {
		t.Fatalf("main still has em1's default %q: the harness should have replaced it", got)
	}
	t.Run("bring-up", func(t *testing.T) {
		c.waitConverged(t, "after both binds", bothBound(a1, a2, "192.168.0.1"))
		mustPing(t, h, a1, remote)
		mustPing(t, h, a2, remote)
	})
	t.Run("release", func(t *testing.T) {
		c.release(t, "em2")
		c.assertEm2Released(t, a1)
		c.root.assertChecked(t, h, "after release")
	})
}
