package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Link is one link's gauges.
type Link struct {
	Name  string
	Table uint32
	// Managed links have a table and rules; a skipped one is managed but
	// left alone for a clash.
	Managed, Skipped bool
	// Rules and Routes are what the link's rules and table hold now.
	Rules, Routes int
}

// Look is what one look at the kernel found.
type Look struct {
	Links    []Link
	Pending  int // changes a pass would make
	Warnings int
}

// Pass is what the last pass did.
type Pass struct {
	OK       bool // ended with everything applied and no link skipped
	Partial  bool // ended converged but for skipped links or refused options
	Duration time.Duration
	Applied  int
	End      time.Time
}

// lastPass prefixes the gauges a pass writes and a check carries over.
const lastPass = "symroute_last_pass_"

// Text renders look, and the last pass's gauges from p; version is the
// program's.
func Text(look Look, p Pass, version string) []byte {
	var b bytes.Buffer
	writeLook(&b, look, version)
	writePass(&b, p)
	return b.Bytes()
}

func writeLook(b *bytes.Buffer, look Look, version string) {
	gauge(b, "symroute_info", "The running symroute-sync, by version.")
	fmt.Fprintf(b, "symroute_info{version=%s} 1\n", label(version))
	var managed, skipped, other int
	for _, l := range look.Links {
		switch {
		case l.Skipped:
			skipped++
		case l.Managed:
			managed++
		default:
			other++
		}
	}
	gauge(b, "symroute_links", "Links by state: managed (mirrored), skipped (managed, but its table clashes with another program's), unmanaged (excluded, or of a kind symroute leaves alone).")
	fmt.Fprintf(b, "symroute_links{state=\"managed\"} %d\n", managed)
	fmt.Fprintf(b, "symroute_links{state=\"skipped\"} %d\n", skipped)
	fmt.Fprintf(b, "symroute_links{state=\"unmanaged\"} %d\n", other)
	gauge(b, "symroute_clashes", "Managed links skipped because another program uses their table.")
	fmt.Fprintf(b, "symroute_clashes %d\n", skipped)
	links := append([]Link(nil), look.Links...)
	sort.Slice(links, func(i, j int) bool { return links[i].Name < links[j].Name })
	gauge(b, "symroute_link_rules", "Rules symroute keeps for the link, as the kernel holds them.")
	for _, l := range links {
		if l.Managed {
			fmt.Fprintf(b, "symroute_link_rules{link=%s,table=\"%d\"} %d\n", label(l.Name), l.Table, l.Rules)
		}
	}
	gauge(b, "symroute_link_routes", "Routes in the link's table, as the kernel holds them.")
	for _, l := range links {
		if l.Managed {
			fmt.Fprintf(b, "symroute_link_routes{link=%s,table=\"%d\"} %d\n", label(l.Name), l.Table, l.Routes)
		}
	}
	gauge(b, "symroute_pending_changes", "Changes a pass would make: 0 when the kernel is in sync.")
	fmt.Fprintf(b, "symroute_pending_changes %d\n", look.Pending)
	gauge(b, "symroute_warnings", "Conditions found that may defeat symmetric routing (logged, and shown by --status).")
	fmt.Fprintf(b, "symroute_warnings %d\n", look.Warnings)
}

func writePass(b *bytes.Buffer, p Pass) {
	gauge(b, lastPass+"success", "1 if the last pass applied everything and skipped no link.")
	fmt.Fprintf(b, lastPass+"success %d\n", bit(p.OK))
	gauge(b, lastPass+"partial", "1 if the last pass converged but skipped links or could not enable an option.")
	fmt.Fprintf(b, lastPass+"partial %d\n", bit(p.Partial))
	gauge(b, lastPass+"duration_seconds", "How long the last pass took.")
	fmt.Fprintf(b, lastPass+"duration_seconds %s\n", strconv.FormatFloat(p.Duration.Seconds(), 'g', -1, 64))
	gauge(b, lastPass+"changes", "Changes the last pass applied.")
	fmt.Fprintf(b, lastPass+"changes %d\n", p.Applied)
	gauge(b, lastPass+"timestamp_seconds", "When the last pass ended, in seconds since the epoch.")
	fmt.Fprintf(b, lastPass+"timestamp_seconds %d\n", p.End.Unix())
}

func gauge(b *bytes.Buffer, name, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// label quotes a label value as the text format wants: backslash, double
// quote and newline escaped (a link name may hold any byte but / and NUL).
func label(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// WritePass writes look and the pass p to path.
func WritePass(path string, look Look, p Pass, version string) error {
	return write(path, Text(look, p, version))
}

// WriteCheck writes look to path, keeping the last pass's gauges the file
// holds (none if it holds none).
func WriteCheck(path string, look Look, version string) error {
	var b bytes.Buffer
	writeLook(&b, look, version)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s for its last pass: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, lastPass) {
			b.WriteString(line + "\n")
		}
	}
	return write(path, b.Bytes())
}

// write replaces path with text whole: the collector may read it at any
// moment, and must never see half a file.
func write(path string, text []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(0o644) // node_exporter does not run as root
	if err == nil {
		_, err = f.Write(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}
