package e2e

// Real network stacks for the --listen tests: DHCP-served listenUplinks (dnsmasq), NetworkManager or systemd-networkd on a
// private D-Bus system bus, and the listener, all in the tests' own
// namespaces. The daemons run under `ip netns exec`, which gives each a
// private mount namespace: there /run and the daemons' state directories
// are bind-mounted from t.TempDir() and /sys is read-only (else NM and
// networkd wait for udev forever), so nothing lands in the host's /run,
// /var/lib or /etc, and no daemon sees the host's network or system bus.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/symroute/symroute/dispatch/dbustest"

	"github.com/symroute/symroute/internal/testns"
)

// listenStackTimeout is for what real daemons do: DHCP, link state, renewals.
const listenStackTimeout = 90 * time.Second

// listenBuffer collects a process's output while it runs.
type listenBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *listenBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *listenBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// listenDaemon starts cmd, writing its output to out, and stops it (SIGTERM,
// then SIGKILL) when t ends. `ip netns exec` execs its command, so the
// process is the daemon itself.
func listenDaemon(t *testing.T, cmd *exec.Cmd, out *os.File) *exec.Cmd {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

func listenLogFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			if b, err := os.ReadFile(path); err == nil {
				t.Logf("%s (last 3000 bytes):\n%s", filepath.Base(path), listenTail(string(b), 3000))
			}
		}
	})
	return f
}

func listenTail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// listenDHCP is the testbed's dhcp-scenario: HOST with em1 and em2, each a
// veth to an uplink namespace serving DHCP with dnsmasq (2-minute leases,
// so the first renewal comes after about a minute). Both listenUplinks also hold
// the "remote" 198.51.100.1 on lo, and neither routes back to the other's
// network: a ping from em2's address to it is answered only if it left by
// em2, which is what symmetric routing means.
type listenDHCP struct {
	t              *testing.T
	dir            string
	host, up1, up2 *ns
	dnsmasq        [3]*exec.Cmd
}

var listenUplinks = [3]struct{ gw, net, lo, hi, mask string }{
	1: {"10.0.0.1", "10.0.0.1/16", "10.0.0.100", "10.0.0.200", "255.255.0.0"},
	2: {"192.168.0.1", "192.168.0.1/24", "192.168.0.100", "192.168.0.200", "255.255.255.0"},
}

func newListenDHCP(t *testing.T) *listenDHCP {
	t.Helper()
	requireRoot(t)
	testns.RequirePrograms(t, "dnsmasq-base", "dnsmasq")
	s := &listenDHCP{t: t, dir: t.TempDir()}
	tag := randomTag()
	s.host = newNS(t, tag, "host")
	s.up1, s.up2 = newNS(t, tag, "up1"), newNS(t, tag, "up2")
	for i, up := range []*ns{nil, s.up1, s.up2} {
		if up == nil {
			continue
		}
		up.ip("addr", "add", "198.51.100.1/32", "dev", "lo")
		veth(t, s.host, fmt.Sprintf("em%d", i), "", up, fmt.Sprintf("up%d", i), listenUplinks[i].net)
		s.startDnsmasq(i, listenUplinks[i].gw)
	}
	return s
}

// startDnsmasq serves uplink i's range with router as its router option.
func (s *listenDHCP) startDnsmasq(i int, router string) {
	s.t.Helper()
	u := listenUplinks[i]
	up := []*ns{nil, s.up1, s.up2}[i]
	s.dnsmasq[i] = listenDaemon(s.t, up.execCmd("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		fmt.Sprintf("--interface=up%d", i), "--bind-interfaces", "--no-ping", "--dhcp-authoritative",
		fmt.Sprintf("--dhcp-range=%s,%s,%s,2m", u.lo, u.hi, u.mask), "--dhcp-option=option:router,"+router,
		fmt.Sprintf("--dhcp-leasefile=%s/dnsmasq%d.leases", s.dir, i), "--pid-file=", "--log-dhcp",
		fmt.Sprintf("--log-facility=%s/dnsmasq%d.log", s.dir, i)),
		listenLogFile(s.t, fmt.Sprintf("%s/dnsmasq%d.out", s.dir, i)))
}

// stopDnsmasq stops uplink i's dnsmasq and waits for it to exit.
func (s *listenDHCP) stopDnsmasq(i int) {
	s.t.Helper()
	c := s.dnsmasq[i]
	c.Process.Signal(syscall.SIGTERM)
	waitFor(s.t, "dnsmasq exits", 10*time.Second, func() error {
		if c.Process.Signal(syscall.Signal(0)) == nil {
			return fmt.Errorf("still running")
		}
		return nil
	})
}

var listenInet = regexp.MustCompile(`\binet (\d+\.\d+\.\d+\.\d+)/\d+ .*scope global`)

// listenAddr4 is dev's global IPv4 address in n, or "" if it has none.
func listenAddr4(n *ns, dev string) string {
	out, err := n.ipErr("-4", "-o", "addr", "show", "dev", dev)
	if err != nil {
		return ""
	}
	if m := listenInet.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// listenStack is NetworkManager or networkd with its private bus.
type listenStack struct {
	dir     string
	busAddr string // as seen from anywhere: the socket under dir/run
}

// startListenStack writes dir/dbus.conf and dir/inner.sh (mount the private
// directories, start dbus-daemon, then exec the daemon's command line) and
// runs it in host. dbus-daemon is killed when t ends, after the daemon.
func startListenStack(t *testing.T, host *ns, dir, mounts, daemonCmd string) *listenStack {
	t.Helper()
	p := &listenStack{dir: dir, busAddr: "unix:path=" + filepath.Join(dir, "run/dbus/system_bus_socket")}
	if len(p.busAddr) > 100 {
		t.Fatalf("bus socket path too long for a unix socket: %s", p.busAddr)
	}
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dbus.conf"), []byte(dbustest.Config("/run/dbus/system_bus_socket")), 0o644); err != nil {
		t.Fatal(err)
	}
	inner := fmt.Sprintf(`#!/bin/sh
# Under 'ip netns exec': a private mount namespace already.
set -e
mount --bind %[1]s/run /run
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
mkdir -p /run/dbus
%[2]s
mount -o remount,ro /sys
dbus-daemon --nofork --nopidfile --config-file=%[1]s/dbus.conf > %[1]s/dbus.log 2>&1 &
echo $! > %[1]s/dbus.pid
for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
exec %[3]s
`, dir, mounts, daemonCmd)
	if err := os.WriteFile(filepath.Join(dir, "inner.sh"), []byte(inner), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "dbus.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	listenDaemon(t, host.execCmd("/bin/sh", filepath.Join(dir, "inner.sh")), listenLogFile(t, filepath.Join(dir, "daemon.log")))
	return p
}

// startListenNM runs NetworkManager 1.42 in host with connections em1 and
// em2 by DHCP (nm-scenario.sh), not autoconnected: the test brings them up
// once the listener listens. There is no dispatcher: the bus has no service
// directory, so nm-dispatcher is never activated and no hook runs.
func startListenNM(t *testing.T, host *ns) *listenStack {
	t.Helper()
	testns.RequirePrograms(t, "network-manager", "NetworkManager", "nmcli")
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
	dir := t.TempDir()
	for _, d := range []string{"varlib", "conf.d", "sysconf.d", "connections"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`[main]
plugins=keyfile
no-auto-default=*
dhcp=internal
dns=none
rc-manager=unmanaged
systemd-resolved=false
hostname-mode=none
auth-polkit=false
[keyfile]
path=%s/connections
unmanaged-devices=*,except:interface-name:em1,except:interface-name:em2
[connectivity]
enabled=false
[logging]
level=INFO
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "NetworkManager.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, i := range []string{"1", "2"} {
		c := "[connection]\nid=em" + i + "\ntype=ethernet\ninterface-name=em" + i + "\nautoconnect=false\n[ipv4]\nmethod=auto\n[ipv6]\nmethod=disabled\n"
		// NM ignores keyfiles others can read.
		if err := os.WriteFile(filepath.Join(dir, "connections", "em"+i+".nmconnection"), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return startListenStack(t, host, dir,
		fmt.Sprintf("mkdir -p /run/NetworkManager\nmount --bind %s/varlib /var/lib/NetworkManager", dir),
		fmt.Sprintf("NetworkManager --debug --config=%[1]s/NetworkManager.conf --config-dir=%[1]s/conf.d "+
			"--system-config-dir=%[1]s/sysconf.d --intern-config=%[1]s/varlib/intern.conf "+
			"--state-file=%[1]s/varlib/NetworkManager.state --pid-file=/run/NetworkManager/NetworkManager.pid", dir))
}

// nmcli runs nmcli against the private bus, from inside host.
func (p *listenStack) nmcli(host *ns, args ...string) (string, error) {
	cmd := host.execCmd("env", append([]string{"DBUS_SYSTEM_BUS_ADDRESS=" + p.busAddr, "nmcli"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nmcli %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (p *listenStack) mustNmcli(t *testing.T, host *ns, args ...string) {
	t.Helper()
	if _, err := p.nmcli(host, args...); err != nil {
		t.Fatal(err)
	}
}

// startListenNetworkd runs systemd-networkd 252 in host with em1 and em2 on DHCP
// (networkd-scenario.sh), without networkd-dispatcher: no hook runs.
func startListenNetworkd(t *testing.T, host *ns) *listenStack {
	t.Helper()
	networkd := "/lib/systemd/systemd-networkd"
	testns.RequirePrograms(t, "systemd", networkd)
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "network"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		n := fmt.Sprintf("[Match]\nName=em%d\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n[DHCPv4]\nRouteMetric=%d\nUseDNS=no\nUseHostname=no\n", i, i*100)
		if err := os.WriteFile(filepath.Join(dir, "network", fmt.Sprintf("50-em%d.network", i)), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return startListenStack(t, host, dir,
		fmt.Sprintf("mkdir -p /run/systemd/network\ncp %s/network/*.network /run/systemd/network/", dir),
		"env SYSTEMD_LOG_LEVEL=info SYSTEMD_LOG_TARGET=console "+networkd)
}

// listenProc is `symroute-sync --listen` running in a namespace.
type listenProc struct {
	cmd    *exec.Cmd
	stderr *listenBuffer
	done   chan struct{}
	conf   string
}

// startListenProc runs the built binary with --listen in n, on the bus at
// busAddr, with its config (conf, may be empty) and lock file in a temp
// dir, and env added to its environment. It is stopped with SIGTERM when t
// ends, and must exit 0 then.
func startListenProc(t *testing.T, n *ns, busAddr, conf string, env ...string) *listenProc {
	t.Helper()
	dir := t.TempDir()
	l := &listenProc{stderr: &listenBuffer{}, done: make(chan struct{}), conf: filepath.Join(dir, "symroute.conf")}
	if err := os.WriteFile(l.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l.cmd = n.execCmd(syncBin, "--listen", "-v", "--config", l.conf, "--lock-file", filepath.Join(dir, "sync.lock"))
	l.cmd.Env = append(append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+busAddr), env...)
	l.cmd.Stdout, l.cmd.Stderr = l.stderr, l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start symroute-sync --listen: %v", err)
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			if code := l.stop(t); code != 0 {
				t.Errorf("symroute-sync --listen exited %d on SIGTERM, want 0", code)
			}
		}
		if t.Failed() {
			t.Logf("symroute-sync --listen log (last 6000 bytes):\n%s", listenTail(l.stderr.String(), 6000))
		}
	})
	return l
}

// listening waits until the listener has subscribed on the bus.
func (l *listenProc) listening(t *testing.T) {
	t.Helper()
	waitFor(t, "listener subscribed", listenStackTimeout, func() error {
		if strings.Contains(l.stderr.String(), "listening") {
			return nil
		}
		return fmt.Errorf("not yet")
	})
}

// stop sends SIGTERM and returns the exit code.
func (l *listenProc) stop(t *testing.T) int {
	t.Helper()
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		l.cmd.Process.Kill()
		<-l.done
		t.Fatal("symroute-sync --listen did not stop within 30 s of SIGTERM")
	}
	return l.cmd.ProcessState.ExitCode()
}

// listenRule is the rule a pass makes for addr, with the default priority.
func listenRule(addr, table string) string {
	return "32765: from " + addr + " lookup " + table + " proto 234"
}

// listenMirrored checks that dev's address has its rule and dev's table holds a
// default route via gw.
func listenMirrored(n *ns, dev, gw string) func() error {
	return func() error {
		a := listenAddr4(n, dev)
		if a == "" {
			return fmt.Errorf("%s has no address yet", dev)
		}
		table := n.table(dev)
		if !contains(n.rules("4"), listenRule(a, table)) {
			return fmt.Errorf("no rule %q in %v", listenRule(a, table), n.rules("4"))
		}
		for _, r := range n.routes("4", table) {
			if strings.HasPrefix(r, "default via "+gw+" dev "+dev+" ") {
				return nil
			}
		}
		return fmt.Errorf("table %s has no default via %s: %v (main: %v)", table, gw, n.routes("4", table), n.routes("4", "main"))
	}
}

// listenUnmirrored checks that dev has no rule of ours and an empty table.
func listenUnmirrored(n *ns, dev string) func() error {
	return func() error {
		table := n.table(dev)
		for _, r := range n.rules("4") {
			if strings.HasSuffix(r, " lookup "+table+" proto 234") {
				return fmt.Errorf("rule still there: %s", r)
			}
		}
		if rt := n.routes("4", table); len(rt) > 0 {
			return fmt.Errorf("table %s still holds %v", table, rt)
		}
		return nil
	}
}
