package e2e

// What a delete takes (issue 17): any rule of symroute's protocol can go,
// whatever its selectors, and never in place of a wanted one
// (TestRulesOfOursAnyShape); a route delete takes ours, never another
// program's route of its key (TestAppendedRouteKeptWhenOursGoes).

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A rule of protocol 234 that this version does not write (an oif rule
// looking up another link's table, as a version with other rule kinds may
// leave; one with the source, priority and table of a wanted rule and an
// oif; a blackhole of them) is
// deleted by a pass, by --flush and by --dry-run replayed with sh, and
// never taken for the wanted rule: each converges, exit 0, and --check is
// clean after.
func TestRulesOfOursAnyShape(t *testing.T) {
	t.Parallel()
	shapes := func(t1, t2 string) []string {
		return []string{
			"rule add oif em2 lookup " + t1 + " priority 32765 protocol 234",
			"rule add from 192.168.0.2 oif em2 lookup " + t2 + " priority 32765 protocol 234",
			"rule add from 192.168.0.2 table " + t2 + " blackhole priority 32765 protocol 234",
		}
	}
	ours := func(h *ns) []string {
		out := []string{}
		for _, l := range h.rules("4") {
			if strings.HasSuffix(l, " proto 234") {
				out = append(out, l)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		// run removes the shapes, returning the rules of ours it should
		// leave, given a pass's.
		run func(t *testing.T, h *ns, want []string) []string
	}{
		{"pass", func(t *testing.T, h *ns, want []string) []string {
			if r := h.symroute("--once"); r.code != 0 {
				t.Fatalf("--once: want exit 0, got %s", r)
			}
			assertInSync(t, h)
			return want
		}},
		{"flush", func(t *testing.T, h *ns, _ []string) []string {
			if r := h.symroute("--flush"); r.code != 0 {
				t.Fatalf("--flush: want exit 0, got %s", r)
			}
			assertNoPlan(t, h, "--flush", "--dry-run")
			return []string{}
		}},
		{"dry-run replayed", func(t *testing.T, h *ns, want []string) []string {
			dry := h.symroute("--dry-run")
			if dry.code != 0 {
				t.Fatalf("--dry-run: want exit 0, got %s", dry)
			}
			sh := h.execCmd("sh", "-e", "-x")
			sh.Stdin = strings.NewReader(dry.stdout)
			if r := runResult(t, sh); r.code != 0 {
				t.Fatalf("replaying --dry-run with sh: %s\nplan:\n%s", r, dry.stdout)
			}
			if r := h.symroute("--check"); r.code != 0 || r.stdout != "" {
				t.Errorf("--check after replaying --dry-run: want exit 0 and no output, got %s\nplan was:\n%s", r, dry.stdout)
			}
			return want
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, t1, t2 := newSeedHost(t)
			h.pass()
			want := ours(h)
			h.ips(shapes(t1, t2)...)
			want = tc.run(t, h, want)
			if diff := cmp.Diff(want, ours(h)); diff != "" {
				t.Errorf("rules of protocol 234 after it (-want +got):\n%s", diff)
			}
		})
	}
}

// Another program's route of our key and protocol, put ahead of ours in
// one of our tables (`ip route prepend`), is kept when a pass deletes ours:
// the delete names what the kernel tells the two apart by. Here main's
// route changes to be theirs exactly (another gateway; the same gateway
// without ours's mtu), so the pass keeps theirs as the wanted copy and
// deletes ours: `ip monitor` sees ours go, and only that.
func TestAppendedRouteKeptWhenOursGoes(t *testing.T) {
	t.Parallel()
	// Main's route and ours are "DST OURS proto static EXTRA"; theirs and
	// main's after the change "DST THEIRS proto static".
	for _, tc := range []struct{ name, dst, ours, extra, theirs string }{
		{"another gateway", "203.0.113.0/24", "via 10.0.0.1 dev em1", "", "via 10.0.0.9 dev em1"},
		{"the same gateway without our mtu", "198.18.0.0/24", "via 10.0.0.1 dev em1", " mtu 1400", "via 10.0.0.1 dev em1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, t1, _ := newSeedHost(t)
			theirs := tc.dst + " " + tc.theirs + " proto static"
			h.ips("route add " + tc.dst + " " + tc.ours + " proto static" + tc.extra)
			h.pass()
			h.ips("route prepend "+theirs+" table "+t1, "route replace "+theirs)
			m := startMonitor(t, h)
			got := m.during(func() { h.pass() })
			want := "Deleted " + tc.dst + " " + tc.ours + " table " + t1 + " proto static" + tc.extra
			if diff := cmp.Diff([]string{want}, got); diff != "" {
				t.Errorf("ip monitor during the pass (-want +got):\n%s", diff)
			}
			var left []string
			for _, l := range h.routes("4", t1) {
				if strings.HasPrefix(l, tc.dst+" ") {
					left = append(left, l)
				}
			}
			if diff := cmp.Diff([]string{theirs}, left); diff != "" {
				t.Errorf("table %s (-want theirs only +got):\n%s", t1, diff)
			}
			assertInSync(t, h)
		})
	}
}
