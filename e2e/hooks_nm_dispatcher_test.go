package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// TestNMDispatcher runs NetworkManager 1.42 on HOST's em1 and em2 (DHCP
// from dnsmasq on both uplinks) with nm-dispatcher D-Bus-activated on a
// private system bus, and our dispatcher script installed as packaged, at
// /usr/lib/NetworkManager/dispatcher.d/90-symroute, with nothing in
// /etc/NetworkManager/dispatcher.d. Every pass is one the script started:
// the test itself runs none.
func TestNMDispatcher(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	testns.RequirePrograms(t, "network-manager", "NetworkManager", "nmcli", "/usr/lib/NetworkManager/nm-dispatcher")
	net := newHookNet(t)
	h := net.host
	dir := nmStackDir(t)
	m := startMonitor(t, h)
	t1, t2 := h.table("em1"), h.table("em2")
	var lat []stackLatency

	from := time.Now()
	st := startHookStack(t, h, dir, "testdata/nm/start.sh")
	defer func(start time.Time) { logHookLatencies(t, st, lat); logHookTimeline(t, st, m, start) }(from)
	st.waitFor("NetworkManager brings em1 and em2 up by DHCP and the hook mirrors them", func() error {
		for _, link := range []string{"em1", "em2"} {
			if a, err := globalAddrs4(h, link); err != nil || len(a) == 0 {
				return fmt.Errorf("%s has no IPv4 address yet (%v)", link, err)
			}
		}
		return mirroredEm(h)
	})
	assertStackSymmetric(t, net)
	st.assertPrivateLock()
	lat = append(lat, hookConvergence(t, st, m, from, "bring-up em1", t1, addrEventRe("em1"))...)
	lat = append(lat, hookConvergence(t, st, m, from, "bring-up em2", t2, addrEventRe("em2"))...)

	st.waitHooksIdle()
	// Without its rule, the address main does not prefer is unreachable
	// through the strict routers; `nmcli device reapply` makes NM call the
	// hook with "reapply", and the pass puts the rule back.
	p := otherUplink(preferredUplink(t, h))
	a, err := globalAddrs4(h, p)
	if err != nil || len(a) != 1 {
		t.Fatalf("%s: want one IPv4 address, got %v (%v)", p, a, err)
	}
	h.ip("rule", "del", "priority", "32765", "from", a[0], "lookup", h.table(p))
	mustNotPing(t, net.client, "", a[0])
	from = time.Now()
	st.mustExec("nmcli", "device", "reapply", p)
	st.waitFor("the hook restores "+p+"'s rule on reapply", func() error { return mirroredEm(h) })
	assertStackSymmetric(t, net)
	lat = append(lat, hookConvergence(t, st, m, from, "reapply "+p, h.table(p), nil)...)

	from = time.Now()
	st.mustExec("nmcli", "device", "disconnect", "em2")
	st.waitFor("after `nmcli device disconnect em2`, em2's rule and table are gone", func() error {
		if a, err := globalAddrs4(h, "em2"); err != nil || len(a) > 0 {
			return fmt.Errorf("em2 still has %v (%v)", a, err)
		}
		if r := h.routes("4", t2); len(r) > 0 {
			return fmt.Errorf("table %s still holds %q", t2, r)
		}
		for _, r := range h.rules("4") {
			if strings.HasSuffix(r, " lookup "+t2+" proto 234") {
				return fmt.Errorf("rule %q is still there", r)
			}
		}
		return mirroredEm(h)
	})
	a1, _ := globalAddrs4(h, "em1")
	for _, a := range a1 {
		mustPing(t, net.client, "", a)
	}
	lat = append(lat, hookConvergence(t, st, m, from, "disconnect em2", t2, addrEventRe("em2"))...)

	from = time.Now()
	st.mustExec("nmcli", "device", "connect", "em2")
	st.waitFor("after `nmcli device connect em2`, em2 is mirrored again", func() error {
		if a, err := globalAddrs4(h, "em2"); err != nil || len(a) == 0 {
			return fmt.Errorf("em2 has no IPv4 address yet (%v)", err)
		}
		return mirroredEm(h)
	})
	assertStackSymmetric(t, net)
	lat = append(lat, hookConvergence(t, st, m, from, "connect em2", t2, addrEventRe("em2"))...)
}

// nmStackDir prepares testdata/nm/start.sh's directory: NetworkManager's
// configuration and keyfiles, the bus configuration with nm-dispatcher's
// activation file, and the hook directory holding 90-symroute as packaged
// between the test's 00-log and 99-log.
func nmStackDir(t *testing.T) string {
	t.Helper()
	dir := hookStackDir(t)
	for _, d := range []string{"conf/conf.d", "conf/sysconf.d", "dispatcher.d", "connections", "varlib", "run/symtest/dbus-services"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{
		"dbus.conf":                             "conf/dbus.conf",
		"NetworkManager.conf":                   "conf/NetworkManager.conf",
		"org.freedesktop.nm_dispatcher.service": "run/symtest/dbus-services/org.freedesktop.nm_dispatcher.service",
		"em1.nmconnection":                      "connections/em1.nmconnection", // NM ignores keyfiles others can read
		"em2.nmconnection":                      "connections/em2.nmconnection",
		"00-log":                                "dispatcher.d/00-log",
		"99-log":                                "dispatcher.d/99-log",
	} {
		mode := os.FileMode(0o644)
		switch {
		case strings.HasSuffix(src, ".nmconnection"):
			mode = 0o600
		case strings.HasSuffix(src, "-log"):
			mode = 0o755
		}
		copyStackFile(t, filepath.Join("testdata", "nm", src), filepath.Join(dir, dst), mode)
	}
	installHookAsPackaged(t, filepath.Join("..", "nm-dispatcher", "90-symroute"), filepath.Join(dir, "dispatcher.d", "90-symroute"))
	return dir
}

func copyStackFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}
