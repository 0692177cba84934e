package e2e

// dhcpcd with its own dhcpcd-run-hooks and our hook.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHookDhcpcd runs dhcpcd on two uplinks with its own dhcpcd-run-hooks
// and our hook installed byte for byte in the private dhcpcd-hooks
// directory: bring-up, one interface losing its carrier and getting it
// back, then dhcpcd stopping.
func TestHookDhcpcd(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dhcpcd", "dnsmasq", "unshare", "nsenter")
	hookDhcpcd(t, "")
}

// TestHookDhcpcd10 is TestHookDhcpcd with Debian 13's dhcpcd 10, chrooted
// from a Debian 13 root.
func TestHookDhcpcd10(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dnsmasq", "unshare", "nsenter")
	hookDhcpcd(t, trixieRoot(t))
}

func hookDhcpcd(t *testing.T, osRoot string) {
	d := newDHCPNet(t, false)
	r := newDhcpRootIn(t, syncBin, osRoot)
	// The dhcpcd under test is the root's.
	if v := r.run(t, d.host, nil, "dhcpcd", "--version"); osRoot != "" && !strings.HasPrefix(v.stdout, "dhcpcd 10.") {
		t.Fatalf("dhcpcd --version in the Debian 13 root: want dhcpcd 10, got %s", v)
	}
	p := startDhcpcd(t, r, d.host, "")
	ctl := func(t *testing.T, args ...string) { t.Helper(); dhcpcdCtl(t, r, p, args...) }
	h := d.host
	var lat []string
	seen := map[string]int{}
	wait := func(t *testing.T, iface string, reasons ...string) {
		t.Helper()
		b, e := r.waitEvent(t, seen, iface, reasons...)
		lat = append(lat, fmt.Sprintf("%s %s: hooks done %v after dhcpcd-run-hooks began them", iface, e.reason, e.at.Sub(b.at).Round(time.Millisecond)))
	}
	// bound waits until exactly links are bound and mirrored, each
	// table's default its uplink's router.
	bound := func(t *testing.T, what string, links ...string) {
		t.Helper()
		waitFor(t, what, dhcpHookTimeout, func() error {
			w := dhWant{addrs: map[string]string{}, routers: map[string]string{}}
			for _, u := range uplinkNets {
				if !contains(links, u.link) {
					continue
				}
				if w.addrs[u.link] = h.addr4(u.link); w.addrs[u.link] == "" {
					return fmt.Errorf("%s has no address", u.link)
				}
				w.routers[u.link] = u.gw
			}
			return converged(h, w)
		})
	}
	t.Run("bring-up", func(t *testing.T) {
		wait(t, "em1", "BOUND", "REBOOT")
		wait(t, "em2", "BOUND", "REBOOT")
		bound(t, "after both binds", "em1", "em2")
		d.pingRemote(t, "em1")
		d.pingRemote(t, "em2")
		r.assertChecked(t, h, "after bring-up")
	})
	t.Run("carrier lost and back", func(t *testing.T) {
		// dhcpcd 9 answers "not running" to `dhcpcd -x em2` when it
		// manages several interfaces; a lost carrier is what makes it
		// drop one interface's lease there.
		a1 := h.addr4("em1")
		d.r2.ip("link", "set", "up0", "down")
		wait(t, "em2", "NOCARRIER")
		bound(t, "after em2 lost its carrier", "em1")
		mustPing(t, h, a1, remote)
		d.r2.ip("link", "set", "up0", "up")
		wait(t, "em2", "BOUND", "REBOOT")
		bound(t, "after em2's carrier came back", "em1", "em2")
		d.pingRemote(t, "em2")
	})
	// dhcpcd 10 runs the hooks with STOP, then STOPPED, for a release.
	// dhcpcd 9 answers "not running" to `-k em2` when it manages several
	// interfaces, as to `-x em2`: only dhcpcd 10 releases em2 alone.
	if osRoot != "" {
		t.Run("release em2 (dhcpcd -k)", func(t *testing.T) {
			ctl(t, "-k", "em2")
			wait(t, "em2", "RELEASE", "STOP", "STOPPED")
			bound(t, "after em2's release", "em1")
			d.pingRemote(t, "em1")
		})
	}
	t.Run("stop dhcpcd", func(t *testing.T) {
		ctl(t, "-x")
		wait(t, "em1", "STOP", "STOPPED", "RELEASE", "EXPIRE")
		bound(t, "after dhcpcd -x")
		r.assertChecked(t, h, "after stop")
	})
	for _, l := range lat {
		t.Log(l)
	}
}

// startDhcpcd runs dhcpcd on em1 and em2 inside r, with our hook installed
// as packaged between the tests' own logging hooks (dhcpLogBegin,
// dhcpLogEnd), and extra added to the tests' dhcpcd.conf.
func startDhcpcd(t *testing.T, r *dhcpRoot, h *ns, extra string) *daemon {
	t.Helper()
	hooks := r.hookDir("/usr/lib/dhcpcd/dhcpcd-hooks")
	writeFile(t, filepath.Join(hooks, "00-begin"), dhcpLogBegin, 0o644)
	copyFile(t, repoFile("dhcp-hooks", "dhcpcd-hook"), filepath.Join(hooks, "70-symroute"), 0o644)
	writeFile(t, filepath.Join(hooks, "99-end"), dhcpLogEnd, 0o644)
	conf := filepath.Join(r.dir, "dhcpcd.conf")
	writeFile(t, conf, "nodev\nipv4only\nnoarp\nnoipv4ll\nnodelay\n"+
		"option classless_static_routes, interface_mtu\n"+
		"nooption domain_name_servers, domain_name, domain_search, host_name\n"+extra, 0o644)
	return startDaemon(t, "dhcpcd", r.command(h, "dhcpcd", "-M", "-B", "-d", "-f", conf, "em1", "em2"))
}

// dhcpcdCtl tells the dhcpcd p (-x, -k IFACE) through its control socket
// in its private /run: it enters p's namespaces to reach it.
func dhcpcdCtl(t *testing.T, r *dhcpRoot, p *daemon, args ...string) {
	t.Helper()
	// Into the programs' root directory (a Debian 13 root for dhcpcd 10),
	// chrooted once in dhcpcd's mount namespace, where its /run is bound;
	// not dhcpcd's own root, which its privilege separation chroots
	// elsewhere.
	argv := []string{"-t", strconv.Itoa(p.Cmd.Process.Pid), "-m", "-n", "-u", "--"}
	if r.os != "" {
		argv = append(argv, "chroot", r.os)
	}
	argv = append(append(argv, "dhcpcd"), args...)
	if res := runResult(t, exec.Command("nsenter", argv...)); res.code != 0 {
		out, _ := exec.Command("ls", "-laR", r.runPath("/run/dhcpcd")).CombinedOutput()
		t.Fatalf("dhcpcd %v: %s\n/run/dhcpcd:\n%s", args, res, out)
	}
}
