package e2e

// The test bed's binary: symroute-sync built once by TestMain through
// testbed.Build (the build bench uses, static as packaged), and run as a
// fresh process inside a namespace, in the foreground (ns.symroute) or in
// the background (ns.startSymroute). Here rather than in internal/testbed:
// every runner fails its *testing.T, and the build already is there.

import (
	"bytes"
	"errors"
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

// syncBin is the symroute-sync built by TestMain.
var syncBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// SYMROUTE_E2E_BINARY names a ready-built binary to test instead (a
// packaged one, or a deliberately broken one to show the tests can fail).
func runMain(m *testing.M) int {
	// Every test keeps symroute's lock and lease records in its own
	// directories: the host's /run/symroute must not appear because of
	// them (it may exist already on a host running symroute).
	hostRun := "/run/symroute"
	_, err := os.Lstat(hostRun)
	hadHostRun := err == nil
	defer func() {
		if _, err := os.Lstat(hostRun); err == nil && !hadHostRun {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: a test wrote the host's %s\n", hostRun)
			os.Exit(1)
		}
	}()
	if bin := os.Getenv("SYMROUTE_E2E_BINARY"); bin != "" {
		syncBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "symroute-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	syncBin = filepath.Join(dir, "symroute-sync")
	if err := testbed.Build("./cmd/symroute-sync", syncBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return m.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runResult runs cmd and returns how it ended; t fails only if it could
// not run at all.
func runResult(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, r)
	}
	return r
}

// shIn pipes script into `sh -e -x` inside n: how a --dry-run plan is
// replayed.
func shIn(t *testing.T, n *ns, script string) result {
	t.Helper()
	sh := n.execCmd("sh", "-e", "-x")
	sh.Stdin = strings.NewReader(script)
	return runResult(t, sh)
}

// emptyConfig writes an empty symroute.conf into a temp dir of n's test:
// no run reads the host's /etc.
func (n *ns) emptyConfig() string {
	n.t.Helper()
	conf := filepath.Join(n.t.TempDir(), "symroute.conf")
	writeFile(n.t, conf, "", 0o600)
	return conf
}

// symroute runs `ip netns exec NS symroute-sync --config EMPTY --lock-file L ARGS`
// as a fresh process. The empty config and the lock file in a temp dir keep
// the run off the host's /etc and /run; later flags in args override them.
func (n *ns) symroute(args ...string) result {
	n.t.Helper()
	conf := n.emptyConfig()
	argv := append([]string{"--config", conf, "--lock-file", filepath.Join(filepath.Dir(conf), "sync.lock")}, args...)
	return runResult(n.t, n.execCmd(syncBin, argv...))
}

// pass runs one --once pass and fails t unless it exits 0.
func (n *ns) pass() result {
	n.t.Helper()
	r := n.symroute("--once")
	if r.code != 0 {
		n.t.Fatalf("symroute-sync --once in %s: want exit 0, got %s", n.Name, r)
	}
	return r
}

// assertNoPlan runs symroute-sync with args (--check, --dry-run, ...),
// which must exit 0 and print nothing: there is nothing to do.
func assertNoPlan(t *testing.T, n *ns, args ...string) {
	t.Helper()
	if r := n.symroute(args...); r.code != 0 || r.stdout != "" {
		t.Errorf("symroute-sync %s: want exit 0 and no output, got %s", strings.Join(args, " "), r)
	}
}

// assertInSync is assertNoPlan for --check (with extra flags).
func assertInSync(t *testing.T, n *ns, flags ...string) {
	t.Helper()
	assertNoPlan(t, n, append([]string{"--check"}, flags...)...)
}

// bgPass is a symroute-sync started in the background in a namespace.
type bgPass struct {
	*daemon
	stdout, stderr bytes.Buffer
	started        time.Time
}

// startSymroute starts `symroute-sync --config EMPTY --lock-file LOCK ARGS`
// inside n, as n.symroute runs it but without waiting: `ip netns exec`
// execs the binary in place, so the process started is the pass itself and
// a signal to it reaches no one else. It is killed and reaped when t ends.
func (n *ns) startSymroute(lock string, args ...string) *bgPass {
	n.t.Helper()
	p := &bgPass{}
	cmd := n.execCmd(syncBin, append([]string{"--config", n.emptyConfig(), "--lock-file", lock}, args...)...)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	p.daemon = startDaemon(n.t, "symroute-sync "+strings.Join(args, " "), cmd)
	p.stopWith = syscall.SIGKILL
	return p
}

// wait waits for p to end and returns how.
func (p *bgPass) wait() result {
	<-p.Done()
	return result{code: p.Cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// killAfter sends SIGKILL to p once d has passed since it started, unless
// it ended first, reaps it, and reports whether the signal killed it.
func (p *bgPass) killAfter(d time.Duration) (killed bool) {
	select {
	case <-p.Done():
		return false
	case <-time.After(d - time.Since(p.started)):
	}
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.Done()
	ws, ok := p.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
