package e2e

// NetworkManager's dispatcher runs our 90-symroute as packaged: every pass
// is one the script started.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNMDispatcher runs NetworkManager 1.42 on HOST's em1 and em2 (DHCP
// from dnsmasq on both uplinks) with nm-dispatcher D-Bus-activated on a
// private system bus, and our dispatcher script installed as packaged, at
// /usr/lib/NetworkManager/dispatcher.d/90-symroute, with nothing in
// /etc/NetworkManager/dispatcher.d. Every pass is one the script started:
// the test itself runs none.
func TestNMDispatcher(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "network-manager", "NetworkManager", "nmcli", "/usr/lib/NetworkManager/nm-dispatcher")
	nmDispatcher(t, "")
}

// TestNMDispatcher152 is TestNMDispatcher with Debian 13's NetworkManager
// 1.52 and its nm-dispatcher, chrooted from a Debian 13 root.
func TestNMDispatcher152(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	nmDispatcher(t, trixieRoot(t))
}

func nmDispatcher(t *testing.T, root string) {
	r := newDispatcherRun(t, "NetworkManager", nmStackDir(t, root), "testdata/nm/start.sh", root)
	h := r.h
	if v := r.st.mustExec("NetworkManager", "--version"); root != "" && !strings.HasPrefix(v, "1.52") {
		t.Fatalf("NetworkManager --version in the Debian 13 root: want 1.52, got %q", v)
	}

	// Without its rule, the address main does not prefer is unreachable
	// through the strict routers; `nmcli device reapply` makes NM call the
	// hook with "reapply", and the pass puts the rule back.
	p := otherUplink(preferredUplink(t, h))
	a, err := h.addrs4(p)
	if err != nil || len(a) != 1 {
		t.Fatalf("%s: want one IPv4 address, got %v (%v)", p, a, err)
	}
	h.ip("rule", "del", "priority", "32765", "from", a[0], "lookup", h.table(p))
	mustNotPing(t, r.net.client, "", a[0])
	from := r.do("nmcli", "device", "reapply", p)
	waitFor(t, "the hook restores "+p+"'s rule on reapply", daemonTimeout, r.st.running(func() error { return mirroredEm(h) }))
	assertStackSymmetric(t, r.net)
	r.measure(from, "reapply "+p, h.table(p), nil)

	r.em2Gone(true, "nmcli", "device", "disconnect", "em2")
	r.em2Back("nmcli", "device", "connect", "em2")

	// --status warns of a connection with a route table of its own, and
	// stops when it has none again.
	const warning = "warning: NetworkManager connection 'em2' on em2 has ipv4.route-table 100"
	status := func() string {
		return r.st.mustExec("/usr/sbin/symroute-sync", "--status", "--config", h.emptyConfig())
	}
	if out := status(); strings.Contains(out, "NetworkManager connection") {
		t.Errorf("a NetworkManager warning before any connection has its own table:\n%s", out)
	}
	r.do("nmcli", "connection", "modify", "em2", "ipv4.route-table", "100")
	if out := status(); !strings.Contains(out, warning) {
		t.Errorf("no %q:\n%s", warning, out)
	}
	r.do("nmcli", "connection", "modify", "em2", "ipv4.route-table", "0")
	if out := status(); strings.Contains(out, "NetworkManager connection") {
		t.Errorf("a NetworkManager warning once the connection has no table of its own:\n%s", out)
	}

	// A DHCP renewal (at half the 2-minute lease) that brings a new router.
	// NetworkManager 1.52 runs the dispatcher's dhcp4-change for it and the
	// hook's pass mirrors it; 1.42 runs no script at all, and only the
	// timer or the listener would.
	r.net.r2.ip("addr", "add", "192.168.0.254/24", "dev", "up0")
	r.net.startDnsmasq(1, "192.168.0.254")
	from = time.Now()
	waitFor(t, "the renewal's new router in main", 3*time.Minute, r.st.running(func() error {
		if main := h.routes("4", "main"); !containsPrefix(main, "default via 192.168.0.254 dev em2 ") {
			return fmt.Errorf("main: %v", main)
		}
		return nil
	}))
	renewed := func() bool {
		for _, c := range r.st.hookCalls() {
			if !c.end && !c.at.Before(from) && strings.Contains(c.args, "em2") && strings.Contains(c.args, "dhcp4-change") {
				return true
			}
		}
		return false
	}
	if root == "" {
		r.st.waitHooksIdle()
		if renewed() {
			t.Errorf("NetworkManager 1.42 ran the dispatcher's dhcp4-change on a renewal: the README says it runs nothing")
		}
		if err := listenMirrored(h, "em2", "192.168.0.1")(); err != nil {
			t.Errorf("with no hook run, em2's table should keep the old router until the timer's pass: %v", err)
		}
		return
	}
	waitFor(t, "the hook's pass mirrors the renewal's new router", daemonTimeout, r.st.running(listenMirrored(h, "em2", "192.168.0.254")))
	if !renewed() {
		t.Errorf("NetworkManager 1.52 mirrored the renewal without a dhcp4-change hook call: %v", r.st.hookCalls())
	}
	assertStackSymmetric(t, r.net)
}
