package dispatch

import (
	"context"
	"io"
	"log/slog"
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

// READY=1 comes only once the start-up pass is done, STOPPING=1 when the
// listener is told to stop.
func TestListenNotifiesSystemd(t *testing.T) {
	c := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", c.LocalAddr().String())
	release := make(chan struct{})
	l := New(Options{Address: "unix:path=" + t.TempDir() + "/none", Quiet: testQuiet, MaxDelay: testMaxDelay,
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pass: func(string) error { <-release; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// The start-up pass is held: nothing may be said yet.
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(settleTime))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("%q before the start-up pass finished", buf[:n])
	}
	close(release)
	if got := readNotify(t, c); got != "READY=1" {
		t.Fatalf("after the start-up pass: %q, want READY=1", got)
	}
	if l.Passes() != 1 {
		t.Fatalf("READY=1 with %d passes finished, want 1", l.Passes())
	}
	cancel()
	if got := readNotify(t, c); got != "STOPPING=1" {
		t.Fatalf("when told to stop: %q, want STOPPING=1", got)
	}
}

func randomName(t *testing.T) string {
	return strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
}
