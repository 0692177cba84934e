package metrics

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// collectorDir is a directory as the metrics file's must be: the running
// user's, written by no one else, whatever the test's umask.
func collectorDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	look = Look{Pending: 2, Warnings: map[string]int{"no-way-out": 1, "arp-flux": 0}, Links: []Link{
		{Name: "lo"},
		{Name: "em2", Table: 1003, Managed: true, Rules: 1, Routes: 2},
		{Name: "em1", Table: 1002, Managed: true, Rules: 2, Routes: 5},
		{Name: `we"ird\`, Table: 1009, Managed: true, Skipped: true},
	}}
	ok = Pass{OK: true, Duration: 1500 * time.Microsecond, Applied: 7, End: time.Unix(1795000000, 0)}
)

// samples are the non-comment lines of a text file.
func samples(text string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestText(t *testing.T) {
	want := []string{
		`symroute_info{version="1.2"} 1`,
		`symroute_links{state="managed"} 2`,
		`symroute_links{state="skipped"} 1`,
		`symroute_links{state="unmanaged"} 1`,
		`symroute_clashes 1`,
		`symroute_link_rules{link="em1",table="1002"} 2`,
		`symroute_link_rules{link="em2",table="1003"} 1`,
		`symroute_link_rules{link="we\"ird\\",table="1009"} 0`,
		`symroute_link_routes{link="em1",table="1002"} 5`,
		`symroute_link_routes{link="em2",table="1003"} 2`,
		`symroute_link_routes{link="we\"ird\\",table="1009"} 0`,
		`symroute_pending_changes 2`,
		`symroute_warnings 1`,
		`symroute_warning{id="arp-flux"} 0`,
		`symroute_warning{id="no-way-out"} 1`,
		`symroute_last_pass_success 1`,
		`symroute_last_pass_partial 0`,
		`symroute_last_pass_duration_seconds 0.0015`,
		`symroute_last_pass_changes 7`,
		`symroute_last_pass_timestamp_seconds 1795000000`,
	}
	if diff := cmp.Diff(want, samples(string(Text(&look, &ok, "1.2")))); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

// promtool (Debian's prometheus package) is the format's own checker:
// names, HELP and TYPE lines, label quoting.
func TestPromtool(t *testing.T) {
	testns.RequirePrograms(t, "prometheus", "promtool")
	for name, text := range map[string][]byte{
		"pass":             Text(&look, &ok, "1.2"),
		"partial":          Text(&Look{}, &Pass{Partial: true}, "dev"),
		"no look":          Text(nil, &ok, "1.2"),
		"a name not UTF-8": Text(&Look{Links: []Link{{Name: "e\xffth0", Managed: true}}}, nil, "1.2"),
	} {
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(string(text))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s\n%s", name, err, out, text)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := collectorDir(t)
	path := filepath.Join(dir, "symroute.prom")
	old := syscall.Umask(0o077) // the packaged unit's
	defer syscall.Umask(old)
	if err := WritePass(path, &look, ok, "1.2"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644: node_exporter does not run as root", fi.Mode().Perm())
	}

	// A check replaces the look, and keeps the last pass's gauges as they
	// were: an out-of-sync host checked is no failed pass.
	drift := Look{Pending: 9}
	if err := WriteCheck(path, drift, "1.2"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := string(Text(&drift, &ok, "1.2"))
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("after a check (-want +got):\n%s", diff)
	}
	// A check with no pass before it writes no pass gauges.
	fresh := filepath.Join(dir, "fresh.prom")
	if err := WriteCheck(fresh, drift, "1.2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fresh); strings.Contains(string(got), lastPass) {
		t.Errorf("a check with no pass before it wrote pass gauges:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files left in the directory, want the 2 written: %v", len(entries), entries)
	}

	// No directory: fs.ErrNotExist, which the caller takes as "no
	// collector here"; nothing made.
	err = WritePass(filepath.Join(dir, "none", "symroute.prom"), &look, ok, "1.2")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("into a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// What a check carries over is read back as the pass's values and written
// anew: nothing else in the file survives it, and a file without all of
// them carries none.
func TestWriteCheckCarriesOnlyThePass(t *testing.T) {
	dir := collectorDir(t)
	path := filepath.Join(dir, "symroute.prom")
	tampered := string(Text(&look, &ok, "1.2")) +
		"symroute_last_pass_injected{x=\"y\"} 1\n# HELP symroute_last_pass_success again\nsymroute_last_pass_changes garbage\n"
	if err := os.WriteFile(path, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	drift := Look{Pending: 1}
	if err := WriteCheck(path, drift, "1.2"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if diff := cmp.Diff(string(Text(&drift, &ok, "1.2")), string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	partial := "symroute_last_pass_success 1\nsymroute_last_pass_changes 3\n"
	if err := os.WriteFile(path, []byte(partial), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteCheck(path, drift, "1.2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); strings.Contains(string(got), lastPass) {
		t.Errorf("carried a pass from a file without all its gauges:\n%s", got)
	}
	// A FIFO at the path is refused, not waited on.
	fifo := filepath.Join(dir, "fifo.prom")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteCheck(fifo, drift, "1.2"); err == nil {
		t.Error("a FIFO at the path was taken for a file")
	}
}

// A check writes back only values a pass could have written: one out of its
// gauge's range (planted, or a file of another program's) counts as missing,
// and a file without all of them carries none, rather than being converted
// into another value (1e300 changes became a negative count).
func TestWriteCheckDropsOutOfRange(t *testing.T) {
	dir := collectorDir(t)
	path := filepath.Join(dir, "symroute.prom")
	written := string(Text(nil, &ok, "1.2"))
	for _, tc := range []struct{ gauge, value string }{
		{"success", "2"},
		{"success", "0.5"},
		{"partial", "-1"},
		{"duration_seconds", "-0.5"},
		{"duration_seconds", "1e300"},
		{"duration_seconds", "NaN"},
		{"changes", "1e300"},
		{"changes", "-3"},
		{"changes", "+Inf"},
		{"changes", "2.5"},
		{"timestamp_seconds", "9.3e18"},
		{"timestamp_seconds", "-1795000000"},
		{"timestamp_seconds", "-Inf"},
	} {
		t.Run(tc.gauge+"="+tc.value, func(t *testing.T) {
			line := lastPass + tc.gauge + " "
			i := strings.Index(written, "\n"+line)
			if i < 0 {
				t.Fatalf("no %s in the written file", line)
			}
			i++
			end := i + strings.IndexByte(written[i:], '\n')
			planted := written[:i] + line + tc.value + written[end:]
			if err := os.WriteFile(path, []byte(planted), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := WriteCheck(path, Look{}, "1.2"); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); strings.Contains(string(got), lastPass) {
				t.Errorf("carried a pass from a file with %s%s %s:\n%s", lastPass, tc.gauge, tc.value, strings.Join(samples(string(got)), "\n"))
			}
		})
	}
}

// The file's directory is reached without following a link in any
// component of its path, and must be the running user's, writable by no
// one else: Debian's /var/lib/prometheus is the prometheus user's, who
// could put a link, or a directory of their own, in node-exporter's place
// and have root write (or --check read) wherever they like. A refused
// directory is neither read nor written, and the error says why.
func TestWriteRefusesDirectory(t *testing.T) {
	for _, tc := range []struct {
		name string
		// dir gives the directory named and the one it leads to (that
		// a link points at, or the same)
		dir  func(t *testing.T) (named, reached string)
		want string
	}{
		{"a link for the directory", func(t *testing.T) (string, string) {
			base, target := collectorDir(t), collectorDir(t)
			if err := os.Symlink(target, filepath.Join(base, "node-exporter")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "node-exporter"), target
		}, "a symbolic link in its path"},
		{"a link above it", func(t *testing.T) (string, string) {
			base, target := collectorDir(t), collectorDir(t)
			if err := os.Mkdir(filepath.Join(target, "node-exporter"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(base, "prometheus")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "prometheus", "node-exporter"), filepath.Join(target, "node-exporter")
		}, "a symbolic link in its path"},
		{"writable by its group", func(t *testing.T) (string, string) {
			dir := collectorDir(t)
			if err := os.Chmod(dir, 0o775); err != nil {
				t.Fatal(err)
			}
			return dir, dir
		}, "mode 0775 lets others write it"},
		{"writable by all, sticky", func(t *testing.T) (string, string) {
			dir := collectorDir(t)
			if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			return dir, dir
		}, "mode 1777 lets others write it"},
		{"owned by another user", func(t *testing.T) (string, string) {
			testns.RequireRoot(t)
			dir := collectorDir(t)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return dir, dir
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			named, reached := tc.dir(t)
			// What a check would read back and rewrite, had it followed
			// the path.
			planted := filepath.Join(reached, "symroute.prom")
			old := Text(&look, &ok, "0.9")
			if err := os.WriteFile(planted, old, 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(named, "symroute.prom")
			for what, err := range map[string]error{
				"a pass":  WritePass(path, &look, ok, "1.2"),
				"a check": WriteCheck(path, look, "1.2"),
			} {
				if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v, want an error saying %q", what, err, tc.want)
				}
			}
			entries, err := os.ReadDir(reached)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(planted); len(entries) != 1 || string(got) != string(old) {
				t.Errorf("the refused directory was written: %v, the file now\n%s", entries, got)
			}
		})
	}
}
