package e2e

// The read-only modes tell the truth without root: --check, --dry-run,
// --status and --explain read what a pass reads (links, addresses, rules, routes, lease
// records), and a writing pass run without CAP_NET_ADMIN changes nothing
// and says why.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The read-only modes need no root: reading links, addresses, rules and
// routes is unprivileged. A writing pass run without CAP_NET_ADMIN changes
// nothing and says why, once.
func TestReadOnlyModesNeedNoRoot(t *testing.T) {
	t.Parallel()
	h := newSeed(t, false).host

	// Everything nobody must reach: a copy of the binary, an empty config
	// (owned by root, not writable by others, as the config check wants)
	// and a directory it may make its lock in.
	dir, err := os.MkdirTemp("", "symroute-e2e-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, conf, lockDir := filepath.Join(dir, "symroute-sync"), filepath.Join(dir, "symroute.conf"), filepath.Join(dir, "lock")
	copyFile(t, syncBin, bin, 0o755)
	writeFile(t, conf, "", 0o644)
	mkdirs(t, lockDir)
	// Set after creation: the umask would take bits off.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// nobody's own, as a lock directory must be its user's or root's and
	// writable by no one else.
	if err := os.Chown(lockDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	asNobody := func(args ...string) result {
		t.Helper()
		argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin,
			"--config", conf, "--lock-file", filepath.Join(lockDir, "sync.lock")}, args...)
		return runResult(t, h.execCmd("setpriv", argv...))
	}

	plan := asNobody("--dry-run")
	if plan.code != 0 || !strings.Contains(plan.stdout, "rule add priority 32765 from 192.168.0.2/32") {
		t.Fatalf("--dry-run as nobody: want exit 0 and the plan, got %s", plan)
	}
	if r := asNobody("--check"); r.code != 3 || r.stdout != plan.stdout {
		t.Errorf("--check as nobody before the pass: want exit 3 and the dry-run's plan, got %s", r)
	}
	var st struct {
		Links []struct {
			Name   string `json:"name"`
			InSync bool   `json:"in_sync"`
		} `json:"links"`
		Pending int `json:"pending_changes"`
	}
	r := asNobody("--status", "--json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Pending == 0 {
		t.Errorf("--status --json as nobody before the pass: want exit 0 and pending changes, got %s", r)
	}

	if r := asNobody("--explain", remote, "--from", "192.168.0.2"); r.code != 0 || !strings.Contains(r.stdout, "table 254: the main table") {
		t.Errorf("--explain as nobody before the pass: want exit 0 and main's route, got %s", r)
	}

	before := h.dump()
	r = asNobody("--once")
	if r.code != 1 || !strings.Contains(r.stderr, "CAP_NET_ADMIN") || strings.Count(r.stderr, "\n") > 2 {
		t.Errorf("--once as nobody: want exit 1 and one line naming CAP_NET_ADMIN, got %s", r)
	}
	if diff := cmp.Diff(before, h.dump()); diff != "" {
		t.Errorf("--once as nobody changed the kernel (-before +after):\n%s", diff)
	}

	h.pass()
	if r := asNobody("--check"); r.code != 0 || r.stdout != "" {
		t.Errorf("--check as nobody after the pass: want exit 0 and no output, got %s", r)
	}
}

// Lease records are readable by all, so --check run without root reads what
// a pass reads; a record it cannot read is an error (exit 1), never a
// silent "drift" on a host in sync.
func TestCheckWithoutRootReadsLeases(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "util-linux", "unshare", "setpriv")
	h, peer := newHostPeer(t)
	veth(t, h, "em1", "10.0.0.2/16", peer, "up0", "10.0.0.1/16")
	veth(t, h, "em2", "192.168.0.2/24", peer, "up1", "192.168.0.1/24")
	h.ip("route", "add", "default", "via", "10.0.0.1", "dev", "em1")
	r := newDhcpRoot(t, syncBin)
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	// The dhclient hook records em2's router (stock dhclient-script never
	// got its default into main), and a pass gives em2's table a default.
	res := r.run(t, h, hookEnv("reason=BOUND", "interface=em2",
		"new_routers=192.168.0.1", "new_expiry="+exp), "/usr/sbin/symroute-sync", "--once", "--trigger", "dhclient")
	if res.code != 0 {
		t.Fatalf("hook pass: %s", res)
	}
	if got := h.routes("4", h.table("em2")); !containsPrefix(got, "default via 192.168.0.1 dev em2 proto 234") {
		t.Fatalf("em2's table has no default from the lease record: %q", got)
	}
	nobodyCheck := func() result {
		return r.run(t, h, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/sbin/symroute-sync", "--check")
	}
	if res := nobodyCheck(); res.code != 0 || res.stdout != "" {
		t.Errorf("--check as nobody on a host in sync: want exit 0 and no drift, got %s", res)
	}
	// A record nobody may read (as older versions wrote them): an error.
	if err := os.Chmod(r.runPath("/run/symroute/leases/em2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := nobodyCheck(); res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "read lease of em2") {
		t.Errorf("--check as nobody with an unreadable record: want exit 1 naming it, got %s", res)
	}
}
