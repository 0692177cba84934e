package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/dispatch"
	"github.com/symroute/symroute/dispatch/dbustest"
)

// listenNotify is a NOTIFY_SOCKET as systemd makes one; its messages come
// out of the returned channel.
func listenNotify(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func nextNotify(t *testing.T, ch <-chan string, wantPrefix string) {
	t.Helper()
	select {
	case m := <-ch:
		if !strings.HasPrefix(m, wantPrefix) {
			t.Fatalf("sd_notify message %q, want %q", m, wantPrefix)
		}
	case <-time.After(listenStackTimeout):
		t.Fatalf("no sd_notify %q within %v", wantPrefix, listenStackTimeout)
	}
}

func (l *listenProc) waitLog(t *testing.T, s string) {
	t.Helper()
	waitFor(t, "log says "+s, listenStackTimeout, func() error {
		if strings.Contains(l.stderr.String(), s) {
			return nil
		}
		return errorf("not yet")
	})
}

// TestListenBinary runs the built binary with --listen against a private
// bus where the test plays NetworkManager: start-up pass before READY=1,
// nothing done while idle, a pass per signal, SIGHUP re-reading the config
// (a bad one logged and the old kept), SIGTERM stopping with exit 0.
func TestListenBinary(t *testing.T) {
	s := newSeed(t, false)
	bus := dbustest.Start(t, "")
	sock, notes := listenNotify(t)
	l := startListenProc(t, s.host, bus.Addr, "", "NOTIFY_SOCKET="+sock)
	t1, t2 := s.host.table("em1"), s.host.table("em2")

	nextNotify(t, notes, "READY=1")
	if diff := cmp.Diff(seedRules(t1, t2), s.host.rules("4")); diff != "" {
		t.Fatalf("READY=1 before the start-up pass made the rules (-want +got):\n%s", diff)
	}
	l.listening(t)
	nm := bus.Conn()
	passes := strings.Count(l.stderr.String(), "listener pass")
	dbustest.Own(t, nm, dispatch.NetworkManager)
	// A new owner is worth a pass of its own; let it happen first.
	l.waitLog(t, "service owner changed")
	waitFor(t, "the owner change's pass", listenStackTimeout, func() error {
		if strings.Count(l.stderr.String(), "listener pass") > passes {
			return nil
		}
		return errorf("not yet")
	})
	kick := func() {
		t.Helper()
		if err := nm.Emit("/org/freedesktop/NetworkManager", dispatch.NetworkManager+".StateChanged", uint32(70)); err != nil {
			t.Fatal(err)
		}
	}

	// No signal, no pass: the listener does not poll the kernel.
	s.host.ip("addr", "add", "192.168.0.3/24", "dev", "em2")
	time.Sleep(3 * time.Second)
	if diff := cmp.Diff(seedRules(t1, t2), s.host.rules("4")); diff != "" {
		t.Fatalf("rules changed without a signal (-want +got):\n%s", diff)
	}
	kick()
	withThird := sorted(append(seedRules(t1, t2), "32765: from 192.168.0.3 lookup "+t2+" proto 234"))
	eventually(t, "the new address's rule after a signal", func() error {
		if diff := cmp.Diff(withThird, s.host.rules("4")); diff != "" {
			return errorf("(-want +got):\n%s", diff)
		}
		return nil
	})

	// A bad config on SIGHUP is logged, and the old one kept.
	if err := os.WriteFile(l.conf, []byte("priority = nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.cmd.Process.Signal(syscall.SIGHUP)
	nextNotify(t, notes, "RELOADING=1\nMONOTONIC_USEC=")
	nextNotify(t, notes, "READY=1")
	l.waitLog(t, "reload: bad configuration, keeping the old one")
	s.host.ip("addr", "del", "192.168.0.3/24", "dev", "em2")
	kick()
	eventually(t, "the old config still applied after a bad reload", func() error {
		if diff := cmp.Diff(seedRules(t1, t2), s.host.rules("4")); diff != "" {
			return errorf("(-want +got):\n%s", diff)
		}
		return nil
	})

	// A good one is applied at once.
	if err := os.WriteFile(l.conf, []byte("priority = 32000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.cmd.Process.Signal(syscall.SIGHUP)
	nextNotify(t, notes, "RELOADING=1")
	nextNotify(t, notes, "READY=1")
	want := sorted([]string{"0: from all lookup local", "32000: from 10.0.0.2 lookup " + t1 + " proto 234",
		"32000: from 192.168.0.2 lookup " + t2 + " proto 234", "32766: from all lookup main", "32767: from all lookup default"})
	eventually(t, "rules at the reloaded priority", func() error {
		if diff := cmp.Diff(want, s.host.rules("4")); diff != "" {
			return errorf("(-want +got):\n%s", diff)
		}
		return nil
	})

	if code := l.stop(t); code != 0 {
		t.Fatalf("exit %d on SIGTERM, want 0", code)
	}
	nextNotify(t, notes, "STOPPING=1")
}

// A bad flag or config file at start is exit 2, as for every mode.
func TestListenBadConfigAtStart(t *testing.T) {
	s := newSeed(t, false)
	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("table-base = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--listen", "--priority", "nope"},
		{"--listen", "--config", bad},
		{"--listen", "--once"},
	} {
		if r := s.host.symroute(args...); r.code != 2 {
			t.Errorf("symroute-sync %s: want exit 2, got %s", strings.Join(args, " "), r)
		}
	}
}
