package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// TestHookDhcpcd runs dhcpcd on two uplinks with its own dhcpcd-run-hooks
// and our hook installed byte for byte in the private dhcpcd-hooks
// directory: bring-up, one interface losing its carrier and getting it
// back, then dhcpcd stopping.
func TestHookDhcpcd(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	testns.RequirePrograms(t, "", "dhcpcd", "dnsmasq", "unshare", "nsenter")
	d := newDhcpNet(t, false)
	r := newDhcpRoot(t, syncBin)
	hooks := r.hookDir("/usr/lib/dhcpcd/dhcpcd-hooks")
	dhcpWriteHook(t, hooks, "00-begin", dhcpLogBegin, 0o644)
	dhcpInstall(t, "dhcp-hooks/dhcpcd-hook", hooks, "70-symroute", 0o644)
	dhcpWriteHook(t, hooks, "99-end", dhcpLogEnd, 0o644)
	conf := filepath.Join(r.dir, "dhcpcd.conf")
	dhcpWriteHook(t, r.dir, "dhcpcd.conf", "nodev\nipv4only\nnoarp\nnoipv4ll\nnodelay\n"+
		"option classless_static_routes, interface_mtu\n"+
		"nooption domain_name_servers, domain_name, domain_search, host_name\n", 0o644)
	p := startDhcpProc(t, "dhcpcd", r.command(d.host, "dhcpcd", "-M", "-B", "-d", "-f", conf, "em1", "em2"))
	// dhcpcd -x is told through dhcpcd's control socket in its private
	// /run: enter its namespaces to reach it.
	ctl := func(t *testing.T, args ...string) {
		t.Helper()
		argv := append([]string{"-t", strconv.Itoa(p.cmd.Process.Pid), "-m", "-n", "-u", "dhcpcd"}, args...)
		if res := runResult(t, exec.Command("nsenter", argv...)); res.code != 0 {
			out, _ := exec.Command("ls", "-laR", r.runPath("/run/dhcpcd")).CombinedOutput()
			t.Fatalf("dhcpcd %v: %s\n/run/dhcpcd:\n%s", args, res, out)
		}
	}
	h := d.host
	var lat []string
	seen := map[string]int{}
	wait := func(t *testing.T, iface string, reasons ...string) {
		t.Helper()
		b, e := r.waitEvent(t, seen, iface, reasons...)
		lat = append(lat, fmt.Sprintf("%s %s: hooks done %v after dhcpcd-run-hooks began them", iface, e.reason, e.at.Sub(b.at).Round(time.Millisecond)))
	}
	converged := func(t *testing.T, what string, links ...string) {
		t.Helper()
		dhcpWaitFor(t, what, func() error {
			var want []string
			for _, l := range links {
				a := d.addr4(l)
				if a == "" {
					return fmt.Errorf("%s has no address", l)
				}
				want = append(want, "32765: from "+a+" lookup "+h.table(l)+" proto 234")
			}
			if got := dhcpOurRules(h); fmt.Sprint(got) != fmt.Sprint(sorted(want)) {
				return fmt.Errorf("rules at 32765: %q, want %q", got, sorted(want))
			}
			for i, l := range []string{"em1", "em2"} {
				want := ""
				if contains(links, l) {
					want = "default via " + dhcpUplinks[i].router + " dev " + l
				}
				if got := dhcpDefaultOf(h.routes("4", h.table(l)), l); got != want {
					return fmt.Errorf("table %s (%s): default %q, want %q", h.table(l), l, got, want)
				}
			}
			return nil
		})
	}
	t.Run("bring-up", func(t *testing.T) {
		wait(t, "em1", "BOUND", "REBOOT")
		wait(t, "em2", "BOUND", "REBOOT")
		converged(t, "after both binds", "em1", "em2")
		mustPing(t, h, d.addr4("em1"), dhcpRemote)
		mustPing(t, h, d.addr4("em2"), dhcpRemote)
		if res := r.check(t, h); res.code != 0 {
			t.Errorf("--check after bring-up: %s", res)
		}
	})
	t.Run("carrier lost and back", func(t *testing.T) {
		// dhcpcd 9 answers "not running" to `dhcpcd -x em2` when it
		// manages several interfaces; a lost carrier is what makes it
		// drop one interface's lease there.
		a1 := d.addr4("em1")
		d.up[1].ip("link", "set", "up0", "down")
		wait(t, "em2", "NOCARRIER")
		converged(t, "after em2 lost its carrier", "em1")
		mustPing(t, h, a1, dhcpRemote)
		d.up[1].ip("link", "set", "up0", "up")
		wait(t, "em2", "BOUND", "REBOOT")
		converged(t, "after em2's carrier came back", "em1", "em2")
		mustPing(t, h, d.addr4("em2"), dhcpRemote)
	})
	t.Run("stop dhcpcd", func(t *testing.T) {
		ctl(t, "-x")
		wait(t, "em1", "STOP", "STOPPED", "RELEASE", "EXPIRE")
		converged(t, "after dhcpcd -x")
		if res := r.check(t, h); res.code != 0 {
			t.Errorf("--check after stop: %s", res)
		}
	})
	for _, l := range lat {
		t.Log(l)
	}
	if t.Failed() {
		t.Logf("dhcpcd's output:\n%s", p.output())
	}
}
