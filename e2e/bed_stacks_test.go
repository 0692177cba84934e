package e2e

// The test bed's real network stacks, NetworkManager and systemd-networkd,
// each on a private D-Bus system bus inside HOST's network namespace, in a
// private mount namespace where /run and the daemons' directories are the
// test's own and /sys is read-only (else NM and networkd wait for udev
// forever): nothing lands in the host's /run, /var/lib or /etc, and no
// daemon sees the host's network or system bus. Two ways, as the tests
// need:
//
//   - with their dispatchers (the hook tests): testdata/KIND/start.sh, run
//     by startDispatcherStack in a PID namespace of its own;
//   - without (the --listen tests): an inner.sh written by startListenStack,
//     where only the listener follows the daemon.
//
// Both are started and reaped as daemons (bed_daemons_test.go). In e2e
// rather than internal/testbed: bench runs no network stack.

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/symroute/symroute/dispatch/dbustest"
	"github.com/symroute/symroute/internal/testns"
)

// --- with the dispatchers --------------------------------------------------------

// dispatcherStack is a real network stack (NetworkManager, or
// systemd-networkd and networkd-dispatcher) started by
// testdata/KIND/start.sh inside HOST's network namespace, through
//
//	ip netns exec HOST unshare --pid --fork --mount-proc sh start.sh DIR BINARY
//
// The script's mounts (a private directory over /run, the hooks' and
// daemons' directories, symroute-sync at /usr/sbin/symroute-sync, /sys
// read-only) exist only in its own mount namespace, and every process it
// starts is in its PID namespace, so all of them end with it.
type dispatcherStack struct {
	*daemon
	dir  string
	init int // the PID namespace's init (the daemon), as this process sees it
}

// dispatcherStackDir makes the directory a start.sh expects: DIR/run (the
// private /run, with run/symtest for the tests' own files),
// DIR/sbin/symroute-sync (the empty file the binary is bind-mounted on),
// DIR/empty and dirs.
func dispatcherStackDir(t *testing.T, dirs ...string) string {
	t.Helper()
	dir := t.TempDir()
	mkdirs(t, dir, append([]string{"run/symtest", "sbin", "empty"}, dirs...)...)
	writeFile(t, filepath.Join(dir, "sbin", "symroute-sync"), "", 0o755)
	return dir
}

// With root (a Debian 13 root, trixieRoot), the script and every program it
// starts run chrooted there: the script and stack-common.sh are copied into
// dir, and the root gets the PID namespace's /proc, /sys, /dev and /tmp
// (where dir and the binary are), and is made a mount point of its own so
// that the script can make its mounts private.
func startDispatcherStack(t *testing.T, host *ns, dir, script, root string) *dispatcherStack {
	t.Helper()
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
	testns.RequirePrograms(t, "util-linux", "unshare", "nsenter")
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", abs, dir, syncBin}
	if root != "" {
		kind := filepath.Base(filepath.Dir(abs))
		mkdirs(t, dir, "stack/"+kind)
		copyFile(t, abs, filepath.Join(dir, "stack", kind, "start.sh"), 0o755)
		copyFile(t, filepath.Join(filepath.Dir(abs), "..", "stack-common.sh"), filepath.Join(dir, "stack", "stack-common.sh"), 0o644)
		argv = append(argv[:5], "sh", "-c", fmt.Sprintf(`mount --bind %[1]s %[1]s; for d in proc sys dev tmp; do mount --rbind /$d %[1]s/$d; done
exec chroot %[1]s sh %[2]s %[3]s %[4]s`, root, filepath.Join(dir, "stack", kind, "start.sh"), dir, syncBin))
	}
	s := &dispatcherStack{dir: dir, daemon: startDaemon(t, script, host.execCmd(argv[0], argv[1:]...))}
	t.Cleanup(s.stop) // before the daemon's own: it signals init
	// `ip netns exec` execs unshare, whose one child is the namespace's init.
	pid := s.Cmd.Process.Pid
	children := fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)
	waitFor(t, "the stack's init process", daemonTimeout, s.running(func() error {
		b, err := os.ReadFile(children)
		if err != nil {
			return err
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.init, err = strconv.Atoi(f[0])
			return err
		}
		return fmt.Errorf("%s is empty", children)
	}))
	return s
}

// stop sends the daemon SIGTERM (it is init: only a signal it handles gets
// through) and waits for it; the kernel then kills the rest of the PID
// namespace. If the test failed, the logs the stack's programs wrote in
// run/symtest are shown.
func (s *dispatcherStack) stop() {
	if !s.Exited() && s.init <= 0 {
		// Its init was never found: kill(0) would signal this test's own
		// process group. unshare --kill-child takes init down with it.
		s.Cmd.Process.Kill()
		<-s.Done()
	}
	if !s.Exited() {
		syscall.Kill(s.init, syscall.SIGTERM)
		select {
		case <-s.Done():
		case <-time.After(30 * time.Second):
			s.t.Errorf("%s did not stop on SIGTERM within 30 s: killed", s.name)
			syscall.Kill(s.init, syscall.SIGKILL)
			s.Cmd.Process.Kill()
			<-s.Done()
		}
	}
	if s.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(s.dir, "run", "symtest", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s.t.Logf("%s, last %d KB:\n%s", l, logTail>>10, lastBytes(string(b), logTail))
		}
	}
}

// exec runs a command in the stack's mount and network namespaces and root
// directory (so it sees the private /run and bus, and runs the stack's own
// programs), and returns its combined output.
func (s *dispatcherStack) exec(name string, args ...string) (string, error) {
	if s.Exited() {
		return "", fmt.Errorf("%s: the stack has exited", name)
	}
	// -r: the daemon's root directory, a Debian 13 root's for its stacks.
	argv := append([]string{"-t", strconv.Itoa(s.init), "-m", "-n", "-p", "-r", "--", name}, args...)
	cmd := exec.Command("nsenter", argv...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (s *dispatcherStack) mustExec(name string, args ...string) string {
	s.t.Helper()
	out, err := s.exec(name, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// networkdStates are the networkd-dispatcher state directories our script
// is installed in: those where a link's addresses or routes appear or go.
var networkdStates = []string{"routable", "degraded", "configured", "no-carrier", "off", "carrier"}

// networkdStackDir prepares testdata/networkd/start.sh's directory: the
// .network files in the private /run, the bus configuration, our drop-in
// as installed if dropIn, and networkd-dispatcher's state directories
// (exactly 0755, root:root, as it demands) holding 50-symroute as packaged
// between the test's 00-log and 99-log.
func networkdStackDir(t *testing.T, dropIn bool) string {
	t.Helper()
	dir := dispatcherStackDir(t, "conf", "run/systemd/network", "usr-lib-systemd/networkd.conf.d")
	data := func(f string) string { return filepath.Join("testdata", "networkd", f) }
	copyFile(t, data("dbus.conf"), filepath.Join(dir, "conf", "dbus.conf"), 0o644)
	for _, f := range []string{"50-em1.network", "50-em2.network"} {
		copyFile(t, data(f), filepath.Join(dir, "run", "systemd", "network", f), 0o644)
	}
	if dropIn {
		copyFile(t, repoFile("networkd-dispatcher", "symroute-networkd.conf"),
			filepath.Join(dir, "usr-lib-systemd", "networkd.conf.d", "symroute.conf"), 0o644)
	}
	for _, state := range networkdStates {
		d := filepath.Join(dir, "networkd-dispatcher", state+".d")
		mkdirs(t, d)
		for _, p := range []string{d, filepath.Dir(d)} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		copyFile(t, data("00-log"), filepath.Join(d, "00-log"), 0o755)
		copyFile(t, data("99-log"), filepath.Join(d, "99-log"), 0o755)
		installAsPackaged(t, repoFile("networkd-dispatcher", "50-symroute"), filepath.Join(d, "50-symroute"))
	}
	return dir
}

// nmStackDir prepares testdata/nm/start.sh's directory: NetworkManager's
// configuration and keyfiles, the bus configuration with nm-dispatcher's
// activation file, and the hook directory holding 90-symroute as packaged
// between the test's 00-log and 99-log.
func nmStackDir(t *testing.T, root string) string {
	t.Helper()
	dir := dispatcherStackDir(t, "conf/conf.d", "conf/sysconf.d", "dispatcher.d", "connections", "varlib", "run/symtest/dbus-services")
	for src, dst := range map[string]string{
		"dbus.conf":                             "conf/dbus.conf",
		"NetworkManager.conf":                   "conf/NetworkManager.conf",
		"org.freedesktop.nm_dispatcher.service": "run/symtest/dbus-services/org.freedesktop.nm_dispatcher.service",
		"em1.nmconnection":                      "connections/em1.nmconnection", // NM ignores keyfiles others can read
		"em2.nmconnection":                      "connections/em2.nmconnection",
		"00-log":                                "dispatcher.d/00-log",
		"99-log":                                "dispatcher.d/99-log",
	} {
		mode := os.FileMode(0o644)
		switch {
		case strings.HasSuffix(src, ".nmconnection"):
			mode = 0o600
		case strings.HasSuffix(src, "-log"):
			mode = 0o755
		}
		copyFile(t, filepath.Join("testdata", "nm", src), filepath.Join(dir, dst), mode)
	}
	installAsPackaged(t, repoFile("nm-dispatcher", "90-symroute"), filepath.Join(dir, "dispatcher.d", "90-symroute"))
	// NetworkManager 1.52 (Debian 13) keeps nm-dispatcher in /usr/libexec.
	if _, err := os.Stat(filepath.Join(root, "usr/libexec/nm-dispatcher")); root != "" && err == nil {
		svc := filepath.Join(dir, "run/symtest/dbus-services/org.freedesktop.nm_dispatcher.service")
		b, err := os.ReadFile(svc)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, svc, strings.Replace(string(b), "/usr/lib/NetworkManager/nm-dispatcher", "/usr/libexec/nm-dispatcher", 1), 0o644)
	}
	return dir
}

// --- without them: for the listener -------------------------------------------

// listenStack is NetworkManager or networkd with its private bus.
type listenStack struct {
	dir     string
	busAddr string // as seen from anywhere: the socket under dir/run
	daemon  *daemon
}

// waitRoot waits until the daemon runs with root as its root directory
// ("" for this machine's /): the programs under test are the root's.
// inner.sh and fromRoot exec each other down to the daemon, so the process
// started becomes the daemon, once the bus is up.
func (p *listenStack) waitRoot(t *testing.T, root string) {
	t.Helper()
	waitFor(t, "the daemon chrooted to "+cmp.Or(root, "/"), daemonTimeout, p.daemon.running(func() error {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/root", p.daemon.Cmd.Process.Pid))
		if err != nil || got != cmp.Or(root, "/") {
			return fmt.Errorf("its root directory is %q (%v)", got, err)
		}
		return nil
	}))
}

// startListenStack writes dir/dbus.conf and dir/inner.sh (mount the private
// directories, start dbus-daemon, then exec the daemon's command line) and
// runs it in host. dbus-daemon is killed when t ends, after the daemon.
func startListenStack(t *testing.T, host *ns, dir, mounts, daemonCmd string) *listenStack {
	t.Helper()
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
	p := &listenStack{dir: dir, busAddr: "unix:path=" + filepath.Join(dir, "run/dbus/system_bus_socket")}
	if len(p.busAddr) > 100 {
		t.Fatalf("bus socket path too long for a unix socket: %s", p.busAddr)
	}
	mkdirs(t, dir, "run")
	writeFile(t, filepath.Join(dir, "dbus.conf"), dbustest.Config("/run/dbus/system_bus_socket"), 0o644)
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
	writeFile(t, filepath.Join(dir, "inner.sh"), inner, 0o755)
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "dbus.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	p.daemon = startDaemon(t, "the network stack", host.execCmd("/bin/sh", filepath.Join(dir, "inner.sh")))
	return p
}

// startListenNM runs NetworkManager 1.42 in host with connections em1 and
// em2 by DHCP, not autoconnected: the test brings them up once the
// listener listens. There is no dispatcher: the bus has no service
// directory, so nm-dispatcher is never activated and no hook runs. em2IPv4
// are lines added to em2's [ipv4] section (never-default=true).
func startListenNM(t *testing.T, host *ns, root string, em2IPv4 ...string) *listenStack {
	t.Helper()
	testns.RequirePrograms(t, "network-manager", "NetworkManager", "nmcli")
	dir := t.TempDir()
	mkdirs(t, dir, "varlib", "conf.d", "sysconf.d", "connections")
	writeFile(t, filepath.Join(dir, "NetworkManager.conf"), fmt.Sprintf(`[main]
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
`, dir), 0o644)
	for _, i := range []string{"1", "2"} {
		extra := ""
		if i == "2" {
			extra = strings.Join(append(em2IPv4, ""), "\n")
		}
		// NM ignores keyfiles others can read.
		writeFile(t, filepath.Join(dir, "connections", "em"+i+".nmconnection"),
			"[connection]\nid=em"+i+"\ntype=ethernet\ninterface-name=em"+i+"\nautoconnect=false\n[ipv4]\nmethod=auto\n"+extra+"[ipv6]\nmethod=disabled\n", 0o600)
	}
	return startListenStack(t, host, dir,
		fmt.Sprintf("mkdir -p /run/NetworkManager\nmount --bind %s/varlib %s/var/lib/NetworkManager", dir, root),
		fromRoot(root, fmt.Sprintf("NetworkManager --debug --config=%[1]s/NetworkManager.conf --config-dir=%[1]s/conf.d "+
			"--system-config-dir=%[1]s/sysconf.d --intern-config=%[1]s/varlib/intern.conf "+
			"--state-file=%[1]s/varlib/NetworkManager.state --pid-file=/run/NetworkManager/NetworkManager.pid", dir)))
}

// fromRoot is the command line that runs argv from root ("" for this
// machine's own programs): chrooted, with the test's /run, /proc, /sys,
// /dev and /tmp bound in, so the private directories startListenStack
// mounted, and the test's files, are the daemon's too. argv holds no
// single quote.
func fromRoot(root, argv string) string {
	if root == "" {
		return argv
	}
	return fmt.Sprintf(`sh -c 'for d in run proc sys dev tmp; do mount --rbind /$d %[1]s/$d; done; exec chroot %[1]s %[2]s'`, root, argv)
}

// nmcli runs nmcli against the private bus, from inside host.
func (p *listenStack) nmcli(host *ns, args ...string) (string, error) {
	return p.ctl(host, "nmcli", args...)
}

// ctl runs a daemon's control program (nmcli, networkctl) against the
// private bus, from inside host.
func (p *listenStack) ctl(host *ns, prog string, args ...string) (string, error) {
	cmd := host.execCmd("env", append([]string{"DBUS_SYSTEM_BUS_ADDRESS=" + p.busAddr, prog}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", prog, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (p *listenStack) mustNmcli(t *testing.T, host *ns, args ...string) {
	t.Helper()
	if _, err := p.nmcli(host, args...); err != nil {
		t.Fatal(err)
	}
}

// startListenNetworkd runs systemd-networkd 252 in host with em1 and em2 on
// DHCP, without networkd-dispatcher: no hook runs. em2DHCPv4 are lines
// added to em2's [DHCPv4] section (UseGateway=no).
func startListenNetworkd(t *testing.T, host *ns, root string, em2DHCPv4 ...string) *listenStack {
	t.Helper()
	networkd := "/lib/systemd/systemd-networkd"
	testns.RequirePrograms(t, "systemd", networkd)
	dir := t.TempDir()
	mkdirs(t, dir, "network")
	for i := 1; i <= 2; i++ {
		extra := ""
		if i == 2 {
			extra = strings.Join(append(em2DHCPv4, ""), "\n")
		}
		writeFile(t, filepath.Join(dir, "network", fmt.Sprintf("50-em%d.network", i)),
			fmt.Sprintf("[Match]\nName=em%d\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n[DHCPv4]\nRouteMetric=%d\nUseDNS=no\nUseHostname=no\n%s", i, i*100, extra), 0o644)
	}
	return startListenStack(t, host, dir,
		fmt.Sprintf("mkdir -p /run/systemd/network\ncp %s/network/*.network /run/systemd/network/", dir),
		fromRoot(root, "env SYSTEMD_LOG_LEVEL=info SYSTEMD_LOG_TARGET=console "+networkd))
}

// trixieRoot is a Debian 13 root holding its NetworkManager, systemd-networkd
// and dhcpcd, made by test.sh (debootstrap; SYMROUTE_TRIXIE_ROOT overrides
// where): the daemons run from it, chrooted, in the test's namespaces.
func trixieRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SYMROUTE_TRIXIE_ROOT")
	if root == "" {
		root = "/var/cache/symroute-e2e/trixie"
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd-networkd")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Debian 13 root at %s: test.sh makes it", root)
		}
		t.Skipf("no Debian 13 root at %s (test.sh makes it): %v", root, err)
	}
	return root
}
