package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// networkdStates are the networkd-dispatcher state directories our script
// is installed in: those where a link's addresses or routes appear or go.
var networkdStates = []string{"routable", "degraded", "configured", "no-carrier", "off", "carrier"}

// TestNetworkdDispatcher runs systemd-networkd on HOST's em1 and em2 (DHCP
// from dnsmasq on both uplinks) with networkd-dispatcher on a private
// system bus, our script installed as packaged in
// /usr/lib/networkd-dispatcher/STATE.d/50-symroute, and our drop-in as
// /usr/lib/systemd/networkd.conf.d/symroute.conf or, as on a host where
// symroute was installed since networkd last started, not yet read. Every
// pass is one the script started: the test itself runs none.
func TestNetworkdDispatcher(t *testing.T) {
	t.Parallel()
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
			testNetworkd(t, tc.dropIn)
		})
	}
}

func testNetworkd(t *testing.T, dropIn bool) {
	requireRoot(t)
	testns.RequirePrograms(t, "systemd", "/lib/systemd/systemd-networkd", "networkctl")
	testns.RequirePrograms(t, "networkd-dispatcher", "networkd-dispatcher")
	net := newHookNet(t)
	h := net.host
	dir := networkdStackDir(t, dropIn)
	m := startMonitor(t, h)
	t1, t2 := h.table("em1"), h.table("em2")
	var lat []stackLatency

	from := time.Now()
	st := startHookStack(t, h, dir, "testdata/networkd/start.sh")
	defer func(start time.Time) { logHookLatencies(t, st, lat); logHookTimeline(t, st, m, start) }(from)
	st.waitFor("networkd brings em1 and em2 up by DHCP and the hook mirrors them", func() error {
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

	// On reconfigure, networkd 252 drops em2's DHCP address (which takes
	// its routes in every table with it) and, without the drop-in, every
	// rule it did not make, em1's included; networkd-dispatcher reports
	// em2's states, and the passes they start put everything back.
	from = time.Now()
	st.mustExec("networkctl", "reconfigure", "em2")
	st.waitFor("after `networkctl reconfigure em2`, a hook call for em2 and em2 mirrored", func() error {
		if !hookCalledFor(st, from, "em2") {
			return fmt.Errorf("no hook call for em2 yet")
		}
		return mirroredEm(h)
	})
	st.waitHooksIdle()
	if err := mirroredEm(h); err != nil {
		t.Fatalf("after `networkctl reconfigure em2` and its hooks: %v", err)
	}
	assertStackSymmetric(t, net)
	lat = append(lat, hookConvergence(t, st, m, from, "reconfigure em2", t2, regexp.MustCompile(`\bem2\b`))...)
	// What the drop-in is for: networkd left em1's rule alone.
	em1Rule := regexp.MustCompile(`^Deleted .*\blookup ` + t1 + `\b`)
	switch gone := m.since(from, em1Rule); {
	case dropIn && len(gone) > 0:
		t.Errorf("with the drop-in, `networkctl reconfigure em2` removed em1's rule: %q", gone[0].text)
	case !dropIn && len(gone) > 0:
		t.Logf("without the drop-in, `networkctl reconfigure em2` removed em1's rule (%q); a pass put it back", gone[0].text)
		lat = append(lat, hookConvergence(t, st, m, from, "reconfigure em2, em1's rule", t1, em1Rule)...)
	case !dropIn:
		t.Logf("without the drop-in, `networkctl reconfigure em2` left em1's rule alone")
	}

	from = time.Now()
	st.mustExec("networkctl", "down", "em2")
	st.waitFor("after `networkctl down em2`, em2's rule and table are gone", func() error {
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
	lat = append(lat, hookConvergence(t, st, m, from, "down em2", t2, addrEventRe("em2"))...)
	st.waitHooksIdle()

	from = time.Now()
	st.mustExec("networkctl", "up", "em2")
	st.waitFor("after `networkctl up em2`, em2 is mirrored again", func() error {
		if a, err := globalAddrs4(h, "em2"); err != nil || len(a) == 0 {
			return fmt.Errorf("em2 has no IPv4 address yet (%v)", err)
		}
		return mirroredEm(h)
	})
	assertStackSymmetric(t, net)
	lat = append(lat, hookConvergence(t, st, m, from, "up em2", t2, addrEventRe("em2"))...)
}

// hookCalledFor says whether a hook call for link started since from.
func hookCalledFor(s *hookStack, from time.Time, link string) bool {
	for _, c := range s.hookCalls() {
		if !c.end && !c.at.Before(from) && strings.HasSuffix(c.args, " "+link) {
			return true
		}
	}
	return false
}

// networkdStackDir prepares testdata/networkd/start.sh's directory: the
// .network files in the private /run, the bus configuration, our drop-in
// as installed if dropIn, and networkd-dispatcher's state directories
// (exactly 0755, root:root, as it demands) holding 50-symroute as packaged
// between the test's 00-log and 99-log.
func networkdStackDir(t *testing.T, dropIn bool) string {
	t.Helper()
	dir := hookStackDir(t)
	for _, d := range []string{"conf", "run/systemd/network", "usr-lib-systemd/networkd.conf.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyStackFile(t, filepath.Join("testdata", "networkd", "dbus.conf"), filepath.Join(dir, "conf", "dbus.conf"), 0o644)
	for _, f := range []string{"50-em1.network", "50-em2.network"} {
		copyStackFile(t, filepath.Join("testdata", "networkd", f), filepath.Join(dir, "run", "systemd", "network", f), 0o644)
	}
	if dropIn {
		conf := filepath.Join("..", "networkd-dispatcher", "symroute-networkd.conf")
		copyStackFile(t, conf, filepath.Join(dir, "usr-lib-systemd", "networkd.conf.d", "symroute.conf"), 0o644)
	}
	for _, state := range networkdStates {
		d := filepath.Join(dir, "networkd-dispatcher", state+".d")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{d, filepath.Dir(d)} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		copyStackFile(t, filepath.Join("testdata", "networkd", "00-log"), filepath.Join(d, "00-log"), 0o755)
		copyStackFile(t, filepath.Join("testdata", "networkd", "99-log"), filepath.Join(d, "99-log"), 0o755)
		installHookAsPackaged(t, filepath.Join("..", "networkd-dispatcher", "50-symroute"), filepath.Join(d, "50-symroute"))
	}
	return dir
}
