package e2e

// What the NetworkManager and systemd-networkd tests share: a host whose
// two uplinks are configured by DHCP, the real network stack running in a
// private mount and PID namespace inside that host's network namespace, a
// timestamped ip monitor, and the check that the host holds symroute's
// mirror.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// hookStackTimeout bounds every wait on a real network stack: DHCP, daemons
// starting, hooks running. Generous, as the tests only wait, never time.
const hookStackTimeout = 90 * time.Second

// hookNet is the network of the NetworkManager and networkd tests:
//
//	CLIENT 172.31.1.2 --- 172.31.1.1 UP1 10.0.0.1/16    --- em1 (DHCP) HOST
//	       172.31.2.2 --- 172.31.2.1 UP2 192.168.0.1/24 --- em2 (DHCP) HOST
//
// UP1 and UP2 each run dnsmasq on their HOST side (the router option is
// themselves) and forward with strict reverse-path filtering, their
// default route pointing at CLIENT: CLIENT reaches an address of HOST only
// if HOST answers from it through the uplink that owns it.
type hookNet struct {
	host, up1, up2, client *ns
}

func newHookNet(t *testing.T) *hookNet {
	t.Helper()
	requireRoot(t)
	testns.RequirePrograms(t, "dnsmasq-base", "dnsmasq")
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
	testns.RequirePrograms(t, "util-linux", "unshare", "nsenter")
	tag := randomTag()
	s := &hookNet{
		host:   newNS(t, tag, "host"),
		up1:    newNS(t, tag, "up1"),
		up2:    newNS(t, tag, "up2"),
		client: newNS(t, tag, "client"),
	}
	for i, up := range []*ns{s.up1, s.up2} {
		em := []string{"em1", "em2"}[i]
		gw := []string{"10.0.0.1/16", "192.168.0.1/24"}[i]
		pool := []string{"10.0.0.100,10.0.0.200,255.255.0.0", "192.168.0.100,192.168.0.200,255.255.255.0"}[i]
		net := []string{"172.31.1", "172.31.2"}[i]
		veth(t, s.host, em, "", up, "up0", gw)
		veth(t, up, "down0", net+".1/24", s.client, fmt.Sprintf("r%d", i+1), net+".2/24")
		up.sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=1",
			"net.ipv4.conf.up0.rp_filter=1", "net.ipv4.conf.down0.rp_filter=1")
		up.ip("route", "add", "default", "via", net+".2", "dev", "down0")
		startHookDnsmasq(t, up, pool, strings.Split(gw, "/")[0])
	}
	s.client.ips(
		"route add 10.0.0.0/16 via 172.31.1.1 dev r1",
		"route add 192.168.0.0/24 via 172.31.2.1 dev r2",
	)
	return s
}

// startHookDnsmasq serves DHCP on up0 of n until t ends. --no-ping: else each
// lease waits ~3 s for an ICMP check. Its log is shown if t fails.
func startHookDnsmasq(t *testing.T, n *ns, pool, router string) {
	t.Helper()
	dir := t.TempDir()
	var log bytes.Buffer
	cmd := n.execCmd("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=up0", "--bind-interfaces", "--no-ping", "--dhcp-authoritative",
		"--dhcp-range="+pool+",2m", "--dhcp-option=option:router,"+router,
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file=",
		"--log-facility=-")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq in %s: %v", n.Name, err)
	}
	t.Cleanup(func() { // before the namespace goes: cleanups run last-in first
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq in %s:\n%s", n.Name, log.String())
		}
	})
}

// waitHookStack polls cond until it returns nil or hookStackTimeout
// passes, and fails t with cond's last error.
func waitHookStack(t *testing.T, what string, cond func() error) {
	t.Helper()
	waitFor(t, what, hookStackTimeout, cond)
}

// --- the network stack in a private mount and PID namespace ---------------

// hookStack is a real network stack (NetworkManager, or systemd-networkd and
// networkd-dispatcher, each with a private D-Bus system bus) started by
// testdata/KIND/start.sh inside HOST's network namespace, through
//
//	ip netns exec HOST unshare --pid --fork --mount-proc sh start.sh DIR BINARY
//
// The script's mounts (a private directory over /run, the hooks' and
// daemons' directories, symroute-sync at /usr/sbin/symroute-sync, /sys
// read-only) exist only in its own mount namespace, and every process it
// starts is in its PID namespace, so all of them end with it.
type hookStack struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	init int // the PID namespace's init (the daemon), as this process sees it
	done chan struct{}
	out  *os.File
}

// hookStackDir makes the directory a start.sh expects: DIR/run (the private
// /run, with run/symtest for the tests' own files), DIR/sbin/symroute-sync
// (the empty file the binary is bind-mounted on) and DIR/empty.
func hookStackDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"run/symtest", "sbin", "empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sbin", "symroute-sync"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startHookStack(t *testing.T, host *ns, dir, script string) *hookStack {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	s := &hookStack{t: t, dir: dir, out: out, done: make(chan struct{}),
		cmd: host.execCmd("unshare", "--pid", "--fork", "--mount-proc", "sh", abs, dir, syncBin)}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop) // before the namespaces go
	// `ip netns exec` execs unshare, whose one child is the namespace's init.
	children := fmt.Sprintf("/proc/%d/task/%d/children", s.cmd.Process.Pid, s.cmd.Process.Pid)
	waitHookStack(t, "the stack's init process", func() error {
		select {
		case <-s.done:
			return nil // reported below
		default:
		}
		b, err := os.ReadFile(children)
		if err != nil {
			return err
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.init, err = strconv.Atoi(f[0])
			return err
		}
		return fmt.Errorf("%s is empty", children)
	})
	if s.init == 0 {
		t.Fatalf("%s exited at once", script)
	}
	return s
}

// waitFor is waitHookStack that gives up at once if the stack has exited.
func (s *hookStack) waitFor(what string, cond func() error) {
	s.t.Helper()
	waitHookStack(s.t, what, func() error {
		select {
		case <-s.done:
			s.t.Fatalf("%s: the stack has exited", what)
		default:
		}
		return cond()
	})
}

// stop sends the daemon SIGTERM (it is init: only a signal it handles gets
// through) and waits for it; the kernel then kills the rest of the PID
// namespace.
func (s *hookStack) stop() {
	select {
	case <-s.done:
	default:
		if s.init > 0 {
			syscall.Kill(s.init, syscall.SIGTERM)
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.t.Errorf("%s did not stop on SIGTERM within 30 s: killed", s.cmd.Args[len(s.cmd.Args)-3])
			if s.init > 0 {
				syscall.Kill(s.init, syscall.SIGKILL)
			}
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.out.Close()
	if s.t.Failed() {
		b, _ := os.ReadFile(s.out.Name())
		s.t.Logf("stack output (%s), last 12 KB:\n%s", s.out.Name(), lastBytes(b, 12<<10))
		logs, _ := filepath.Glob(filepath.Join(s.dir, "run", "symtest", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s.t.Logf("%s, last 12 KB:\n%s", l, lastBytes(b, 12<<10))
		}
	}
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// exec runs a command in the stack's mount and network namespaces (so it
// sees the private /run and bus), and returns its combined output.
func (s *hookStack) exec(name string, args ...string) (string, error) {
	select {
	case <-s.done:
		return "", fmt.Errorf("%s: the stack has exited", name)
	default:
	}
	argv := append([]string{"-t", strconv.Itoa(s.init), "-m", "-n", "-p", "--", name}, args...)
	cmd := exec.Command("nsenter", argv...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (s *hookStack) mustExec(name string, args ...string) string {
	s.t.Helper()
	out, err := s.exec(name, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// installHookAsPackaged copies a hook as packaged, byte for byte, to dst
// with the mode it is installed with (0755, root:root): NetworkManager
// skips a script that is group- or other-writable, networkd-dispatcher one
// whose mode is not exactly 0755.
func installHookAsPackaged(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("the packaged hook: %v", err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o111 != 0o111 || st.Mode().Perm()&0o022 != 0 {
		t.Errorf("%s has mode %v in the source tree: want it executable by all, writable by its owner only", src, st.Mode().Perm())
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chown(dst, 0, 0); err != nil {
		t.Fatal(err)
	}
}

// assertPrivateLock checks that the hook's passes took their lock at the
// default path, /run/symroute/sync.lock, and that it is the stack's
// private /run that holds it, not the machine's.
func (s *hookStack) assertPrivateLock() {
	s.t.Helper()
	if _, err := os.Stat(filepath.Join(s.dir, "run", "symroute", "sync.lock")); err != nil {
		s.t.Errorf("the passes' lock in the private /run: %v", err)
	}
}

// hookCalls reads the log testdata/*/00-log and 99-log write around our
// hook: "TIME start|end ARGS...".
func (s *hookStack) hookCalls() []stackHookCall {
	b, _ := os.ReadFile(filepath.Join(s.dir, "run", "symtest", "hooks.log"))
	var calls []stackHookCall
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		calls = append(calls, stackHookCall{
			at:   time.Unix(0, int64(sec*1e9)),
			end:  f[1] == "end",
			args: strings.Join(f[2:], " "),
		})
	}
	return calls
}

type stackHookCall struct {
	at   time.Time
	end  bool
	args string
}

// ourTableLines matches what a pass writes for table: its rules and routes.
func ourTableLines(table string) *regexp.Regexp {
	return regexp.MustCompile(`\b(table|lookup) ` + table + `\b`)
}

// --- the mirror -------------------------------------------------------------

var hookInetAddr = regexp.MustCompile(`\binet ([0-9.]+)/`)

// globalAddrs4 is link's global IPv4 addresses.
func globalAddrs4(h *ns, link string) ([]string, error) {
	out, err := h.ipErr("-4", "-o", "addr", "show", "dev", link, "scope", "global")
	if err != nil {
		return nil, err
	}
	var a []string
	for _, m := range hookInetAddr.FindAllStringSubmatch(out, -1) {
		a = append(a, m[1])
	}
	return a, nil
}

// mirroredEm says whether HOST holds exactly symroute's IPv4 mirror of em1
// and em2 (what a pass makes): a rule per global address of each, each
// link's table the main table's routes through it (nothing when it has no
// address), no rule for anything else; and that --check finds nothing to
// do, IPv6 included.
func mirroredEm(h *ns) error {
	rules := []string{"0: from all lookup local", "32766: from all lookup main", "32767: from all lookup default"}
	mainOut, err := h.ipErr("-4", "route", "show", "table", "main")
	if err != nil {
		return err
	}
	for _, link := range []string{"em1", "em2"} {
		a, err := globalAddrs4(h, link)
		if err != nil {
			return err
		}
		table := h.table(link)
		for _, addr := range a {
			rules = append(rules, "32765: from "+addr+" lookup "+table+" proto 234")
		}
		want := []string{}
		if len(a) > 0 {
			for _, r := range normalize(mainOut) {
				if strings.Contains(" "+r+" ", " dev "+link+" ") && !strings.Contains(" "+r+" ", " linkdown ") {
					want = append(want, r)
				}
			}
		}
		if diff := cmp.Diff(sorted(want), h.routes("4", table)); diff != "" {
			return fmt.Errorf("ip -4 route show table %s (%s) (-want +got):\n%s", table, link, diff)
		}
	}
	if diff := cmp.Diff(sorted(rules), h.rules("4")); diff != "" {
		return fmt.Errorf("ip -4 rule (-want +got):\n%s", diff)
	}
	if r := h.symroute("--check"); r.code != 0 || r.stdout != "" {
		return fmt.Errorf("--check: want exit 0 and no output, got %s", r)
	}
	return nil
}

// assertStackSymmetric proves it: CLIENT reaches every address of em1 and em2
// through the strict routers, so each reply left by the link that owns its
// source address.
func assertStackSymmetric(t *testing.T, s *hookNet) {
	t.Helper()
	n := 0
	for _, link := range []string{"em1", "em2"} {
		a, err := globalAddrs4(s.host, link)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range a {
			mustPing(t, s.client, "", addr)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no address on em1 or em2 to ping")
	}
}

// preferredUplink is the link of main's lowest-metric IPv4 default route: the
// way every reply leaves without symroute.
func preferredUplink(t *testing.T, h *ns) string {
	t.Helper()
	best, link := -1, ""
	for _, r := range normalize(h.ip("-4", "route", "show", "table", "main", "default")) {
		f := strings.Fields(r)
		m, dev := 0, ""
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "metric":
				m, _ = strconv.Atoi(f[i+1])
			case "dev":
				dev = f[i+1]
			}
		}
		if best < 0 || m < best {
			best, link = m, dev
		}
	}
	if link == "" {
		t.Fatal("no IPv4 default route in main")
	}
	return link
}

func otherUplink(link string) string {
	if link == "em1" {
		return "em2"
	}
	return "em1"
}

// stackLatency is one measured figure for the closing log.
type stackLatency struct {
	what string
	d    time.Duration
}

// hookConvergence measures, for a phase that began at from, how long the
// stack's hook took to converge table: from the start of the hook call that
// made the last change to the table (a rule or route: the test has just
// seen the state converged), and, unless event is nil, from the first
// monitor line matching it (what the stack did to the link: an address
// added or removed). A phase in which nothing was written to the table
// reports nothing.
func hookConvergence(t *testing.T, s *hookStack, m *monitor, from time.Time, what, table string, event *regexp.Regexp) []stackLatency {
	t.Helper()
	ours := m.since(from, ourTableLines(table))
	if len(ours) == 0 {
		t.Logf("%s: nothing written to table %s", what, table)
		return nil
	}
	done := ours[len(ours)-1].at
	var out []stackLatency
	var call *stackHookCall
	calls := s.hookCalls()
	for i := range calls {
		if c := calls[i]; !c.end && !c.at.Before(from) && !c.at.After(done) {
			call = &calls[i]
		}
	}
	if call == nil {
		t.Errorf("%s: the last change to table %s (%q) came outside any hook call", what, table, ours[len(ours)-1].text)
	} else {
		out = append(out, stackLatency{fmt.Sprintf("%s: hook call %q start -> converged", what, call.args), done.Sub(call.at)})
	}
	if event == nil {
		return out
	}
	if first := m.since(from, event); len(first) > 0 && !first[0].at.After(done) {
		out = append(out, stackLatency{fmt.Sprintf("%s: first %q -> converged", what, first[0].text[:min(len(first[0].text), 40)]), done.Sub(first[0].at)})
	}
	return out
}

// addrEventRe matches link's IPv4 addresses being added or removed.
func addrEventRe(link string) *regexp.Regexp {
	return regexp.MustCompile(`^(Deleted )?\d+: ` + link + `\s+inet `)
}

// waitHooksIdle waits until every hook call has ended and none started for
// a second: the stack has finished reacting, so what the test does next is
// not undone by a pass still on its way.
func (s *hookStack) waitHooksIdle() {
	s.t.Helper()
	s.waitFor("the hooks to go idle", func() error {
		calls := s.hookCalls()
		if len(calls) == 0 {
			return fmt.Errorf("no hook call yet")
		}
		open := 0
		for _, c := range calls {
			if c.end {
				open--
			} else {
				open++
			}
		}
		if open != 0 {
			return fmt.Errorf("%d hook calls running", open)
		}
		if last := calls[len(calls)-1].at; time.Since(last) < time.Second {
			return fmt.Errorf("last hook call ended %v ago", time.Since(last))
		}
		return nil
	})
}

// hookDurations is how long each hook call since from took, 00-log to
// 99-log with our script between: what the calling stack waited for.
func hookDurations(s *hookStack, from time.Time) []time.Duration {
	var d []time.Duration
	open := map[string]time.Time{}
	for _, c := range s.hookCalls() {
		if c.at.Before(from) {
			continue
		}
		if !c.end {
			open[c.args] = c.at
		} else if st, ok := open[c.args]; ok {
			d = append(d, c.at.Sub(st))
			delete(open, c.args)
		}
	}
	return d
}

func logHookLatencies(t *testing.T, s *hookStack, ls []stackLatency) {
	t.Helper()
	for _, l := range ls {
		t.Logf("latency: %-70s %7.1f ms", l.what, float64(l.d.Microseconds())/1000)
	}
	d := hookDurations(s, time.Time{})
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	t.Logf("latency: hook calls (00-log to 99-log, our script between): %d, median %.1f ms, max %.1f ms",
		len(d), float64(d[len(d)/2].Microseconds())/1000, float64(d[len(d)-1].Microseconds())/1000)
}

// logHookTimeline logs, when SYMROUTE_E2E_TIMELINE is set or t failed, every
// hook call and ip monitor line since from, in time order.
func logHookTimeline(t *testing.T, s *hookStack, m *monitor, from time.Time) {
	t.Helper()
	if os.Getenv("SYMROUTE_E2E_TIMELINE") == "" && !t.Failed() {
		return
	}
	var ev []tsLine
	for _, c := range s.hookCalls() {
		ev = append(ev, tsLine{c.at, fmt.Sprintf("HOOK %s %s", map[bool]string{false: "start", true: "end  "}[c.end], c.args)})
	}
	ev = append(ev, m.since(from, regexp.MustCompile(``))...)
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].at.Before(ev[j].at) })
	var b strings.Builder
	for _, e := range ev {
		if !e.at.Before(from) {
			fmt.Fprintf(&b, "%9.1f ms  %s\n", float64(e.at.Sub(from).Microseconds())/1000, e.text)
		}
	}
	t.Logf("timeline since %s:\n%s", from.Format(time.StampMicro), b.String())
}

// --- the scripts alone ---------------------------------------------------------

// runHookScript runs an installed copy of a packaged hook with args and
// extra environment, in a private mount namespace where
// /usr/sbin/symroute-sync is a stand-in that records its arguments
// (NUL-terminated) and exits with exitCode. It returns the hook's exit
// status and the arguments the stand-in got (nil if it never ran).
func runHookScript(t *testing.T, hook string, exitCode int, env []string, args ...string) (int, []string) {
	t.Helper()
	dir := hookStackDir(t)
	script := filepath.Join(dir, "hook")
	installHookAsPackaged(t, hook, script)
	record := filepath.Join(dir, "argv")
	fake := filepath.Join(dir, "fake-symroute-sync")
	body := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\0' \"$a\"; done > '%s'\nexit %d\n", record, exitCode)
	if err := os.WriteFile(fake, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c",
		`mount --make-rprivate / && mount -t overlay overlay -o "lowerdir=$1/sbin:/usr/sbin" /usr/sbin &&
		mount --bind "$2" /usr/sbin/symroute-sync && shift 2 && exec "$@"`,
		"sh", dir, fake, script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	r := runResult(t, cmd)
	if r.stdout != "" || r.stderr != "" {
		t.Logf("%s printed: %s", hook, r)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		return r.code, nil
	}
	got := strings.Split(string(b), "\x00")
	return r.code, got[:len(got)-1]
}

// hostileWords are words a hook may be handed (interface names may hold
// all but '/', ':' and whitespace; environment values anything): each
// would leave a file named pwned in the working directory if a shell
// evaluated it.
var hostileWords = []string{
	"$(touch pwned)",
	"`touch pwned`",
	"x;touch pwned",
	"x\ntouch pwned",
	"--priority=1",
	"$(touch${IFS}pwned)",
	"' \" && touch pwned",
	"",
}
