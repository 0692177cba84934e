package e2e

// Helpers of the DHCP hook tests (hooks_dhcp_*_test.go): two uplinks served
// by dnsmasq, and a private root for the DHCP client, where the hooks are
// installed as packaged and the freshly built binary sits at
// /usr/sbin/symroute-sync.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// dhcpTimeout is generous: a DHCP exchange takes a second or two, a
// renewal comes ~60 s after a bind (dnsmasq's shortest lease is 2 min).
const dhcpTimeout = 90 * time.Second

// dhcpHookTimeout bounds the wait for what one hook call must have done:
// generous next to the milliseconds it takes, and short of the renewals
// (~60 s after a bind), whose hooks run passes of their own and would
// otherwise mend the state for a hook that did nothing.
const dhcpHookTimeout = 30 * time.Second

// dhcpRemote is on the loopback of both uplinks: a ping to it from an
// address gets an answer only when it leaves by that address's uplink,
// since the other uplink has no route back to the address.
const dhcpRemote = "198.51.100.1"

// dhcpNet is HOST with em1 and em2, each a veth to an uplink namespace
// whose dnsmasq serves it:
//
//	HOST em1 (DHCP) --- up0 10.0.0.1/16    UP1  dnsmasq, router 10.0.0.1
//	HOST em2 (DHCP) --- up0 192.168.0.1/24 UP2  dnsmasq, router 192.168.0.1
//
// Both uplinks filter reverse paths strictly.
type dhcpNet struct {
	t       *testing.T
	host    *ns
	up      [2]*ns
	dnsmasq [2]*dhcpProc
	dir     string
	// classless makes dnsmasq send the default route as RFC 3442
	// classless static routes (option 121) too, as many servers do.
	classless bool
}

var dhcpUplinks = [2]struct{ net, router, lo, hi, mask string }{
	{"10.0.0.1/16", "10.0.0.1", "10.0.0.100", "10.0.0.200", "255.255.0.0"},
	{"192.168.0.1/24", "192.168.0.1", "192.168.0.100", "192.168.0.200", "255.255.255.0"},
}

func newDhcpNet(t *testing.T, classless bool) *dhcpNet {
	t.Helper()
	requireRoot(t)
	testns.RequirePrograms(t, "", "dnsmasq")
	tag := randomTag()
	d := &dhcpNet{t: t, host: newNS(t, tag, "host"), dir: t.TempDir(), classless: classless}
	for i := range d.up {
		u := newNS(t, tag, fmt.Sprintf("up%d", i+1))
		d.up[i] = u
		veth(t, d.host, fmt.Sprintf("em%d", i+1), "", u, "up0", dhcpUplinks[i].net)
		u.ip("addr", "add", dhcpRemote+"/32", "dev", "lo")
		u.sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.up0.rp_filter=1")
		d.startDnsmasq(i, dhcpUplinks[i].router)
	}
	return d
}

// startDnsmasq (re)starts uplink i's dnsmasq handing out router.
func (d *dhcpNet) startDnsmasq(i int, router string) {
	d.t.Helper()
	if p := d.dnsmasq[i]; p != nil {
		p.stop()
	}
	u := dhcpUplinks[i]
	log := filepath.Join(d.dir, fmt.Sprintf("dnsmasq%d.log", i+1))
	// --no-ping: else every offer waits ~3 s for an ICMP probe.
	// Classless, the Router option names a router nobody has: RFC 3442
	// has the client ignore it, and so must the lease record.
	routerOpt := router
	if d.classless {
		routerOpt = router[:strings.LastIndex(router, ".")] + ".253"
	}
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-hosts", "--no-resolv",
		"--user=root", "--interface=up0", "--bind-interfaces", "--no-ping", "--dhcp-authoritative",
		"--dhcp-range=" + u.lo + "," + u.hi + "," + u.mask + ",2m", "--dhcp-option=option:router," + routerOpt,
		"--dhcp-leasefile=" + filepath.Join(d.dir, fmt.Sprintf("dnsmasq%d.leases", i+1)),
		"--pid-file=", "--log-dhcp", "--log-facility=" + log}
	if d.classless {
		args = append(args, "--dhcp-option=121,0.0.0.0/0,"+router)
	}
	d.dnsmasq[i] = startDhcpProc(d.t, fmt.Sprintf("dnsmasq%d", i+1), d.up[i].execCmd("dnsmasq", args...))
}

// dhcpProc is a long-running program of a test, stopped at its end.
type dhcpProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *os.File
	once sync.Once
	done chan struct{}
}

func startDhcpProc(t *testing.T, name string, cmd *exec.Cmd) *dhcpProc {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &dhcpProc{t: t, name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

// stop ends the program with SIGTERM (dhclient and dhcpcd then run no
// hook), SIGKILL if it lingers.
func (p *dhcpProc) stop() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		p.out.Close()
	})
}

func (p *dhcpProc) output() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// dhcpRoot is a private root for a DHCP client, its hooks and the passes
// they run: a private mount namespace (made with unshare -m inside the
// network namespace, / rprivate before anything is mounted, so nothing
// propagates to the host) where
//   - /etc and /usr/sbin are overlays whose writes land in dir, never in
//     the host's (dhclient-script writes /etc/resolv.conf when a server
//     sends DNS servers);
//   - the freshly built binary is bind-mounted at /usr/sbin/symroute-sync;
//   - dir/run is mounted over /run (the lock and lease records land there);
//   - dir/var-lib-dhcp and dir/var-lib-dhcpcd over /var/lib/dhcp and
//     /var/lib/dhcpcd;
//   - each hook directory of binds is mounted over the client's own.
//
// A UTS namespace of its own keeps dhclient-script's set_hostname off the
// host's name.
type dhcpRoot struct {
	t     *testing.T
	dir   string
	bin   string
	binds [][2]string // host dir -> path inside
}

func newDhcpRoot(t *testing.T, bin string) *dhcpRoot {
	t.Helper()
	r := &dhcpRoot{t: t, dir: t.TempDir(), bin: bin}
	for _, d := range []string{"etc.upper", "etc.work", "sbin.upper", "sbin.work", "run", "var-lib-dhcp", "var-lib-dhcpcd"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The mount point of the binary: a bind mount needs one.
	if err := os.WriteFile(filepath.Join(r.dir, "sbin.upper", "symroute-sync"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// hookDir makes a private directory mounted over dst inside the root and
// returns its host path.
func (r *dhcpRoot) hookDir(dst string) string {
	r.t.Helper()
	src := filepath.Join(r.dir, "hooks", strings.ReplaceAll(strings.Trim(dst, "/"), "/", "_"))
	if err := os.MkdirAll(src, 0o755); err != nil {
		r.t.Fatal(err)
	}
	r.binds = append(r.binds, [2]string{src, dst})
	return src
}

// path is where a path inside the root lives on the host, for the private
// /run.
func (r *dhcpRoot) runPath(p string) string {
	return filepath.Join(r.dir, "run", strings.TrimPrefix(p, "/run/"))
}

const dhcpRootScript = `set -e
d=$1 bin=$2
shift 2
mount --make-rprivate /
mount -t overlay symroute-e2e -o "lowerdir=/etc,upperdir=$d/etc.upper,workdir=$d/etc.work" /etc
mount -t overlay symroute-e2e -o "lowerdir=/usr/sbin,upperdir=$d/sbin.upper,workdir=$d/sbin.work" /usr/sbin
mount --bind "$bin" /usr/sbin/symroute-sync
mount --bind "$d/run" /run
mount --bind "$d/var-lib-dhcp" /var/lib/dhcp
mount --bind "$d/var-lib-dhcpcd" /var/lib/dhcpcd
while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done
shift
cd "$d"
exec "$@"
`

// command runs argv in network namespace n inside the root.
func (r *dhcpRoot) command(n *ns, argv ...string) *exec.Cmd {
	args := []string{"netns", "exec", n.Name, "unshare", "-m", "-u", "sh", "-c", dhcpRootScript, "sh", r.dir, r.bin}
	for _, b := range r.binds {
		args = append(args, b[0], b[1])
	}
	args = append(append(args, "--"), argv...)
	return exec.Command("ip", args...)
}

// run runs argv in the root and returns its result.
func (r *dhcpRoot) run(t *testing.T, n *ns, env []string, argv ...string) result {
	t.Helper()
	cmd := r.command(n, argv...)
	if env != nil {
		cmd.Env = env
	}
	return runResult(t, cmd)
}

// sync runs a pass inside the root (its lock and lease records), as the
// timer would.
func (r *dhcpRoot) sync(t *testing.T, n *ns) result {
	t.Helper()
	res := r.run(t, n, nil, "/usr/sbin/symroute-sync", "--once", "--trigger", "timer")
	if res.code != 0 {
		t.Fatalf("timer pass: %s", res)
	}
	return res
}

// check is --check inside the root.
func (r *dhcpRoot) check(t *testing.T, n *ns) result {
	t.Helper()
	return r.run(t, n, nil, "/usr/sbin/symroute-sync", "--check")
}

// leaseRecord reads the record the hook left for iface ("" if none).
func (r *dhcpRoot) leaseRecord(iface string) string {
	b, err := os.ReadFile(filepath.Join(r.runPath("/run/symroute/leases"), iface))
	if err != nil {
		return ""
	}
	return string(b)
}

// dhcpInstall copies a script of the repository byte for byte, with
// the mode the package gives it.
func dhcpInstall(t *testing.T, src, dir, name string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", src))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// dhcpWriteHook writes a test's own hook (the event log around ours).
func dhcpWriteHook(t *testing.T, dir, name, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// The tests' own hooks log every call: "begin" runs before ours, "end"
// after it, so end minus begin is how long ours held the client up, and
// the kernel is converged at "end" (our pass runs in the hook).
const (
	dhcpLogBegin = `echo "$(date +%s.%N) begin reason=$reason interface=$interface" >> /run/hook.log` + "\n"
	dhcpLogEnd   = `echo "$(date +%s.%N) end reason=$reason interface=$interface" >> /run/hook.log` + "\n"
)

type dhcpEvent struct {
	at     time.Time
	end    bool
	reason string
	iface  string
}

var dhcpEventLine = regexp.MustCompile(`^(\d+)\.(\d+) (begin|end) reason=(\S*) interface=(\S*)$`)

func (r *dhcpRoot) events() []dhcpEvent {
	f, err := os.Open(r.runPath("/run/hook.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var evs []dhcpEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := dhcpEventLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, _ := strconv.ParseInt(m[1], 10, 64)
		ns, _ := strconv.ParseInt((m[2] + "000000000")[:9], 10, 64)
		evs = append(evs, dhcpEvent{time.Unix(s, ns), m[3] == "end", m[4], m[5]})
	}
	return evs
}

// waitEvent waits until the hooks have finished (the "end" log) for iface
// with one of reasons, past the events of iface already seen, and returns
// the matching begin and end. Each interface has its own place in the
// log: the clients of two interfaces run their hooks in any order.
func (r *dhcpRoot) waitEvent(t *testing.T, seen map[string]int, iface string, reasons ...string) (begin, end dhcpEvent) {
	t.Helper()
	deadline := time.Now().Add(dhcpTimeout)
	for {
		evs := r.events()
		open := map[string]dhcpEvent{}
		for i := seen[iface]; i < len(evs); i++ {
			e := evs[i]
			if e.iface != iface || !contains(reasons, e.reason) {
				continue
			}
			if !e.end {
				open[e.reason] = e
				continue
			}
			if b, ok := open[e.reason]; ok {
				seen[iface] = i + 1
				return b, e
			}
		}
		if time.Now().After(deadline) {
			var b bytes.Buffer
			for _, e := range evs {
				fmt.Fprintf(&b, "%s %s %s end=%v\n", e.at.Format("15:04:05.000"), e.iface, e.reason, e.end)
			}
			t.Fatalf("no %v for %s in the hook log after %v; the log:\n%s", reasons, iface, dhcpTimeout, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var dhcpInet = regexp.MustCompile(`\binet ([0-9.]+)/\d+ .*scope global`)

// addr4 is link's global IPv4 address ("" if none).
func (d *dhcpNet) addr4(link string) string {
	d.t.Helper()
	m := dhcpInet.FindStringSubmatch(d.host.ip("-4", "-o", "addr", "show", "dev", link))
	if m == nil {
		return ""
	}
	return m[1]
}

// dhcpOurRules are HOST's rules at our priority.
func dhcpOurRules(h *ns) []string {
	var out []string
	for _, r := range h.rules("4") {
		if strings.HasPrefix(r, "32765:") {
			out = append(out, r)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// dhcpDefaultOf is the "default via GW dev LINK" of a table's listing ("" if
// none), without metric or protocol, which the source decides.
func dhcpDefaultOf(routes []string, link string) string {
	for _, r := range routes {
		f := strings.Fields(r)
		if len(f) >= 5 && f[0] == "default" && f[1] == "via" && f[3] == "dev" && f[4] == link {
			return strings.Join(f[:5], " ")
		}
	}
	return ""
}

// dhcpWaitFor polls cond for up to dhcpHookTimeout.
func dhcpWaitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	waitFor(t, what, dhcpHookTimeout, cond)
}
