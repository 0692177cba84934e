package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/regfile"
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
	Links   []Link
	Pending int // changes a pass would make
	// Warnings counts the warnings found by ID, with every ID the program
	// knows (0 where none was found), so that an alert can name one.
	Warnings map[string]int
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

// Text renders look (none if nil: the look failed, and no gauge may read
// as in sync), and the last pass's gauges from p (none if nil); version is
// the program's.
func Text(look *Look, p *Pass, version string) []byte {
	var b bytes.Buffer
	gauge(&b, "symroute_info", "The running symroute-sync, by version.")
	fmt.Fprintf(&b, "symroute_info{version=%s} 1\n", label(version))
	if look != nil {
		writeLook(&b, *look)
	}
	if p != nil {
		writePass(&b, *p)
	}
	return b.Bytes()
}

func writeLook(b *bytes.Buffer, look Look) {
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
	ids := make([]string, 0, len(look.Warnings))
	total := 0
	for id, n := range look.Warnings {
		ids = append(ids, id)
		total += n
	}
	sort.Strings(ids)
	gauge(b, "symroute_warnings", "Conditions found that may defeat symmetric routing (logged, and shown by --status).")
	fmt.Fprintf(b, "symroute_warnings %d\n", total)
	gauge(b, "symroute_warning", "The same, by warning ID (the README's Warnings table).")
	for _, id := range ids {
		fmt.Fprintf(b, "symroute_warning{id=%s} %d\n", label(id), look.Warnings[id])
	}
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
// quote and newline escaped, and valid UTF-8 (a link name may hold any
// byte but / and NUL, and one invalid byte would make the collector
// refuse the whole file).
func label(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(strings.ToValidUTF8(s, "\uFFFD")) + `"`
}

// WritePass writes look (nil: the look after the pass failed) and the pass
// p to path.
func WritePass(path string, look *Look, p Pass, version string) error {
	dir, err := openDir(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	return write(dir, path, Text(look, &p, version))
}

// WriteCheck writes look to path, keeping the last pass's gauges the file
// holds: read back as values and written anew, so that nothing else in the
// file (a line of another name, a value that is not a number) is carried.
func WriteCheck(path string, look Look, version string) error {
	dir, err := openDir(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	p, err := readPass(dir, path)
	if err != nil {
		return err
	}
	return write(dir, path, Text(&look, p, version))
}

// openDir opens the directory of the file at path, the only way to it that
// the file is then read, written and renamed by, if it is safe to write:
// reached through no link, the running user's, and written by no one else.
// Debian's /var/lib/prometheus belongs to the prometheus user, who could
// otherwise put a link or a directory of their own in node-exporter's
// place and have root write wherever they like. A missing directory is
// fs.ErrNotExist: the packaged timer names the collector's, which is there
// only where node_exporter is installed.
func openDir(path string) (*os.File, error) {
	name := filepath.Dir(path)
	dir, err := regfile.OpenDir(name)
	switch {
	case errors.Is(err, unix.ELOOP):
		err = errors.New("a symbolic link in its path")
	case err != nil:
		return nil, fmt.Errorf("open metrics directory: %w", err)
	default:
		if err = checkDir(dir); err == nil {
			return dir, nil
		}
		dir.Close()
	}
	return nil, fmt.Errorf("metrics directory %s: %w; refusing it (use a directory of the running user's "+
		"that no one else may write, with no link in its path)", name, err)
}

// checkDir accepts a directory owned by the running user (root, for the
// packaged units) without group or other write permission.
func checkDir(dir *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return err
	}
	switch {
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("owned by uid %d, not %d", st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("mode %04o lets others write it", st.Mode&0o7777)
	}
	return nil
}

// passGauges are the last pass's gauges, by name after lastPass, each with
// the values a pass writes: a check writes back nothing else, since a
// value out of range would be converted into another (1e300 changes made
// a negative count, 2 a failed pass). NaN and the infinities fail every
// test.
var passGauges = map[string]func(float64) bool{
	"success":           isBit,
	"partial":           isBit,
	"duration_seconds":  func(x float64) bool { return x >= 0 && x*float64(time.Second) < math.MaxInt64 },
	"changes":           func(x float64) bool { return isWhole(x) && x < math.MaxInt },
	"timestamp_seconds": func(x float64) bool { return isWhole(x) && x < math.MaxInt64 },
}

func isBit(x float64) bool { return x == 0 || x == 1 }

// isWhole reports whether x is a whole number, 0 or more: a count, or
// seconds since the epoch as a pass writes them.
func isWhole(x float64) bool { return x >= 0 && x == math.Trunc(x) }

// readPass reads the last pass's gauges back from the file at path in
// dir: nil if it holds none, or not all of them as written.
func readPass(dir *os.File, path string) (*Pass, error) {
	// Not following a link, nor blocking on a FIFO planted in the
	// collector's directory; at most what a pass writes, many times over.
	b, err := regfile.ReadIn(dir, filepath.Base(path), false, 1<<20)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %s for its last pass: %w", path, err)
	}
	vals := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, lastPass) {
			continue
		}
		name = strings.TrimPrefix(name, lastPass)
		if inRange, known := passGauges[name]; known {
			if x, err := strconv.ParseFloat(v, 64); err == nil && inRange(x) {
				vals[name] = x
			}
		}
	}
	if len(vals) != len(passGauges) {
		return nil, nil
	}
	return &Pass{OK: vals["success"] == 1, Partial: vals["partial"] == 1,
		Duration: time.Duration(vals["duration_seconds"] * float64(time.Second)),
		Applied:  int(vals["changes"]), End: time.Unix(int64(vals["timestamp_seconds"]), 0)}, nil
}

// write replaces the file at path in dir with text whole: the collector
// may read it at any moment, and must never see half a file. The
// temporary file, the rename and the fsync are all relative to dir.
func write(dir *os.File, path string, text []byte) error {
	dfd := int(dir.Fd())
	tmp, f, err := createTemp(dfd, filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
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
		err = unix.Renameat(dfd, tmp, dfd, filepath.Base(path))
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	// The rename itself, made durable as the file's contents were.
	if err := unix.Fsync(dfd); err != nil {
		return fmt.Errorf("sync metrics directory of %s: %w", path, err)
	}
	return nil
}

// createTemp makes a new file in the directory dfd to be renamed to name,
// as os.CreateTemp does by path: a dot file, so that the collector (which
// reads *.prom) never reads it.
func createTemp(dfd int, name string) (string, *os.File, error) {
	for i := 0; ; i++ {
		tmp := "." + name + "." + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) && i < 100 {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("create a temporary file for %s: %w", name, err)
		}
		return tmp, os.NewFile(uintptr(fd), tmp), nil
	}
}
