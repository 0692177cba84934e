package e2e

// symroute-sync as a container: the image packaging/container/build.sh
// builds, run by podman in a test's namespace the way the DaemonSet runs it
// (only CAP_NET_ADMIN, a read-only root, /run/symroute shared with the
// host, no system bus), does what the binary run directly does.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestContainerImage builds the image once and runs it: its configuration, a
// --once pass against the binary's, and the listener with no bus.
func TestContainerImage(t *testing.T) {
	p := newPodman(t)
	img, cfg := p.build()
	t.Run("image", func(t *testing.T) {
		want := imageConfig{
			Entrypoint: []string{"/usr/sbin/symroute-sync"},
			Cmd:        []string{"--listen", "--resync-interval", "60s"},
			Labels: map[string]string{
				"org.opencontainers.image.version":  packageVersion(t),
				"org.opencontainers.image.source":   "https://github.com/symroute/symroute",
				"org.opencontainers.image.licenses": "LicenseRef-All-rights-reserved",
			},
		}
		got := cfg
		got.Labels = map[string]string{}
		for k := range want.Labels {
			got.Labels[k] = cfg.Labels[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("image %s (-want +got):\n%s", img, diff)
		}
		size := p.run("image", "inspect", "--format", "{{.Size}}", img).stdout
		t.Logf("image %s: %s bytes", img, strings.TrimSpace(size))
	})
	t.Run("once", func(t *testing.T) { containerOnce(t, p, img) })
	t.Run("listen without a bus", func(t *testing.T) { containerListen(t, p, img) })
}

// The container's --once leaves exactly the rules and tables, both
// families, that the binary's --once leaves.
func containerOnce(t *testing.T, p *podman, img string) {
	h := newSeed(t, false).host
	h.ips(seedIPv6...)
	h.ips(seedIPv6Default...)
	before := h.dump()
	args := append(append([]string{"run", "--rm"}, runArgs(h)...), img, "--once")
	if r := runResult(t, p.cmd("podman", args...)); r.code != 0 {
		t.Fatalf("podman %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	byContainer := h.dump()
	if cmp.Equal(before, byContainer) {
		t.Fatal("the container's pass changed nothing: comparing it with the binary's would prove nothing")
	}
	assertInSync(t, h)
	if r := h.symroute("--flush"); r.code != 0 {
		t.Fatalf("symroute-sync --flush: %s", r)
	}
	if diff := cmp.Diff(before, h.dump()); diff != "" {
		t.Fatalf("--flush did not bring back the namespace as it was (-before +after):\n%s", diff)
	}
	h.pass()
	if diff := cmp.Diff(byContainer, h.dump()); diff != "" {
		t.Errorf("the container's pass and the binary's differ (-container +binary):\n%s", diff)
	}
}

// The listener with --resync-interval 1s and no bus says so once, puts
// back a deleted rule within 3 s, waits for a lock the host holds on the
// shared /run/symroute, and stops with 0 on SIGTERM.
func containerListen(t *testing.T, p *podman, img string) {
	h, t1, t2 := newSeedHost(t)
	runDir := t.TempDir() // the host's /run/symroute, for the hooks
	name := "symroute-listen-" + h.tag
	args := append([]string{"run", "--detach", "--name", name, "--volume", runDir + ":/run/symroute"}, runArgs(h)...)
	p.run(append(args, img, "--listen", "--resync-interval", "1s")...)
	// Before the namespaces go (cleanups run last in, first out).
	t.Cleanup(func() { runResult(t, p.cmd("podman", "rm", "--force", "--time", "10", name)) })
	logs := func() string {
		r := p.run("logs", name)
		return r.stdout + r.stderr
	}
	defer func() {
		if t.Failed() {
			t.Logf("the container's log:\n%s", lastBytes(logs(), logTail))
		}
	}()
	want := seedRules(t1, t2)
	waitRules(t, h, "the container's start-up pass", want)
	memNow, memPeak := p.memory(name)
	t.Logf("listener in the container, idle after its start-up pass: memory %s bytes, peak %s", memNow, memPeak)

	del := func() { h.ip("rule", "del", "priority", "32765", "from", "192.168.0.2", "lookup", t2) }
	del()
	waitFor(t, "the deleted rule put back by the resync interval", 3*time.Second, func() error {
		if diff := cmp.Diff(want, h.rules("4")); diff != "" {
			return fmt.Errorf("(-want +got):\n%s", diff)
		}
		return nil
	})
	if l := logs(); !strings.Contains(l, `change="ip -4 rule add priority 32765 from 192.168.0.2/32 table `+t2+` protocol 234"`) ||
		!strings.Contains(l, "trigger=resync") {
		t.Errorf("no resync pass logged putting the rule back:\n%s", l)
	}
	memNow, memPeak = p.memory(name)
	t.Logf("listener in the container, after a pass that put a rule back: memory %s bytes, peak %s", memNow, memPeak)

	// The lock is the host's file: while the host holds it, the
	// container's passes wait.
	release := holdLock(t, filepath.Join(runDir, "sync.lock"))
	del()
	time.Sleep(3 * time.Second)
	if got := h.rules("4"); cmp.Equal(want, got) {
		t.Errorf("the rule came back while the host held the lock: the container's lock is not the host's")
	}
	release()
	waitRules(t, h, "the rule put back once the host let go of the lock", want)

	p.run("stop", "--time", "10", name)
	if code := strings.TrimSpace(p.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout); code != "0" {
		t.Errorf("exit status %s on SIGTERM, want 0", code)
	}
	if n := strings.Count(logs(), "system bus unavailable; running a pass every resync interval"); n != 1 {
		t.Errorf("the missing bus logged %d times, want once", n)
	}
}

// holdLock takes path's lock as a hook's pass on the host would (the file
// the container's passes made, root's, 0600) and returns its release.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		t.Fatalf("the lock file the container's passes take: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("flock %s: %v", path, err)
	}
	var once bool
	release := func() {
		if !once {
			once = true
			f.Close()
		}
	}
	t.Cleanup(release)
	return release
}
