package e2e

// Our DHCP hooks under hostile input, through their real callers, and a
// hook's pass when another pass holds the lock.

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHookDhcpHostile hands hostile interface names and variables ($(...),
// backticks, ;, newlines, very long values) to our scripts through their
// real callers: Debian's dhclient-script (sourcing our exit hook),
// dhcpcd-run-hooks (sourcing our hook), run-parts as ifupdown runs it, and
// RHEL's dhclient.d contract. Nothing may run (no marker file appears), no
// record but a valid one may be written, every caller's exit status stays
// its own, and the pass stays right: a link really named "$(>m)" is
// mirrored like any other, as data.
func TestHookDhcpHostile(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "unshare", "run-parts", "bash", "dhclient", "dhcpcd")
	h, peer := newHostPeer(t)
	const evil = "$(>m)" // a valid Linux interface name, and a shell command
	veth(t, h, "em1", "10.0.0.2/16", peer, "up0", "10.0.0.1/16")
	veth(t, h, evil, "10.9.0.2/24", peer, "up1", "10.9.0.1/24")
	h.ip("route", "add", "default", "via", "10.0.0.1", "dev", "em1")

	marks := t.TempDir() // the absolute markers' directory: must stay empty
	roots := map[string]*dhcpRoot{"real": newDhcpRoot(t, syncBin), "failing": newDhcpRoot(t, "/bin/false")}
	for _, r := range roots {
		deb := r.hookDir("/etc/dhcp/dhclient-exit-hooks.d")
		r.hookDir("/etc/dhcp/dhclient-enter-hooks.d")
		copyFile(t, repoFile("dhcp-hooks", "dhclient-exit-hook"), filepath.Join(deb, "symroute"), 0o644)
		dcd := r.hookDir("/usr/lib/dhcpcd/dhcpcd-hooks")
		copyFile(t, repoFile("dhcp-hooks", "dhcpcd-hook"), filepath.Join(dcd, "70-symroute"), 0o644)
		for dir, name := range map[string]string{
			"dhcp/dhclient.d": "symroute.sh", "network/if-up.d": "symroute", "network/if-post-down.d": "symroute",
		} {
			src := "ifupdown-hook"
			if name == "symroute.sh" {
				src = "dhclient.d-symroute.sh"
			}
			copyFile(t, repoFile("dhcp-hooks", src), filepath.Join(r.etcDir(dir), name), 0o755)
		}
	}
	real := roots["real"]

	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	long := strings.Repeat("$(>m)`>m`;>m", 10000)
	type dh struct{ reason, iface, routers, expiry string }
	dhcpCases := []dh{
		{"BOUND", "em1", "10.0.0.1", exp}, // a good record, which the refused calls below must leave alone
		{"BOUND", evil, "10.9.0.1", exp},
		{"BOUND", "a;>m", "10.0.0.1", exp},
		{"BOUND", "--priority=1", "10.0.0.1", exp},
		{"BOUND", "-v", "10.0.0.1", exp},
		{"RELEASE", "`>m`", "", ""},
		{"BOUND", "em1\n>m", "10.0.0.1", exp},
		{"BOUND", "em1 $(touch " + marks + "/iface)", "10.0.0.1", exp},
		{"BOUND;>m", "em1", "10.0.0.1", exp},
		{"$(>m)", "em1", "10.0.0.1", exp},
		{"BOUND\ntouch " + marks + "/reason", "em1", "10.0.0.1", exp},
		{"BOUND", "em1", "$(touch${IFS}" + marks + "/sub)", exp},
		{"BOUND", "em1", "10.0.0.1 `touch${IFS}" + marks + "/tick`", exp},
		{"BOUND", "em1", "10.0.0.1;touch " + marks + "/semi", exp},
		{"BOUND", "em1", "10.0.0.1\ntouch " + marks + "/nl", exp},
		{"BOUND", "em1", "10.0.0.1", "$(touch${IFS}" + marks + "/exp)"},
		{"BOUND", "em1", long, exp},
		{"BOUND", long, "10.0.0.1", exp},
		{"RELEASE", "em1", "$(touch${IFS}" + marks + "/rel)", ""}, // well formed: drops em1's record...
		{"BOUND", "em1", "10.0.0.1", exp},                         // ...which this puts back
	}
	env := hookEnv
	rhel := `. /etc/dhcp/dhclient.d/symroute.sh; case "$reason" in RELEASE) symroute_restore;; *) symroute_config;; esac; exit 0`
	var refused int
	for i, c := range dhcpCases {
		e := env("reason="+c.reason, "interface="+c.iface, "new_routers="+c.routers, "new_expiry="+c.expiry)
		for _, run := range []struct {
			name string
			argv []string
		}{
			{"dhclient-script", []string{"/sbin/dhclient-script"}},
			{"dhcpcd-run-hooks", []string{"/usr/lib/dhcpcd/dhcpcd-run-hooks"}},
			{"rhel", []string{"bash", "-c", rhel}},
		} {
			res := real.run(t, h, e, run.argv...)
			if res.code != 0 {
				t.Errorf("case %d through %s: exit %d, want 0 (the caller's own status):\n%s", i, run.name, res.code, res)
			}
			if strings.Contains(res.stderr, "hook input refused") {
				refused++
			}
		}
	}
	refuseDhcpcdLease(t, real, h, marks, long)
	ifupdownCases := [][]string{
		{"IFACE=" + evil, "MODE=start", "PHASE=post-up"},
		{"IFACE=em1\n>m", "MODE=start", "PHASE=post-up"},
		{"IFACE=`touch${IFS}" + marks + "/ifupdown`", "MODE=start", "PHASE=post-up"},
		{"IFACE=em1", "MODE=start", "PHASE=post-up;touch " + marks + "/phase"},
		{"IFACE=em1", "MODE=$(touch${IFS}" + marks + "/mode)"},
		{"IFACE=" + long, "MODE=stop", "PHASE=post-down"},
	}
	for i, c := range ifupdownCases {
		for _, dir := range []string{"/etc/network/if-up.d", "/etc/network/if-post-down.d"} {
			res := real.run(t, h, env(append(c, "LOGICAL=x", "ADDRFAM=inet", "METHOD=dhcp")...), "run-parts", "--exit-on-error", dir)
			if res.code != 0 {
				t.Errorf("ifupdown case %d through run-parts %s: exit %d, want 0:\n%s", i, dir, res.code, res)
			}
		}
	}
	if refused == 0 {
		t.Errorf("no run logged refused input")
	}

	t.Run("nothing ran", func(t *testing.T) {
		for _, dir := range []string{marks, real.dir} {
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.Name() == "m" || dir == marks {
					t.Errorf("%s/%s exists: hostile input was executed", dir, e.Name())
				}
			}
		}
	})
	t.Run("only valid records", func(t *testing.T) {
		dir := real.runPath("/run/symroute/leases")
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		if diff := cmp.Diff(sorted([]string{"--priority=1", "-v", evil, "a;>m", "em1"}), names); diff != "" {
			t.Errorf("lease records (-want +got):\n%s", diff)
		}
		for name, router := range map[string]string{"em1": "10.0.0.1", evil: "10.9.0.1"} {
			if rec := real.leaseRecord(name); !strings.HasPrefix(rec, "router="+router+"\nexpiry=") {
				t.Errorf("record of %q: %q, want router %s", name, rec, router)
			}
		}
	})
	t.Run("pass is right", func(t *testing.T) {
		te, tevil := h.table("em1"), h.table(evil)
		want := sorted([]string{
			"32765: from 10.0.0.2 lookup " + te + " proto 234",
			"32765: from 10.9.0.2 lookup " + tevil + " proto 234",
			oifRuleLine("em1", te),
			oifRuleLine(evil, tevil),
		})
		if diff := cmp.Diff(want, ourRules(h)); diff != "" {
			t.Errorf("rules at 32765 (-want +got):\n%s\nall rules:\n%s", diff, strings.Join(h.rules("4"), "\n"))
		}
		if got := defaultOf(h.routes("4", tevil), evil); got != "default via 10.9.0.1 dev "+evil {
			t.Errorf("table %s of %q: default %q, want the recorded router's", tevil, evil, got)
		}
		if got := defaultOf(h.routes("4", te), "em1"); got != "default via 10.0.0.1 dev em1" {
			t.Errorf("table %s of em1: default %q", te, got)
		}
		real.assertChecked(t, h, "after the hostile input")
	})
	t.Run("callers keep their status", func(t *testing.T) {
		for name, r := range roots {
			for _, c := range []struct {
				what string
				env  []string
				argv []string
				want int
			}{
				{"dhclient-script MEDIUM", env("reason=MEDIUM", "interface=em1"), []string{"/sbin/dhclient-script"}, 0},
				{"dhclient-script EXPIRE6 without an address", env("reason=EXPIRE6", "interface=em1"), []string{"/sbin/dhclient-script"}, 2},
				{"dhcpcd-run-hooks BOUND", env("reason=BOUND", "interface=em1"), []string{"/usr/lib/dhcpcd/dhcpcd-run-hooks"}, 0},
				{"rhel config, exit 3", env("reason=BOUND", "interface=em1"), []string{"bash", "-c", ". /etc/dhcp/dhclient.d/symroute.sh; symroute_config; exit 3"}, 3},
				{"rhel restore, exit 0", env("reason=RELEASE", "interface=em1"), []string{"bash", "-c", ". /etc/dhcp/dhclient.d/symroute.sh; symroute_restore; exit 0"}, 0},
				// The caller's own EXIT trap still runs, last, and
				// sees the script's status: its exit 4+3 wins.
				{"rhel config keeps the caller's EXIT trap", env("reason=BOUND", "interface=em1"),
					[]string{"bash", "-c", `trap 'exit $((4 + $?))' EXIT; . /etc/dhcp/dhclient.d/symroute.sh; symroute_config; symroute_restore; exit 3`}, 7},
				{"run-parts if-up.d", env("IFACE=em1", "MODE=start", "PHASE=post-up"), []string{"run-parts", "--exit-on-error", "/etc/network/if-up.d"}, 0},
			} {
				if res := r.run(t, h, c.env, c.argv...); res.code != c.want {
					t.Errorf("%s, %s symroute-sync: exit %d, want %d:\n%s", c.what, name, res.code, c.want, res)
				}
			}
		}
	})
}

// refuseDhcpcdLease hands dhcpcd's own lease variables with hostile words
// to our hook through dhcpcd-run-hooks: each call is refused (no pass, no
// record changed) and exits 0.
func refuseDhcpcdLease(t *testing.T, real *dhcpRoot, h *ns, marks, long string) {
	t.Helper()
	for i, kv := range [][]string{
		{"new_ip_address=$(touch${IFS}" + marks + "/dcaddr)", "new_routers=10.0.0.1", "new_dhcp_lease_time=3600"},
		{"new_ip_address=10.0.0.2", "new_classless_static_routes=0.0.0.0/0 `touch${IFS}" + marks + "/dccl`", "new_dhcp_lease_time=3600"},
		{"new_ip_address=10.0.0.2", "new_classless_static_routes=0.0.0.0/0 10.0.0.1;touch " + marks + "/dcsemi", "new_dhcp_lease_time=3600"},
		{"new_ip_address=10.0.0.2", "new_routers=10.0.0.1", "new_dhcp_lease_time=3600\ntouch " + marks + "/dclt"},
		{"new_ip_address=10.0.0.2", "new_classless_static_routes=" + long, "new_dhcp_lease_time=3600"},
	} {
		res := real.run(t, h, hookEnv(append([]string{"reason=BOUND", "interface=em1"}, kv...)...), "/usr/lib/dhcpcd/dhcpcd-run-hooks")
		if res.code != 0 || !strings.Contains(res.stderr, "hook input refused") {
			t.Errorf("dhcpcd case %d: want exit 0 and the input refused, got %s", i, res)
		}
	}
}

// TestHookDhcpLockBusy: a hook's pass waits a bounded time for the lock,
// then leaves its trigger to the pass holding it and exits 0, and the
// lease record is written all the same (the next pass reads it).
func TestHookDhcpLockBusy(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "", "unshare", "flock")
	h, peer := newHostPeer(t)
	veth(t, h, "em1", "10.0.0.2/16", peer, "up0", "10.0.0.1/16")
	r := newDhcpRoot(t, syncBin)
	// The holder marks the lock as held, then keeps it past the wait.
	// The lock as a pass makes it: 0600, or the pass refuses it.
	script := `mkdir -p /run/symroute
(umask 077; : >>/run/symroute/sync.lock)
flock /run/symroute/sync.lock sh -c 'touch /run/held; sleep 8' >/dev/null 2>&1 &
while [ ! -e /run/held ]; do sleep 0.05; done
exec /usr/sbin/symroute-sync --once --trigger dhclient -- BOUND em1`
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	res := r.run(t, h, hookEnv("new_routers=10.0.0.1", "new_expiry="+exp), "sh", "-c", script)
	if res.code != 0 || !strings.Contains(res.stderr, "another pass holds the lock") {
		t.Errorf("hook pass with the lock held: want exit 0 and a log line saying so, got %s", res)
	}
	if rec := r.leaseRecord("em1"); !strings.HasPrefix(rec, "router=10.0.0.1\n") {
		t.Errorf("lease record not written while the lock was held: %q", rec)
	}
	if got := ourRules(h); len(got) != 0 {
		t.Errorf("a pass ran although the lock was held: %v", got)
	}
}
