package e2e

// What the mirror never does: touch other programs' rules and tables
// (TestForeignStateUntouched, TestClash), act on bad input
// (TestBadInputTouchesNothing), or plan other than it acts
// (TestDryRunReplaysInSh: --dry-run is what --check reports, and sh
// replays it).

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// 3. --dry-run prints what --check reports, and sh replays it.
func TestDryRunReplaysInSh(t *testing.T) {
	t.Parallel()
	h := newSeed(t, false).host
	addShapes(h)

	check := h.symroute("--check")
	if check.code != 3 {
		t.Fatalf("--check on an unsynced host: want exit 3, got %s", check)
	}
	dry := h.symroute("--dry-run")
	if dry.code != 0 || dry.stdout == "" {
		t.Fatalf("--dry-run on an unsynced host: want exit 0 and a plan, got %s", dry)
	}
	if diff := cmp.Diff(dry.stdout, check.stdout); diff != "" {
		t.Errorf("--check's drift differs from --dry-run's plan (-dry-run +check):\n%s", diff)
	}
	for _, l := range strings.Split(strings.TrimSpace(dry.stdout), "\n") {
		if !strings.HasPrefix(l, "ip -4 ") && !strings.HasPrefix(l, "ip -6 ") {
			t.Errorf("--dry-run line is not an `ip -4|-6` command: %q", l)
		}
	}

	sh := h.execCmd("sh", "-e", "-x")
	sh.Stdin = strings.NewReader(dry.stdout)
	if r := runResult(t, sh); r.code != 0 {
		t.Fatalf("replaying --dry-run with sh inside %s: %s\nplan:\n%s", h.Name, r, dry.stdout)
	}

	if r := h.symroute("--check"); r.code != 0 || r.stdout != "" {
		t.Errorf("--check after replaying --dry-run: want exit 0 and no output, got %s\nplan was:\n%s", r, dry.stdout)
	}
	assertNoPlan(t, h, "--dry-run")
}

// 4. Rules and tables of other programs survive a pass and a flush, and a
// flush puts back exactly the state before the first pass.
func TestForeignStateUntouched(t *testing.T) {
	t.Parallel()
	h := newSeed(t, false).host
	h.ips(
		// Someone's policy routing at a priority of their own.
		"rule add from 10.123.0.0/16 lookup 1500 priority 200",
		"route add 10.123.0.0/16 via 10.0.0.1 dev em1 table 1500",
		// A table inside symroute's range that no link or rule explains.
		"route add 10.50.0.0/16 via 192.168.0.1 dev em2 table 1050",
		"-6 route add 2001:db8:50::/48 dev em1 table 1050",
		// wg-quick's full-tunnel rules and table.
		"rule add not fwmark 51820 table 51820",
		"rule add table main suppress_prefixlength 0",
		"route add default dev em1 table 51820",
		// An IPv6 address, so IPv6 rules and tables exist to flush too.
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
	)
	foreign := func() []string {
		var out []string
		for _, fam := range []string{"4", "6"} {
			for _, l := range h.rules(fam) {
				if !strings.HasSuffix(l, " proto 234") {
					out = append(out, "-"+fam+" rule: "+l)
				}
			}
			for _, tb := range []string{"1500", "1050", "51820"} {
				for _, l := range h.routes(fam, tb) {
					out = append(out, "-"+fam+" table "+tb+": "+l)
				}
			}
		}
		return out
	}
	before, foreignBefore := h.dump(), foreign()

	h.pass()
	t1 := h.table("em1")
	t.Run("pass mirrored", func(t *testing.T) {
		if diff := cmp.Diff(sorted(seedMirror1), h.routes("4", t1)); diff != "" {
			t.Errorf("table %s (-want +got):\n%s", t1, diff)
		}
	})
	t.Run("foreign after pass", func(t *testing.T) {
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("foreign rules and tables after a pass (-before +after):\n%s", diff)
		}
	})
	assertInSync(t, h)

	if r := h.symroute("--flush", "--dry-run"); r.code != 0 || r.stdout == "" {
		t.Errorf("--flush --dry-run on a synced host: want exit 0 and a plan, got %s", r)
	}
	if r := h.symroute("--flush"); r.code != 0 {
		t.Fatalf("--flush: want exit 0, got %s", r)
	}
	t.Run("foreign after flush", func(t *testing.T) {
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("foreign rules and tables after --flush (-before +after):\n%s", diff)
		}
	})
	t.Run("flush restores the state before the first pass", func(t *testing.T) {
		if diff := cmp.Diff(before, h.dump()); diff != "" {
			t.Errorf("full dump (-before first pass +after flush):\n%s", diff)
		}
	})
	assertNoPlan(t, h, "--flush", "--dry-run")
}

// 5. A table another program uses is never written; the rest goes on and
// the exit status says the pass was partial.
func TestClash(t *testing.T) {
	t.Parallel()

	t.Run("foreign rule looks up em2's table", func(t *testing.T) {
		t.Parallel()
		h, t1, t2 := newSeedHost(t)
		h.ips(
			"route add 10.77.0.0/16 via 192.168.0.1 dev em2 table "+t2,
			"rule add from 10.77.0.0/16 lookup "+t2+" priority 300",
		)
		r := h.symroute("--once")
		if r.code != 1 {
			t.Errorf("pass with a clash: want exit 1, got %s", r)
		}
		if !strings.Contains(r.stderr, "em2") || !strings.Contains(r.stderr, t2) {
			t.Errorf("pass with a clash: stderr should name em2 and table %s:\n%s", t2, r.stderr)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				"300: from 10.77.0.0/16 lookup " + t2,
				ruleLine("10.0.0.2", t1),
				oifRuleLine("em1", t1),
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1 + " (em1, mirrored)", tableOf(h, "4", t1), seedMirror1},
			{"table " + t2 + " (em2, clashing, untouched)", tableOf(h, "4", t2), []string{"10.77.0.0/16 via 192.168.0.1 dev em2"}},
		})
	})

	t.Run("rt_tables names em1's table", func(t *testing.T) {
		t.Parallel()
		h, t1, t2 := newSeedHost(t)
		h.ip("route", "add", "10.88.0.0/16", "via", "10.0.0.1", "dev", "em1", "table", t1)

		// iproute2's directory, as the binary looks for it.
		var target string
		for _, d := range []string{"/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"} {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				target = d
				break
			}
		}
		if target == "" {
			t.Fatal("no iproute2 directory to bind-mount a private rt_tables over")
		}
		etc, dir := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(etc, "rt_tables"), []byte(t1+"\tstaging\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "symroute.conf")
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		// A private mount namespace: / made rprivate before the bind
		// mount, so it can never propagate to the host.
		script := `mount --make-rprivate / && mount --bind "$1" "$2" && shift 2 && exec ip netns exec "$@"`
		cmd := exec.Command("unshare", "-m", "sh", "-c", script, "sh", etc, target,
			h.Name, syncBin, "--config", conf, "--lock-file", filepath.Join(dir, "sync.lock"), "--once")
		r := runResult(t, cmd)
		if r.code != 1 {
			t.Errorf("pass with em1's table named in rt_tables: want exit 1, got %s", r)
		}
		if !strings.Contains(r.stderr, "staging") {
			t.Errorf("stderr should give the name that clashes (staging):\n%s", r.stderr)
		}
		if b, err := os.ReadFile(filepath.Join(target, "rt_tables")); err == nil && strings.Contains(string(b), "staging") {
			t.Fatalf("the private rt_tables is visible on the host at %s", target)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				ruleLine("192.168.0.2", t2),
				oifRuleLine("em2", t2),
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1 + " (em1, named, untouched)", tableOf(h, "4", t1), []string{"10.88.0.0/16 via 10.0.0.1 dev em1"}},
			{"table " + t2 + " (em2, mirrored)", tableOf(h, "4", t2), seedMirror2},
		})
	})
}

// 12. Bad input: exit 2 before anything is touched.
func TestBadInputTouchesNothing(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false) // not in sync: a pass would change things
	h := s.host
	before := h.dump()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"table base that could hit reserved tables", []string{"--once", "--table-base", "100"}, "table-base"},
		{"priority 0", []string{"--once", "--priority", "0"}, "priority"},
		{"missing named config", []string{"--once", "--config", "/nonexistent"}, "/nonexistent"},
		{"unknown route metric", []string{"--once", "--set-route-metric", "bogus=1"}, "bogus"},
		{"flush with a bad table base", []string{"--flush", "--table-base", "100"}, "table-base"},
		{"no mode", []string{"--priority", "100"}, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.symroute(tc.args...)
			if r.code != 2 {
				t.Errorf("want exit 2, got %s", r)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr should name %q:\n%s", tc.stderr, r.stderr)
			}
			if diff := cmp.Diff(before, h.dump()); diff != "" {
				t.Errorf("rules and routes changed (-before +after):\n%s", diff)
			}
		})
	}
	// The same host does change with good input: the comparison can fail.
	h.pass()
	if diff := cmp.Diff(before, h.dump()); diff == "" {
		t.Error("a good pass changed nothing either: the comparison proves nothing")
	}
}
