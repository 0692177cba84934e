package e2e

// ifupdown's ifup and ifdown with our script in if-up.d and if-post-down.d.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestHookIfupdown runs ifupdown's ifup and ifdown on two static uplinks
// (a gateway each, with a metric: without one the second gateway's route
// fails and ifup gives up before its post-up hooks) with our script
// installed byte for byte in the private /etc/network/if-up.d and
// if-post-down.d, as run-parts runs it.
func TestHookIfupdown(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "ifup", "ifdown", "unshare", "run-parts")
	ifup, _ := exec.LookPath("ifup")
	ifdown, _ := exec.LookPath("ifdown")
	s := newUplinks(t)
	h := s.host
	r := newDhcpRoot(t, syncBin)
	mkdirs(t, r.dir, "run/network")
	for _, d := range []string{"if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"} {
		dir := r.etcDir(filepath.Join("network", d))
		if d != "if-up.d" && d != "if-post-down.d" {
			continue
		}
		writeFile(t, filepath.Join(dir, "00-begin"), "#!/bin/sh\n"+hookLog("begin", "$PHASE", "$IFACE"), 0o755)
		copyFile(t, repoFile("dhcp-hooks", "ifupdown-hook"), filepath.Join(dir, "symroute"), 0o755)
		writeFile(t, filepath.Join(dir, "zz-end"), "#!/bin/sh\n"+hookLog("end", "$PHASE", "$IFACE"), 0o755)
	}
	ifaces := filepath.Join(r.dir, "interfaces")
	writeFile(t, ifaces, `iface em1 inet static
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
	inSync := func(t *testing.T, w dhWant) {
		t.Helper()
		if err := converged(h, w); err != nil {
			t.Error(err)
		}
	}
	t.Run("ifup", func(t *testing.T) {
		do(t, ifup, "em1", "post-up")
		do(t, ifup, "em2", "post-up")
		inSync(t, bothBound("10.0.0.2", "192.168.0.2", "192.168.0.1"))
		mustPing(t, h, "10.0.0.2", remote)
		mustPing(t, h, "192.168.0.2", remote)
	})
	t.Run("ifdown", func(t *testing.T) {
		do(t, ifdown, "em2", "post-down")
		inSync(t, dhWant{addrs: map[string]string{"em1": "10.0.0.2"}, routers: map[string]string{"em1": "10.0.0.1"}})
		mustPing(t, h, "10.0.0.2", remote)
		r.assertChecked(t, h, "after ifdown")
	})
	for _, l := range lat {
		t.Log(l)
	}
}
