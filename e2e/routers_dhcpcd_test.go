package e2e

// dhcpcd with nogateway on em2: main never holds em2's default, and our hook
// records the lease's router for every later pass.

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWayOutDhcpcd: dhcpcd 9 binds em1 and em2, em2 with nogateway, and runs
// our hook as packaged. em2's table gets the lease's router, CLIENT reaches
// em2's address through the strict routers, and the record goes when em2
// loses its carrier (dhcpcd drops the lease) and comes back with the next
// bind.
func TestWayOutDhcpcd(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dhcpcd", "dnsmasq", "unshare", "nsenter")
	wayOutDhcpcd(t, "")
}

// TestWayOutDhcpcd10 is TestWayOutDhcpcd with Debian 13's dhcpcd 10, which
// also releases em2 alone (dhcpcd -k em2).
func TestWayOutDhcpcd10(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "dnsmasq", "unshare", "nsenter")
	wayOutDhcpcd(t, trixieRoot(t))
}

func wayOutDhcpcd(t *testing.T, osRoot string) {
	s := newDHCPNet(t, false).addClient()
	h := s.host
	r := newDhcpRootIn(t, syncBin, osRoot)
	hooks := r.hookDir("/usr/lib/dhcpcd/dhcpcd-hooks")
	writeFile(t, filepath.Join(hooks, "00-begin"), dhcpLogBegin, 0o644)
	copyFile(t, repoFile("dhcp-hooks", "dhcpcd-hook"), filepath.Join(hooks, "70-symroute"), 0o644)
	writeFile(t, filepath.Join(hooks, "99-end"), dhcpLogEnd, 0o644)
	conf := filepath.Join(r.dir, "dhcpcd.conf")
	writeFile(t, conf, "nodev\nipv4only\nnoarp\nnoipv4ll\nnodelay\n"+
		"option classless_static_routes, interface_mtu\n"+
		"nooption domain_name_servers, domain_name, domain_search, host_name\n"+
		"interface em2\nnogateway\n", 0o644)
	p := startDaemon(t, "dhcpcd", r.command(h, "dhcpcd", "-M", "-B", "-d", "-f", conf, "em1", "em2"))
	run := func(args ...string) result { return r.run(t, h, nil, append([]string{"/usr/sbin/symroute-sync"}, args...)...) }
	seen := map[string]int{}
	bound := func(what string) {
		t.Helper()
		r.waitEvent(t, seen, "em2", "BOUND", "REBOOT")
		waitFor(t, what, dhcpHookTimeout, wayOut(h, "em2", "192.168.0.1", checkQuiet(t, run)))
		assertStackSymmetric(t, s)
		if rec := r.leaseRecord("em2"); !strings.HasPrefix(rec, "router=192.168.0.1\n") ||
			!strings.Contains(rec, "\naddr="+h.addr4("em2")+"\n") || !strings.Contains(rec, "\nstack=dhcpcd\n") {
			t.Errorf("em2's record: %q, want router 192.168.0.1, its address and stack", rec)
		}
	}
	gone := func(what string, reasons ...string) {
		t.Helper()
		r.waitEvent(t, seen, "em2", reasons...)
		waitFor(t, what, dhcpHookTimeout, listenUnmirrored(h, "em2"))
		if rec := r.leaseRecord("em2"); rec != "" {
			t.Errorf("em2's record outlived its lease: %q", rec)
		}
		s.pingRemote(t, "em1")
	}
	r.waitEvent(t, seen, "em1", "BOUND", "REBOOT")
	bound("em2's table gets its lease's router")

	s.r2.ip("link", "set", "up0", "down")
	gone("em2's rule and table gone when it lost its carrier", "NOCARRIER")
	s.r2.ip("link", "set", "up0", "up")
	bound("em2's table gets its router again")

	if osRoot == "" {
		return // dhcpcd 9 answers "not running" to -k em2 when it manages several interfaces
	}
	argv := []string{"-t", strconv.Itoa(p.Cmd.Process.Pid), "-m", "-n", "-u", "--", "chroot", osRoot, "dhcpcd", "-k", "em2"}
	if res := runResult(t, exec.Command("nsenter", argv...)); res.code != 0 {
		t.Fatalf("dhcpcd -k em2: %s", res)
	}
	gone("em2's rule and table gone after its release", "RELEASE", "STOP", "STOPPED")
}
