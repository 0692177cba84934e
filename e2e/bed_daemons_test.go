package e2e

// The test bed's daemons: every program a test runs in the background
// (dnsmasq, the DHCP clients, the network stacks, the listener, passes to
// kill, monitors) is started and reaped here, through testbed.Proc, stopped
// when its test ends and its output shown if the test failed. The
// *testing.T-free part (start, reap, signal, kill) is testbed.Proc, which
// bench can use too; what is here ties it to a test.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testbed"
)

// daemon is a program a test runs in the background.
type daemon struct {
	*testbed.Proc
	t    *testing.T
	name string
	log  string // the file its output goes to (unless its command sent it elsewhere)
	// How stop ends it: stopWith, then SIGKILL if it lingers for grace.
	stopWith os.Signal
	grace    time.Duration
}

// logTail is how much of a daemon's output a failed test shows.
const logTail = 12 << 10

// startDaemon starts cmd in the background as name. Its standard output
// and error, unless cmd sets them, go to a file of the test's. It is
// stopped when t ends (SIGTERM, SIGKILL after 10 s; a caller may change
// stopWith and grace), before the namespaces it runs in go: cleanups run
// last in, first out. Under `ip netns exec`, which execs its command, the
// process is the program itself, so a signal reaches no one else.
func startDaemon(t *testing.T, name string, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, stopWith: syscall.SIGTERM, grace: 10 * time.Second,
		log: filepath.Join(t.TempDir(), strings.NewReplacer("/", "_", " ", "_").Replace(name)+".log")}
	f, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the program holds its own descriptor
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		cmd.Stderr = f
	}
	if d.Proc, err = testbed.Start(cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			if out := d.output(); out != "" {
				t.Logf("%s's output (%s), last %d KB:\n%s", name, d.log, logTail>>10, lastBytes(out, logTail))
			}
		}
	})
	return d
}

// stop ends the daemon and waits for it; one that has ended is left alone.
func (d *daemon) stop() { d.Stop(d.stopWith, d.grace) }

// output is what the daemon has printed so far.
func (d *daemon) output() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// running wraps a wait's condition: the test fails at once, rather than at
// the wait's timeout, if the daemon has exited.
func (d *daemon) running(cond func() error) func() error {
	return func() error {
		if d.Exited() {
			d.t.Fatalf("%s has exited", d.name)
		}
		return cond()
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitLog waits until the daemon's output says s.
func (d *daemon) waitLog(t *testing.T, s string) {
	t.Helper()
	waitFor(t, d.name+" says "+s, daemonTimeout, func() error {
		if strings.Contains(d.output(), s) {
			return nil
		}
		return fmt.Errorf("not yet")
	})
}
