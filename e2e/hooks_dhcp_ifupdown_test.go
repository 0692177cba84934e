package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// TestHookIfupdown runs ifupdown's ifup and ifdown on two static uplinks
// (a gateway each, with a metric: without one the second gateway's route
// fails and ifup gives up before its post-up hooks) with our script
// installed byte for byte in the private /etc/network/if-up.d and
// if-post-down.d, as run-parts runs it.
func TestHookIfupdown(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	testns.RequirePrograms(t, "", "ifup", "ifdown", "unshare", "run-parts")
	ifup, _ := exec.LookPath("ifup")
	ifdown, _ := exec.LookPath("ifdown")
	tag := randomTag()
	h := newNS(t, tag, "host")
	for i, net := range []string{"10.0.0.1/16", "192.168.0.1/24"} {
		u := newNS(t, tag, fmt.Sprintf("up%d", i+1))
		veth(t, h, fmt.Sprintf("em%d", i+1), "", u, "up0", net)
		u.ip("addr", "add", dhcpRemote+"/32", "dev", "lo")
		u.sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.up0.rp_filter=1")
	}
	r := newDhcpRoot(t, syncBin)
	if err := os.MkdirAll(filepath.Join(r.dir, "run", "network"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"} {
		dir := filepath.Join(r.dir, "etc.upper", "network", d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if d != "if-up.d" && d != "if-post-down.d" {
			continue
		}
		dhcpWriteHook(t, dir, "00-begin", "#!/bin/sh\n"+`echo "$(date +%s.%N) begin reason=$PHASE interface=$IFACE" >> /run/hook.log`+"\n", 0o755)
		dhcpInstall(t, "dhcp-hooks/ifupdown-hook", dir, "symroute", 0o755)
		dhcpWriteHook(t, dir, "zz-end", "#!/bin/sh\n"+`echo "$(date +%s.%N) end reason=$PHASE interface=$IFACE" >> /run/hook.log`+"\n", 0o755)
	}
	ifaces := filepath.Join(r.dir, "interfaces")
	dhcpWriteHook(t, r.dir, "interfaces", `iface em1 inet static
	address 10.0.0.2/16
	gateway 10.0.0.1
	metric 100

iface em2 inet static
	address 192.168.0.2/24
	gateway 192.168.0.1
	metric 200
`, 0o644)
	seen := map[string]int{}
	var lat []string
	do := func(t *testing.T, prog, iface, phase string) {
		t.Helper()
		if res := r.run(t, h, nil, prog, "-i", ifaces, iface); res.code != 0 {
			t.Fatalf("%s %s: %s", filepath.Base(prog), iface, res)
		}
		b, e := r.waitEvent(t, seen, iface, phase)
		lat = append(lat, fmt.Sprintf("%s %s: hooks done %v after run-parts began them", iface, phase, e.at.Sub(b.at).Round(time.Millisecond)))
	}
	// ifup and ifdown return after their hooks: the kernel must be in
	// sync at once, not eventually.
	inSync := func(t *testing.T, rules []string, defaults map[string]string) {
		t.Helper()
		if diff := cmp.Diff(sorted(rules), dhcpOurRules(h)); diff != "" {
			t.Errorf("rules at 32765 (-want +got):\n%s", diff)
		}
		for _, l := range []string{"em1", "em2"} {
			if got := dhcpDefaultOf(h.routes("4", h.table(l)), l); got != defaults[l] {
				t.Errorf("table %s (%s): default %q, want %q", h.table(l), l, got, defaults[l])
			}
		}
	}
	t1, t2 := h.table("em1"), h.table("em2")
	t.Run("ifup", func(t *testing.T) {
		do(t, ifup, "em1", "post-up")
		do(t, ifup, "em2", "post-up")
		inSync(t, []string{"32765: from 10.0.0.2 lookup " + t1 + " proto 234", "32765: from 192.168.0.2 lookup " + t2 + " proto 234"},
			map[string]string{"em1": "default via 10.0.0.1 dev em1", "em2": "default via 192.168.0.1 dev em2"})
		mustPing(t, h, "10.0.0.2", dhcpRemote)
		mustPing(t, h, "192.168.0.2", dhcpRemote)
	})
	t.Run("ifdown", func(t *testing.T) {
		do(t, ifdown, "em2", "post-down")
		inSync(t, []string{"32765: from 10.0.0.2 lookup " + t1 + " proto 234"},
			map[string]string{"em1": "default via 10.0.0.1 dev em1"})
		mustPing(t, h, "10.0.0.2", dhcpRemote)
		if res := r.check(t, h); res.code != 0 {
			t.Errorf("--check after ifdown: %s", res)
		}
	})
	for _, l := range lat {
		t.Log(l)
	}
}
