package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// syncBin is the symroute-sync built by TestMain.
var syncBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// SYMROUTE_E2E_BINARY names a ready-built binary to test instead (a
// packaged one, or a deliberately broken one to show the tests can fail).
func runMain(m *testing.M) int {
	// Every test keeps symroute's lock and lease records in its own
	// directories: the host's /run/symroute must not appear because of
	// them (it may exist already on a host running symroute).
	hostRun := "/run/symroute"
	_, err := os.Lstat(hostRun)
	hadHostRun := err == nil
	defer func() {
		if _, err := os.Lstat(hostRun); err == nil && !hadHostRun {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: a test wrote the host's %s\n", hostRun)
			os.Exit(1)
		}
	}()
	if bin := os.Getenv("SYMROUTE_E2E_BINARY"); bin != "" {
		syncBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "symroute-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go env GOMOD: %v\n", err)
		return 1
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	syncBin = filepath.Join(dir, "symroute-sync")
	build := exec.Command("go", "build", "-o", syncBin, "./cmd/symroute-sync")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as packaged
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/symroute-sync: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// requireRoot skips t when not root, and fails it under CI.
func requireRoot(t *testing.T) {
	t.Helper()
	testns.RequireRoot(t)
}

// Generous: namespaces, links and carriers come up asynchronously.
const (
	pollTimeout  = 15 * time.Second
	pollInterval = 20 * time.Millisecond
)

// eventually polls cond until it returns nil or pollTimeout passes, and fails
// t with cond's last error.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	waitFor(t, what, pollTimeout, cond)
}

// waitFor polls cond until it returns nil or timeout passes, and fails t
// with cond's last error. Every wait in these tests is one of these: the
// kernel and the daemons are asynchronous, and a generous timeout costs
// nothing when things go right.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// ns is a named network namespace a test created.
type ns struct {
	t    *testing.T
	Name string
}

func randomTag() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newNS creates "symtest-TAG-ROLE" with its loopback up and IPv6 DAD off (so
// addresses are usable at once and no late address event reaches a
// monitor), and removes it when t ends, even on failure.
func newNS(t *testing.T, tag, role string) *ns {
	t.Helper()
	n := &ns{t: t, Name: "symtest-" + tag + "-" + role}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", n.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", n.Name, err, out)
		}
	})
	n.sysctl("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	n.ip("link", "set", "lo", "up")
	return n
}

// ipErr runs `ip -n NS ARGS...`: the namespace is always named, so nothing
// can land in the host's network. It returns stdout only: ip warns on stderr
// about things that do not matter here (a peer namespace that another test
// is removing).
func (n *ns) ipErr(args ...string) (string, error) {
	argv := append([]string{"-n", n.Name}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ip %s: %v: %s%s", strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(stdout.Bytes()))
	}
	return stdout.String(), nil
}

func (n *ns) ip(args ...string) string {
	n.t.Helper()
	out, err := n.ipErr(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// ips runs several ip commands, each a space-separated line.
func (n *ns) ips(lines ...string) {
	n.t.Helper()
	for _, l := range lines {
		n.ip(strings.Fields(l)...)
	}
}

// exec runs a command inside the namespace through `ip netns exec`.
func (n *ns) execCmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

func (n *ns) sysctl(settings ...string) {
	n.t.Helper()
	for _, s := range settings {
		if out, err := n.execCmd("sysctl", "-qw", s).CombinedOutput(); err != nil {
			n.t.Fatalf("ip netns exec %s sysctl -w %s: %v\n%s", n.Name, s, err, out)
		}
	}
}

var linkLine = regexp.MustCompile(`^(\d+): ([^:@ ]+)`)

// ifindex reads a link's index from `ip -o link`: ifindexes are per
// namespace, but never assumed.
func (n *ns) ifindex(link string) int {
	n.t.Helper()
	out := n.ip("-o", "link", "show", "dev", link)
	m := linkLine.FindStringSubmatch(out)
	if m == nil || m[2] != link {
		n.t.Fatalf("ip -o link show dev %s: cannot parse %q", link, out)
	}
	i, _ := strconv.Atoi(m[1])
	return i
}

// table is the table symroute gives link with the default base.
func (n *ns) table(link string) string {
	n.t.Helper()
	return strconv.Itoa(1000 + n.ifindex(link))
}

// veth makes a veth pair between two namespaces, each end with an optional
// address, both up.
func veth(t *testing.T, a *ns, aName, aAddr string, b *ns, bName, bAddr string) {
	t.Helper()
	a.ip("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	if aAddr != "" {
		a.ip("addr", "add", aAddr, "dev", aName)
	}
	if bAddr != "" {
		b.ip("addr", "add", bAddr, "dev", bName)
	}
	a.ip("link", "set", aName, "up")
	b.ip("link", "set", bName, "up")
}

// --- readback -------------------------------------------------------------

var protoName = regexp.MustCompile(`\bproto symroute\b`)

// normalize turns ip(8) output into comparable lines: continuation lines
// (a multipath route's nexthops) joined to their route, whitespace
// collapsed, volatile "expires N" dropped, and the rule protocol shown as
// its number whether or not rt_protos names it.
func normalize(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] += " " + l
			continue
		}
		lines = append(lines, l)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		var keep []string
		for j := 0; j < len(f); j++ {
			if f[j] == "expires" && j+1 < len(f) {
				j++
				continue
			}
			keep = append(keep, f[j])
		}
		lines[i] = protoName.ReplaceAllString(strings.Join(keep, " "), "proto 234")
	}
	return lines
}

func sorted(l []string) []string {
	l = append([]string{}, l...)
	sort.Strings(l)
	if l == nil {
		l = []string{}
	}
	return l
}

// rules is `ip -4 rule` or `ip -6 rule` ("4"/"6"), sorted.
func (n *ns) rules(fam string) []string {
	n.t.Helper()
	return sorted(normalize(n.ip("-"+fam, "rule", "show")))
}

// routes is `ip -4|-6 route show table T`, sorted.
// A table that was never written, or was emptied, does not exist for the
// kernel: ip says so and exits 2, which reads back as no routes.
func (n *ns) routes(fam, table string) []string {
	n.t.Helper()
	out, err := n.ipErr("-"+fam, "route", "show", "table", table)
	if err != nil {
		if strings.Contains(err.Error(), "FIB table does not exist") {
			return []string{}
		}
		n.t.Fatal(err)
	}
	return sorted(normalize(out))
}

// dump is every rule and every route of every table, both families, each
// line labelled with its source: what "nothing changed" is compared on.
func (n *ns) dump() []string {
	n.t.Helper()
	var all []string
	for _, q := range [][]string{
		{"-4", "rule", "show"}, {"-6", "rule", "show"},
		{"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
	} {
		label := strings.Join(q, " ") + ": "
		for _, l := range sorted(normalize(n.ip(q...))) {
			all = append(all, label+l)
		}
	}
	return all
}

// --- the binary -----------------------------------------------------------

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// symroute runs `ip netns exec NS symroute-sync --config EMPTY --lock-file L ARGS`
// as a fresh process. The empty config and the lock file in a temp dir keep
// the run off the host's /etc and /run; later flags in args override them.
func (n *ns) symroute(args ...string) result {
	n.t.Helper()
	dir := n.t.TempDir()
	conf := filepath.Join(dir, "symroute.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		n.t.Fatal(err)
	}
	argv := append([]string{"--config", conf, "--lock-file", filepath.Join(dir, "sync.lock")}, args...)
	return runResult(n.t, n.execCmd(syncBin, argv...))
}

func runResult(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, r)
	}
	return r
}

// pass runs one --once pass and fails t unless it exits 0.
func (n *ns) pass() result {
	n.t.Helper()
	r := n.symroute("--once")
	if r.code != 0 {
		n.t.Fatalf("symroute-sync --once in %s: want exit 0, got %s", n.Name, r)
	}
	return r
}

// --- monitors ---------------------------------------------------------------

// monitor is a kernel event monitor (`ip -o monitor`, `nft monitor`)
// running in a namespace, each line stamped when read (both flush after
// every message). Markers (something of the monitor's own, made and
// removed) delimit what it printed while something ran, so a quiet window
// is proved to have been watched, not just missed.
type monitor struct {
	t     *testing.T
	n     *ns
	what  string
	mu    sync.Mutex
	lines []tsLine
	seq   int
	// marker makes and removes marker seq and returns the lines that
	// say so.
	marker func(seq int) (made, removed func(line string) bool)
	// clean turns what was printed between markers into comparable lines.
	clean func(lines []string) []string
}

type tsLine struct {
	at   time.Time
	text string
}

// texts returns the text of lines; m.mu held.
func texts(lines []tsLine) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return strings.Join(out, "\n")
}

// since returns the lines read at or after from that match re.
func (m *monitor) since(from time.Time, re *regexp.Regexp) []tsLine {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []tsLine
	for _, l := range m.lines {
		if !l.at.Before(from) && re.MatchString(l.text) {
			out = append(out, l)
		}
	}
	return out
}

// startMonitor is `ip -o monitor route rule address link`; a marker is a
// rule at a private priority.
func startMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "ip monitor", clean: func(l []string) []string { return normalize(strings.Join(l, "\n")) }}
	m.marker = func(seq int) (made, removed func(string) bool) {
		src := fmt.Sprintf("10.254.%d.%d", seq/250, seq%250+1)
		key := "from " + src + " lookup 7777"
		n.ip("rule", "add", "priority", "7777", "from", src, "lookup", "7777")
		n.ip("rule", "del", "priority", "7777", "from", src, "lookup", "7777")
		return func(l string) bool { return strings.Contains(l, key) && !strings.HasPrefix(l, "Deleted") },
			func(l string) bool { return strings.Contains(l, key) && strings.HasPrefix(l, "Deleted") }
	}
	m.start(exec.Command("ip", "-n", n.Name, "-o", "monitor", "route", "rule", "address", "link"))
	return m
}

func (m *monitor) start(cmd *exec.Cmd) {
	m.t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start %s: %v", m.what, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			m.mu.Lock()
			m.lines = append(m.lines, tsLine{time.Now(), sc.Text()})
			m.mu.Unlock()
		}
	}()
	m.t.Cleanup(func() {
		// Only the monitor this test started, by its pid.
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
}

// mark makes and removes a marker and waits until the monitor has printed
// both; it returns the index of the marker's making and of the line after
// its removal. A marker made before the monitor was listening is never
// seen: then a fresh one is tried.
func (m *monitor) mark() (added, after int) {
	m.t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		m.seq++
		made, removed := m.marker(m.seq)
		try := time.Now().Add(2 * time.Second)
		for time.Now().Before(try) {
			added = -1
			m.mu.Lock()
			for i, l := range m.lines {
				switch {
				case made(l.text):
					added = i
				case removed(l.text) && added >= 0:
					m.mu.Unlock()
					return added, i + 1
				}
			}
			m.mu.Unlock()
			time.Sleep(pollInterval)
		}
		if time.Now().After(deadline) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.t.Fatalf("%s in %s never printed a marker; it printed:\n%s", m.what, m.n.Name, texts(m.lines))
		}
	}
}

// during returns what the monitor printed while fn ran, and nothing else:
// the lines between an opening marker's removal and a closing marker's
// making.
func (m *monitor) during(fn func()) []string {
	m.t.Helper()
	_, from := m.mark()
	fn()
	to, _ := m.mark()
	m.mu.Lock()
	defer m.mu.Unlock()
	raw := make([]string, 0, to-from)
	for _, l := range m.lines[from:to] {
		raw = append(raw, l.text)
	}
	if got := m.clean(raw); got != nil {
		return got
	}
	return []string{}
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
