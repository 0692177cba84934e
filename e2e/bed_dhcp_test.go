package e2e

// The test bed's DHCP: dnsmasq on R1 and R2 serving em1 and em2
// (startDnsmasq is the one place the tests start a DHCP server), and
// dhcpRoot, the private root a DHCP client, its hooks and their passes run
// in, with the log the tests' own hooks write around ours. Kept in e2e:
// bench serves no DHCP, and all of it fails its test.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// newDHCPNet is the seed's uplinks with em1 and em2 left to a DHCP client:
// each router serves its own with dnsmasq, naming itself the router.
func newDHCPNet(t *testing.T, classless bool) *seed {
	t.Helper()
	s := newUplinks(t)
	testns.RequirePrograms(t, "dnsmasq-base", "dnsmasq")
	s.classless, s.dhcpDir = classless, t.TempDir()
	for i := range uplinkNets {
		s.startDnsmasq(i, uplinkNets[i].gw)
	}
	return s
}

// startDnsmasq (re)starts router i's dnsmasq handing out router, with
// 2-minute leases (the first renewal comes about a minute after a bind).
// A restarted one keeps the lease file, so a client gets its address back.
func (s *seed) startDnsmasq(i int, router string) {
	s.t.Helper()
	if d := s.dnsmasq[i]; d != nil {
		d.stop()
	}
	u := uplinkNets[i]
	// Classless, the Router option names a router nobody has: RFC 3442
	// has the client ignore it, and so must the lease record.
	routerOpt := router
	if s.classless {
		routerOpt = router[:strings.LastIndex(router, ".")] + ".253"
	}
	// --port=0: no DNS. --no-ping: else every offer waits ~3 s for an ICMP
	// probe. Its log goes to its output, shown if the test fails.
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-hosts", "--no-resolv",
		"--user=root", "--interface=up0", "--bind-interfaces", "--no-ping", "--dhcp-authoritative",
		"--dhcp-range=" + u.lo + "," + u.hi + "," + u.mask + ",2m", "--dhcp-option=option:router," + routerOpt,
		"--dhcp-leasefile=" + filepath.Join(s.dhcpDir, fmt.Sprintf("dnsmasq%d.leases", i+1)),
		"--pid-file=", "--log-dhcp", "--log-facility=-"}
	if s.classless {
		// As many servers do: the default route as RFC 3442 classless
		// static routes (option 121) too.
		args = append(args, "--dhcp-option=121,0.0.0.0/0,"+router)
	}
	s.dnsmasq[i] = startDaemon(s.t, fmt.Sprintf("dnsmasq%d", i+1), s.routers()[i].execCmd("dnsmasq", args...))
}

// startRA starts dnsmasq on router i sending IPv6 router advertisements
// for prefix (a /64 of up0's) and nothing else: no DHCP, no DNS. It is
// stopped when the test ends, or by the caller.
func (s *seed) startRA(i int, prefix string) *daemon {
	s.t.Helper()
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-hosts", "--no-resolv",
		"--user=root", "--interface=up0", "--bind-interfaces", "--enable-ra", "--dhcp-range=" + prefix + ",ra-only,64",
		"--pid-file=", "--log-facility=-"}
	return startDaemon(s.t, fmt.Sprintf("dnsmasq-ra%d", i+1), s.routers()[i].execCmd("dnsmasq", args...))
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
	// os is the root directory of the programs run ("" for this machine's;
	// a Debian 13 root for its dhcpcd): chrooted, with /proc, /sys, /dev
	// and /tmp (where dir and the binary are) bound in.
	os string
}

func newDhcpRoot(t *testing.T, bin string) *dhcpRoot { return newDhcpRootIn(t, bin, "") }

func newDhcpRootIn(t *testing.T, bin, osRoot string) *dhcpRoot {
	t.Helper()
	r := &dhcpRoot{t: t, dir: t.TempDir(), bin: bin, os: osRoot}
	mkdirs(t, r.dir, "etc.upper", "etc.work", "sbin.upper", "sbin.work", "run", "var-lib-dhcp", "var-lib-dhcpcd")
	// The mount point of the binary: a bind mount needs one.
	writeFile(t, filepath.Join(r.dir, "sbin.upper", "symroute-sync"), "", 0o755)
	return r
}

// hookDir makes a private directory mounted over dst inside the root and
// returns its host path.
func (r *dhcpRoot) hookDir(dst string) string {
	r.t.Helper()
	src := filepath.Join(r.dir, "hooks", strings.ReplaceAll(strings.Trim(dst, "/"), "/", "_"))
	mkdirs(r.t, src)
	r.binds = append(r.binds, [2]string{src, dst})
	return src
}

// etcDir makes dir under the root's /etc (a directory the host may not
// have: the overlay's upper layer makes it) and returns its host path.
func (r *dhcpRoot) etcDir(dir string) string {
	r.t.Helper()
	d := filepath.Join(r.dir, "etc.upper", dir)
	mkdirs(r.t, d)
	return d
}

// runPath is where a path under the private /run lives on the host.
func (r *dhcpRoot) runPath(p string) string {
	return filepath.Join(r.dir, "run", strings.TrimPrefix(p, "/run/"))
}

const dhcpRootScript = `set -e
d=$1 bin=$2 R=$3
shift 3
mount --make-rprivate /
if [ -n "$R" ]; then
	mount --bind "$R" "$R"
	for x in proc sys dev tmp; do mount --rbind "/$x" "$R/$x"; done
fi
mount -t overlay symroute-e2e -o "lowerdir=$R/etc,upperdir=$d/etc.upper,workdir=$d/etc.work" "$R/etc"
mount -t overlay symroute-e2e -o "lowerdir=$R/usr/sbin,upperdir=$d/sbin.upper,workdir=$d/sbin.work" "$R/usr/sbin"
mount --bind "$bin" "$R/usr/sbin/symroute-sync"
mount --bind "$d/run" "$R/run"
mount --bind "$d/var-lib-dhcp" "$R/var/lib/dhcp"
mount --bind "$d/var-lib-dhcpcd" "$R/var/lib/dhcpcd"
while [ "$1" != -- ]; do mount --bind "$1" "$R$2"; shift 2; done
shift
cd "$d"
if [ -n "$R" ]; then exec chroot "$R" sh -c 'cd "$0" && exec "$@"' "$d" "$@"; fi
exec "$@"
`

// command runs argv in network namespace n inside the root.
func (r *dhcpRoot) command(n *ns, argv ...string) *exec.Cmd {
	args := []string{"netns", "exec", n.Name, "unshare", "-m", "-u", "sh", "-c", dhcpRootScript, "sh", r.dir, r.bin, r.os}
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

// hookEnv is the environment of a hook run by hand: PATH and kv.
func hookEnv(kv ...string) []string {
	return append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, kv...)
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

// assertChecked runs --check inside the root: exit 0 it must be.
func (r *dhcpRoot) assertChecked(t *testing.T, n *ns, when string) {
	t.Helper()
	if res := r.run(t, n, nil, "/usr/sbin/symroute-sync", "--check"); res.code != 0 {
		t.Errorf("--check %s: %s", when, res)
	}
}

// leaseRecord reads the record the hook left for iface ("" if none).
func (r *dhcpRoot) leaseRecord(iface string) string {
	b, err := os.ReadFile(filepath.Join(r.runPath("/run/symroute/leases"), iface))
	if err != nil {
		return ""
	}
	return string(b)
}

// hookLog is a line of shell for the tests' own hooks, which log every
// call: "begin" runs before ours, "end" after it, so end minus begin is how
// long ours held the client up, and the kernel is converged at "end" (our
// pass runs in the hook). reason and iface are the variables the caller
// sets ($reason and $interface for the DHCP clients).
func hookLog(when, reason, iface string) string {
	return `echo "$(date +%s.%N) ` + when + ` reason=` + reason + ` interface=` + iface + `" >> /run/hook.log` + "\n"
}

type dhcpEvent struct {
	at     time.Time
	end    bool
	reason string
	iface  string
}

var dhcpEventLine = regexp.MustCompile(`^(\d+)\.(\d+) (begin|end) reason=(\S*) interface=(\S*)$`)

func (r *dhcpRoot) events() []dhcpEvent {
	b, err := os.ReadFile(r.runPath("/run/hook.log"))
	if err != nil {
		return nil
	}
	var evs []dhcpEvent
	for _, l := range strings.Split(string(b), "\n") {
		m := dhcpEventLine.FindStringSubmatch(l)
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
	waitFor(t, fmt.Sprintf("the hooks of %v for %s", reasons, iface), daemonTimeout, func() error {
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
				begin, end = b, e
				return nil
			}
		}
		var b bytes.Buffer
		for _, e := range evs {
			fmt.Fprintf(&b, "%s %s %s end=%v\n", e.at.Format("15:04:05.000"), e.iface, e.reason, e.end)
		}
		return fmt.Errorf("not in the hook log; the log:\n%s", b.String())
	})
	return begin, end
}
