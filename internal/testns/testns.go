package testns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/symroute/symroute/internal/nsthread"
)

// RequireRoot skips t when the process is not root, or fails it under CI.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (network namespaces); CI must run it privileged")
	}
	t.Skip("skipped: needs root to create network namespaces")
}

// New returns a fresh network namespace with its loopback up, closed (and so
// destroyed, once nothing else holds it) when t ends. The calling thread
// stays where it was.
func New(t testing.TB) netns.NsHandle {
	t.Helper()
	RequireRoot(t)
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine instead of
		// going back to the scheduler in the new namespace.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err == nil {
			err = loUp()
			if err != nil {
				ns.Close()
			}
		}
		ch <- result{ns, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("new network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	return r.ns
}

func loUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Do runs fn on a thread that is in ns for fn's whole run and is then
// discarded, for library calls that act on the calling thread's namespace.
func Do(ns netns.NsHandle, fn func() error) error { return nsthread.Do(ns, fn) }

// Command returns a command that runs name with args inside ns.
func Command(ns netns.NsHandle, name string, args ...string) *exec.Cmd {
	path := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(ns))
	return exec.Command("nsenter", append([]string{"--net=" + path, "--", name}, args...)...)
}

// Run runs name with args inside ns and returns its combined output; the
// test fails if the command does.
func Run(t testing.TB, ns netns.NsHandle, name string, args ...string) string {
	t.Helper()
	out, err := Command(ns, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RequirePrograms skips t when one of names (a program in PATH, or a path)
// is missing, or fails it under CI, which must install the Debian package
// pkg ("" when the names come from several).
func RequirePrograms(t testing.TB, pkg string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err == nil {
			continue
		}
		from := "test.sh's packages"
		if pkg != "" {
			from = "Debian package " + pkg
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: CI must install it (%s)", n, from)
		}
		t.Skipf("skipped: %s is not installed (%s)", n, from)
	}
}
