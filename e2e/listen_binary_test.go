package e2e

// `symroute-sync --listen` as a service, on a private bus where the test
// plays NetworkManager: when it tells systemd it is ready, that it passes
// on signals and only on them, how it reloads and stops, and that bad
// input at start is refused like in every mode.

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/dispatch"
	"github.com/symroute/symroute/dispatch/dbustest"
)

// TestListenBinary runs the built binary with --listen against a private
// bus where the test plays NetworkManager: start-up pass before READY=1,
// nothing done while idle, a pass per signal, SIGHUP re-reading the config
// (a bad one logged and the old kept), SIGTERM stopping with exit 0.
func TestListenBinary(t *testing.T) {
	h := newSeed(t, false).host
	bus := dbustest.Start(t, "")
	notes := listenNotify(t)
	l := startListener(t, h, bus.Addr, "", "NOTIFY_SOCKET="+notes.path)
	t1, t2 := h.tables()

	notes.next(t, "READY=1")
	if diff := cmp.Diff(seedRules(t1, t2), h.rules("4")); diff != "" {
		t.Fatalf("READY=1 before the start-up pass made the rules (-want +got):\n%s", diff)
	}
	l.waitLog(t, "listening")
	nm := bus.Conn()
	passes := strings.Count(l.output(), "listener pass")
	dbustest.Own(t, nm, dispatch.NetworkManager)
	// A new owner is worth a pass of its own; let it happen first.
	l.waitLog(t, "service owner changed")
	waitFor(t, "the owner change's pass", daemonTimeout, func() error {
		if strings.Count(l.output(), "listener pass") > passes {
			return nil
		}
		return fmt.Errorf("not yet")
	})
	kick := func() {
		t.Helper()
		if err := nm.Emit("/org/freedesktop/NetworkManager", dispatch.NetworkManager+".StateChanged", uint32(70)); err != nil {
			t.Fatal(err)
		}
	}
	// reload writes conf and sends SIGHUP; the listener says it reloads,
	// then that it is ready again.
	reload := func(conf, reloading string) {
		t.Helper()
		writeFile(t, l.conf, conf, 0o600)
		l.Cmd.Process.Signal(syscall.SIGHUP)
		notes.next(t, reloading)
		notes.next(t, "READY=1")
	}

	// No signal, no pass: the listener does not poll the kernel.
	h.ip("addr", "add", "192.168.0.3/24", "dev", "em2")
	time.Sleep(3 * time.Second)
	if diff := cmp.Diff(seedRules(t1, t2), h.rules("4")); diff != "" {
		t.Fatalf("rules changed without a signal (-want +got):\n%s", diff)
	}
	kick()
	waitRules(t, h, "the new address's rule after a signal", sorted(append(seedRules(t1, t2), ruleLine("192.168.0.3", t2))))

	// A bad config on SIGHUP is logged, and the old one kept.
	reload("priority = nope\n", "RELOADING=1\nMONOTONIC_USEC=")
	l.waitLog(t, "reload: bad configuration, keeping the old one")
	h.ip("addr", "del", "192.168.0.3/24", "dev", "em2")
	kick()
	waitRules(t, h, "the old config still applied after a bad reload", seedRules(t1, t2))

	// A good one is applied at once.
	reload("priority = 32000\n", "RELOADING=1")
	waitRules(t, h, "rules at the reloaded priority", rulesWith(
		"32000: from 10.0.0.2 lookup "+t1+" proto 234", "32000: from 192.168.0.2 lookup "+t2+" proto 234",
		"32000: from all oif em1 lookup "+t1+" proto 234", "32000: from all oif em2 lookup "+t2+" proto 234"))

	if code := l.terminate(t); code != 0 {
		t.Fatalf("exit %d on SIGTERM, want 0", code)
	}
	notes.next(t, "STOPPING=1")
}

// A bad flag or config file at start is exit 2, as for every mode.
func TestListenBadConfigAtStart(t *testing.T) {
	s := newSeed(t, false)
	bad := filepath.Join(t.TempDir(), "bad.conf")
	writeFile(t, bad, "table-base = 7\n", 0o600)
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
