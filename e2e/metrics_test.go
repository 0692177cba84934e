package e2e

// --metrics-file: what node_exporter's textfile collector reads after a
// pass and after a check, on a real host.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// promSamples reads a text file's samples by series.
func promSamples(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.LastIndexByte(l, ' '); i > 0 && !strings.HasPrefix(l, "#") {
			out[l[:i]] = l[i+1:]
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(string(b))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, b)
	}
	return out
}

func TestMetricsFile(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "prometheus", "promtool")
	h, t1, t2 := newSeedHost(t)
	promDir := t.TempDir()
	// Whatever the umask: a directory others may write is refused.
	if err := os.Chmod(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(promDir, "symroute.prom")

	if r := h.symroute("--once", "--metrics-file", prom); r.code != 0 {
		t.Fatalf("--once: %s", r)
	}
	m := promSamples(t, prom)
	routes := func(table string) string {
		return strconv.Itoa(len(strings.Split(strings.TrimSpace(h.ip("route", "show", "table", table)), "\n")))
	}
	for series, want := range map[string]string{
		`symroute_links{state="managed"}`:                     "2",
		`symroute_links{state="skipped"}`:                     "0",
		`symroute_clashes`:                                    "0",
		`symroute_link_rules{link="em1",table="` + t1 + `"}`:  "2", // its address's and its oif rule
		`symroute_link_routes{link="em1",table="` + t1 + `"}`: routes(t1),
		`symroute_link_routes{link="em2",table="` + t2 + `"}`: routes(t2),
		`symroute_pending_changes`:                            "0",
		`symroute_warnings`:                                   "0",
		`symroute_warning{id="no-way-out"}`:                   "0",
		`symroute_last_pass_success`:                          "1",
		`symroute_last_pass_partial`:                          "0",
		`symroute_last_pass_changes`:                          "10", // 3 routes (a throw) and 2 rules (address, oif) per link
	} {
		if m[series] != want {
			t.Errorf("after the first pass: %s = %q, want %q", series, m[series], want)
		}
	}
	passAt := m[`symroute_last_pass_timestamp_seconds`]

	// Drift: a check says so, and keeps the pass's gauges (no "last pass
	// failed" from checking).
	h.ip("route", "del", "default", "table", t2)
	if r := h.symroute("--check", "--metrics-file", prom); r.code != 3 {
		t.Fatalf("--check after a route went: want exit 3, got %s", r)
	}
	m = promSamples(t, prom)
	if m[`symroute_pending_changes`] != "1" || m[`symroute_link_routes{link="em2",table="`+t2+`"}`] != "2" {
		t.Errorf("after the check: pending %q, em2's routes %q; want 1 and 2", m[`symroute_pending_changes`], m[`symroute_link_routes{link="em2",table="`+t2+`"}`])
	}
	if m[`symroute_last_pass_success`] != "1" || m[`symroute_last_pass_timestamp_seconds`] != passAt {
		t.Errorf("the check changed the last pass's gauges: success %q, time %q (was %s)", m[`symroute_last_pass_success`], m[`symroute_last_pass_timestamp_seconds`], passAt)
	}

	// The next pass mends it and says what it did.
	if r := h.symroute("--once", "--metrics-file", prom); r.code != 0 {
		t.Fatalf("--once: %s", r)
	}
	m = promSamples(t, prom)
	if m[`symroute_pending_changes`] != "0" || m[`symroute_last_pass_changes`] != "1" || m[`symroute_link_routes{link="em2",table="`+t2+`"}`] != "3" {
		t.Errorf("after the mending pass: pending %q, changes %q, em2's routes %q; want 0, 1, 3",
			m[`symroute_pending_changes`], m[`symroute_last_pass_changes`], m[`symroute_link_routes{link="em2",table="`+t2+`"}`])
	}

	// A no-op pass's gauges come from its own look, the only one it makes.
	if r := h.symroute("--once", "--metrics-file", prom); r.code != 0 {
		t.Fatalf("--once: %s", r)
	}
	m = promSamples(t, prom)
	if m[`symroute_pending_changes`] != "0" || m[`symroute_last_pass_changes`] != "0" || m[`symroute_link_routes{link="em2",table="`+t2+`"}`] != "3" ||
		m[`symroute_link_rules{link="em1",table="`+t1+`"}`] != "2" {
		t.Errorf("after a no-op pass: pending %q, changes %q, em2's routes %q, em1's rules %q; want 0, 0, 3, 2", m[`symroute_pending_changes`],
			m[`symroute_last_pass_changes`], m[`symroute_link_routes{link="em2",table="`+t2+`"}`], m[`symroute_link_rules{link="em1",table="`+t1+`"}`])
	}

	// A failed pass (its lock cannot be taken) says so.
	bad := filepath.Join(t.TempDir(), "lockdir")
	if err := os.Mkdir(bad, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bad, 0o777); err != nil { // refused: others may write it
		t.Fatal(err)
	}
	if r := h.symroute("--once", "--metrics-file", prom, "--lock-file", filepath.Join(bad, "l")); r.code != 1 {
		t.Fatalf("--once with a lock others may replace: want exit 1, got %s", r)
	}
	if m = promSamples(t, prom); m[`symroute_last_pass_success`] != "0" || m[`symroute_last_pass_partial`] != "0" {
		t.Errorf("after a failed pass: success %q, partial %q; want 0 and 0", m[`symroute_last_pass_success`], m[`symroute_last_pass_partial`])
	}
}

// A metrics directory that another user could steer is refused: the
// prometheus user owns Debian's /var/lib/prometheus and may put a link, or
// a directory of their own, where node-exporter was. The pass and the check
// end as they would without --metrics-file, nothing is written, and one
// warning says why; a missing directory writes nothing and says nothing
// (the packaged timer's, on a host without node_exporter).
func TestMetricsFileRefusedDirectory(t *testing.T) {
	t.Parallel()
	testns.RequireRoot(t)
	h, _, _ := newSeedHost(t)
	h.pass()
	prometheus, elsewhere := t.TempDir(), t.TempDir()
	for _, d := range []string{prometheus, elsewhere} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(prometheus, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(prometheus, "node-exporter")
	if err := os.Symlink(elsewhere, linked); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(prometheus, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, warning string }{
		{"a link", linked, "a symbolic link in its path"},
		{"another user's directory", theirs, "owned by uid 65534"},
		{"no directory", filepath.Join(prometheus, "none"), ""},
	} {
		for _, mode := range []string{"--once", "--check"} {
			r := h.symroute(mode, "--metrics-file", filepath.Join(tc.dir, "symroute.prom"))
			if r.code != 0 {
				t.Errorf("%s, %s: want exit 0 as without metrics, got %s", tc.name, mode, r)
			}
			var warnings []string
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.Contains(l, "level=WARN") && strings.Contains(l, "metrics") {
					warnings = append(warnings, l)
				}
			}
			if tc.warning == "" && len(warnings) != 0 || tc.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.warning)) {
				t.Errorf("%s, %s: want %q in the only warning (none if empty), got\n%s", tc.name, mode, tc.warning, r.stderr)
			}
		}
	}
	for _, d := range []string{elsewhere, theirs} {
		if entries, err := os.ReadDir(d); err != nil || len(entries) != 0 {
			t.Errorf("%s holds %v (%v): a refused directory was written", d, entries, err)
		}
	}
}
