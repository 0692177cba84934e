package dispatch

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@symroute-test-" + randomName(t)} {
		c := listenNotify(t, name)
		t.Setenv("NOTIFY_SOCKET", name)
		if err := notify("READY=1"); err != nil {
			t.Fatal(err)
		}
		if got := readNotify(t, c); got != "READY=1" {
			t.Fatalf("%s got %q", name, got)
		}
	}
	if got := reloading(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading() = %q", got)
	}
}

// READY=1 comes after the start-up pass, STOPPING=1 when told to stop.
func TestListenNotifiesSystemd(t *testing.T) {
	c := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", c.LocalAddr().String())
	h := startListener(t, "unix:path="+t.TempDir()+"/none")
	if got := readNotify(t, c); got != "READY=1" {
		t.Fatalf("first message %q, want READY=1", got)
	}
	if h.l.Passes() < 1 {
		t.Fatal("READY=1 before the start-up pass")
	}
}

func randomName(t *testing.T) string {
	return strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
}
