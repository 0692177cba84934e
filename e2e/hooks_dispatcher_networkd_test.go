package e2e

// networkd-dispatcher runs our 50-symroute as packaged, with or without our
// networkd drop-in read: every pass is one the script started.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// TestNetworkdDispatcher runs systemd-networkd on HOST's em1 and em2 (DHCP
// from dnsmasq on both uplinks) with networkd-dispatcher on a private
// system bus, our script installed as packaged in
// /usr/lib/networkd-dispatcher/STATE.d/50-symroute, and our drop-in as
// /usr/lib/systemd/networkd.conf.d/symroute.conf or, as on a host where
// symroute was installed since networkd last started, not yet read. Every
// pass is one the script started: the test itself runs none.
func TestNetworkdDispatcher(t *testing.T) {
	t.Parallel()
	networkdDispatcher(t, "")
}

// TestNetworkdDispatcher257 is TestNetworkdDispatcher with Debian 13's
// systemd-networkd 257 and networkd-dispatcher, chrooted from a Debian 13
// root.
func TestNetworkdDispatcher257(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	networkdDispatcher(t, trixieRoot(t))
}

func networkdDispatcher(t *testing.T, root string) {
	for _, tc := range []struct {
		name   string
		dropIn bool
	}{
		{"drop-in", true},
		{"no drop-in", false},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testNetworkd(t, tc.dropIn, root)
		})
	}
}

func testNetworkd(t *testing.T, dropIn bool, root string) {
	requireRootWith(t, "systemd", "/lib/systemd/systemd-networkd", "networkctl")
	testns.RequirePrograms(t, "networkd-dispatcher", "networkd-dispatcher")
	dir := networkdStackDir(t, dropIn)
	r := newDispatcherRun(t, "networkd", dir, "testdata/networkd/start.sh", root)
	h, st := r.h, r.st
	if v := st.mustExec("/lib/systemd/systemd-networkd", "--version"); root != "" && !strings.HasPrefix(v, "systemd 257") {
		t.Fatalf("systemd-networkd --version in the Debian 13 root: want 257, got %q", v)
	}

	// --status warns of a networkd that deletes our rules, and of a
	// drop-in written since it started.
	status := func() string {
		return st.mustExec("/usr/sbin/symroute-sync", "--status", "--config", h.emptyConfig())
	}
	const without = "warning: systemd-networkd runs without ManageForeignRoutingPolicyRules=no"
	if got := strings.Contains(status(), without); got == dropIn {
		t.Errorf("drop-in %v: networkd warning given %v:\n%s", dropIn, got, status())
	}
	if !dropIn {
		mkdirs(t, filepath.Join(dir, "run", "systemd", "networkd.conf.d"))
		copyFile(t, repoFile("networkd-dispatcher", "symroute-networkd.conf"), filepath.Join(dir, "run", "systemd", "networkd.conf.d", "symroute.conf"), 0o644)
		out := status()
		if strings.Contains(out, without) || !strings.Contains(out, "warning: systemd-networkd started before /run/systemd/networkd.conf.d/symroute.conf set ManageForeignRoutingPolicyRules=no") {
			t.Errorf("with a drop-in written since networkd started, not the warning that says so:\n%s", out)
		}
		if err := os.Remove(filepath.Join(dir, "run", "systemd", "networkd.conf.d", "symroute.conf")); err != nil {
			t.Fatal(err)
		}
	}

	// On reconfigure, networkd 252 drops em2's DHCP address (which takes
	// its routes in every table with it) and, without the drop-in, every
	// rule it did not make, em1's included; networkd-dispatcher reports
	// em2's states, and the passes they start put everything back.
	from := r.do("networkctl", "reconfigure", "em2")
	waitFor(t, "after `networkctl reconfigure em2`, a hook call for em2 and em2 mirrored", daemonTimeout, st.running(func() error {
		if !st.hookCalledFor(from, "em2") {
			return fmt.Errorf("no hook call for em2 yet")
		}
		return mirroredEm(h)
	}))
	st.waitHooksIdle()
	if err := mirroredEm(h); err != nil {
		t.Fatalf("after `networkctl reconfigure em2` and its hooks: %v", err)
	}
	assertStackSymmetric(t, r.net)
	r.measure(from, "reconfigure em2", r.t2, regexp.MustCompile(`\bem2\b`))
	// What the drop-in is for: networkd left em1's rule alone.
	em1Rule := regexp.MustCompile(`^Deleted .*\blookup ` + r.t1 + `\b`)
	switch gone := r.m.since(from, em1Rule); {
	case dropIn && len(gone) > 0:
		t.Errorf("with the drop-in, `networkctl reconfigure em2` removed em1's rule: %q", gone[0].text)
	case !dropIn && len(gone) > 0:
		t.Logf("without the drop-in, `networkctl reconfigure em2` removed em1's rule (%q); a pass put it back", gone[0].text)
		r.measure(from, "reconfigure em2, em1's rule", r.t1, em1Rule)
	case !dropIn:
		t.Logf("without the drop-in, `networkctl reconfigure em2` left em1's rule alone")
	}

	r.em2Gone(false, "networkctl", "down", "em2")
	st.waitHooksIdle()
	r.em2Back("networkctl", "up", "em2")
}
