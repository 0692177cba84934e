package e2e

// The --listen tests' bed (listen_*_test.go): the listener run as a daemon
// of the test, the NOTIFY_SOCKET systemd would give it, and what HOST must
// read back while it follows a network stack. The stacks themselves are
// bed_stacks_test.go's; the uplinks and their DHCP servers bed_dhcp_test.go's.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listener is `symroute-sync --listen -v` running in a namespace.
type listener struct {
	*daemon
	conf string
}

// startListener runs the built binary with --listen in n, on the bus at
// busAddr, with its config (conf, may be empty) and lock file in a temp
// dir, and env added to its environment. It is stopped with SIGTERM when t
// ends, and must exit 0 then.
func startListener(t *testing.T, n *ns, busAddr, conf string, env ...string) *listener {
	t.Helper()
	return startListenerCmd(t, func(argv ...string) *exec.Cmd { return n.execCmd(syncBin, argv...) }, busAddr, conf, env...)
}

// startListenerCmd is startListener with the command mk makes of the
// binary's arguments (in a stack's own mount namespace, say: its /run).
func startListenerCmd(t *testing.T, mk func(argv ...string) *exec.Cmd, busAddr, conf string, env ...string) *listener {
	t.Helper()
	dir := t.TempDir()
	l := &listener{conf: filepath.Join(dir, "symroute.conf")}
	writeFile(t, l.conf, conf, 0o600)
	cmd := mk("--listen", "-v", "--config", l.conf, "--lock-file", filepath.Join(dir, "sync.lock"))
	cmd.Env = append(append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+busAddr), env...)
	l.daemon = startDaemon(t, "symroute-sync --listen", cmd)
	t.Cleanup(func() { // before the daemon's own
		if !l.Exited() {
			if code := l.terminate(t); code != 0 {
				t.Errorf("symroute-sync --listen exited %d on SIGTERM, want 0", code)
			}
		}
	})
	return l
}

// terminate sends SIGTERM and returns the exit code.
func (l *listener) terminate(t *testing.T) int {
	t.Helper()
	if l.Stop(syscall.SIGTERM, 30*time.Second) {
		t.Fatal("symroute-sync --listen did not stop within 30 s of SIGTERM")
	}
	return l.Cmd.ProcessState.ExitCode()
}

// notifySocket is a NOTIFY_SOCKET as systemd makes one.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	s := &notifySocket{path: filepath.Join(t.TempDir(), "notify"), msgs: make(chan string, 16)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	return s
}

// next fails t unless the next message comes, and starts with wantPrefix.
func (s *notifySocket) next(t *testing.T, wantPrefix string) {
	t.Helper()
	select {
	case m := <-s.msgs:
		if !strings.HasPrefix(m, wantPrefix) {
			t.Fatalf("sd_notify message %q, want %q", m, wantPrefix)
		}
	case <-time.After(daemonTimeout):
		t.Fatalf("no sd_notify %q within %v", wantPrefix, daemonTimeout)
	}
}

// listenMirrored checks that link's address has its rule and link's table
// holds a default route via gw.
func listenMirrored(n *ns, link, gw string) func() error {
	return func() error {
		table, err := ruled(n, link)
		if err != nil {
			return err
		}
		routes := n.routes("4", table)
		if containsPrefix(routes, "default via "+gw+" dev "+link+" ") {
			return nil
		}
		return fmt.Errorf("table %s has no default via %s: %v (main: %v)", table, gw, routes, n.routes("4", "main"))
	}
}

// ruled is link's table once link has an IPv4 address whose rule looks
// it up.
func ruled(n *ns, link string) (string, error) {
	a, err := n.addrs4(link)
	if err != nil || len(a) == 0 {
		return "", fmt.Errorf("%s has no address yet (%v)", link, err)
	}
	table := n.table(link)
	if rules := n.rules("4"); !contains(rules, ruleLine(a[0], table)) {
		return "", fmt.Errorf("no rule %q in %v", ruleLine(a[0], table), rules)
	}
	return table, nil
}

// listenUnmirrored checks that link has no rule of ours and an empty table.
func listenUnmirrored(n *ns, link string) func() error {
	return func() error { return unmirrored(n, link) }
}
