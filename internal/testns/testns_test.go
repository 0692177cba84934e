package testns_test

import (
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/symroute/symroute/internal/testns"
)

// What a test does in its namespace stays there, by Run and by Do.
func TestIsolation(t *testing.T) {
	ns := testns.New(t)
	testns.Run(t, ns, "ip", "link", "add", "tnsprobe0", "type", "veth", "peer", "name", "tnsprobe1")
	err := testns.Do(ns, func() error {
		_, err := netlink.LinkByName("tnsprobe1")
		return err
	})
	if err != nil {
		t.Errorf("link made by Run not seen by Do: %v", err)
	}
	if out := testns.Run(t, ns, "ip", "-o", "link", "show"); !strings.Contains(out, "tnsprobe0") || !strings.Contains(out, "lo: <LOOPBACK,UP") {
		t.Errorf("namespace links:\n%s", out)
	}
	for _, name := range []string{"tnsprobe0", "tnsprobe1"} {
		if _, err := net.InterfaceByName(name); err == nil {
			t.Errorf("link %s leaked into the test's own namespace", name)
		}
	}
	other := testns.New(t)
	if out := testns.Run(t, other, "ip", "-o", "link", "show"); strings.Contains(out, "tnsprobe") {
		t.Errorf("a second namespace sees the first's links:\n%s", out)
	}
}

// A handle that is not an open namespace makes Command fail rather than
// run in the caller's namespace.
func TestCommandNeedsNamespace(t *testing.T) {
	testns.RequireRoot(t)
	if out, err := testns.Command(-1, "true").CombinedOutput(); err == nil {
		t.Errorf("command ran without a namespace: %s", out)
	}
}
