package dbustest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/symroute/symroute/internal/testbed"
	"github.com/symroute/symroute/internal/testns"
)

// Config is a permissive system-bus configuration listening on the unix
// socket at path: the testbed's policy, for buses that only tests use.
func Config(path string) string { return testbed.BusConfig(path) }

// Bus is a private dbus-daemon.
type Bus struct {
	t      testing.TB
	Socket string // the socket's path
	Addr   string // its D-Bus address, for DBUS_SYSTEM_BUS_ADDRESS
	conf   string
	cmd    *exec.Cmd
}

// Require skips t when dbus-daemon is not installed, and fails it under CI.
func Require(t testing.TB) {
	t.Helper()
	testns.RequirePrograms(t, "dbus", "dbus-daemon")
}

// Start starts a bus in dir ("" for a fresh temporary directory), stopped
// when t ends. The socket path must stay under 108 bytes.
func Start(t testing.TB, dir string) *Bus {
	t.Helper()
	Require(t)
	if dir == "" {
		d, err := os.MkdirTemp("", "dbustest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	b := &Bus{t: t, Socket: filepath.Join(dir, "bus.sock"), conf: filepath.Join(dir, "bus.conf")}
	b.Addr = "unix:path=" + b.Socket
	if err := os.WriteFile(b.conf, []byte(Config(b.Socket)), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Restart starts the daemon again on the same socket (after Stop).
func (b *Bus) Restart() {
	b.t.Helper()
	os.Remove(b.Socket)
	b.cmd = exec.Command("dbus-daemon", "--nofork", "--nopidfile", "--config-file="+b.conf)
	b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("start dbus-daemon: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dbus.Connect(b.Addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("dbus-daemon at %s never answered: %v", b.Socket, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the daemon (SIGKILL: a bus that vanishes) and waits for it.
func (b *Bus) Stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
	b.cmd = nil
}

// Conn connects to the bus, closed when t ends.
func (b *Bus) Conn() *dbus.Conn {
	b.t.Helper()
	c, err := dbus.Connect(b.Addr)
	if err != nil {
		b.t.Fatalf("connect to %s: %v", b.Addr, err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

// Own makes c the primary owner of name, letting a later Own replace it
// (as a restarted service takes its name over).
func Own(t testing.TB, c *dbus.Conn, name string) {
	t.Helper()
	r, err := c.RequestName(name, dbus.NameFlagAllowReplacement|dbus.NameFlagReplaceExisting|dbus.NameFlagDoNotQueue)
	if err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request name %s: reply %v, %v", name, r, err)
	}
}
