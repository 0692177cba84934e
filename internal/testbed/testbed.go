package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// ModuleRoot is the symroute module's directory, asked of go itself so that
// tests and benchmarks work from any directory inside it.
func ModuleRoot() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(gomod))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the symroute module (go env GOMOD: %v)", err)
	}
	return filepath.Dir(mod), nil
}

// ReadmeSection is the README's section of that title ("## TITLE" to the
// next "## "), for the tests that keep a table of the code and the
// README's in step.
func ReadmeSection(title string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.Index(s, "\n## "+title+"\n")
	if i < 0 {
		return "", fmt.Errorf("README.md has no %q section", "## "+title)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	return s, nil
}

// PackageVersion is the version the packages and the container image
// take: the rpm spec's Version, read as buildrpm.sh and
// packaging/container/build.sh read it (packaging/test.sh checks that
// debian/changelog agrees).
func PackageVersion() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	spec := filepath.Join(root, "packaging", "rpm", "symroute-sync.spec")
	b, err := os.ReadFile(spec)
	if err != nil {
		return "", fmt.Errorf("package version: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Version:"); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("package version: no Version in %s", spec)
}

// Build compiles package pkg of the module ("./cmd/symroute-sync") into
// out, static as the README and the packages build it: no dynamic loader
// at every start (a quarter of a small pass's time).
func Build(pkg, out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, bytes.TrimSpace(msg))
	}
	return nil
}

// Cleanups run once, last added first: at a program's normal exit, on an
// error and on a signal, so that no namespace outlives it. The zero value
// is ready.
type Cleanups struct {
	mu   sync.Mutex
	fns  []func()
	once sync.Once
}

// Add registers f.
func (c *Cleanups) Add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
}

// Run runs what was added, once.
func (c *Cleanups) Run() {
	c.once.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i := len(c.fns) - 1; i >= 0; i-- {
			c.fns[i]()
		}
	})
}

// AddNetns creates the named namespace with its loopback up, and has
// cleanup remove it. The removal is registered before the namespace
// exists, so nothing between the two can leak it.
func AddNetns(name string, cleanup func(func())) error {
	cleanup(func() {
		// ip netns del only unmounts /run/netns/NAME; the namespace and
		// its links go when the last process or thread in it does.
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "testbed: remove namespace %s: %v: %s\n", name, err, bytes.TrimSpace(out))
		}
	})
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return IP(name, "link", "set", "lo", "up")
}

// IP runs `ip -n NS ARGS...`: the namespace is always named, so nothing can
// land in the host's network.
func IP(ns string, args ...string) error {
	_, err := IPOut(ns, args...)
	return err
}

// IPOut is IP returning what ip printed on its standard output: what the
// read-backs parse. What it prints on its standard error (warnings that do
// not matter here, about a peer namespace that is being removed, say) goes
// only into the error.
func IPOut(ns string, args ...string) (string, error) {
	argv := append([]string{"-n", ns}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ip %s: %w: %s%s", strings.Join(argv, " "), err,
			bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(stdout.Bytes()))
	}
	return stdout.String(), nil
}

var inet4 = regexp.MustCompile(`\binet ([0-9.]+)/`)

// Addrs4 is link's global IPv4 addresses in namespace ns, in the kernel's
// order (none: an empty list).
func Addrs4(ns, link string) ([]string, error) {
	out, err := IPOut(ns, "-4", "-o", "addr", "show", "dev", link, "scope", "global")
	if err != nil {
		return nil, err
	}
	var a []string
	for _, m := range inet4.FindAllStringSubmatch(out, -1) {
		a = append(a, m[1])
	}
	return a, nil
}

// Proc is a program running in the background, reaped by a goroutine of
// its own, so that its end is seen however it comes.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
}

// Start starts cmd in the background.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // ProcessState says how it ended
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the program has ended and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited says whether the program has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends the program sig and waits up to grace for it to end, then
// kills it (SIGKILL) and waits for that; it reports whether it had to. Only
// this program is signalled, by its pid; one that has ended is left alone.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) (killed bool) {
	if p.Exited() {
		return false
	}
	_ = p.Cmd.Process.Signal(sig) // it may have ended meanwhile: done says so
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
	}
	_ = p.Cmd.Process.Kill() // as for Signal
	<-p.done
	return true
}

// Median is the middle of d (the mean of the middle two for an even
// count); 0 for none. d is not changed.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BusConfig is a permissive system-bus configuration listening on the unix
// socket at path, for private buses that only tests and benchmarks use.
func BusConfig(path string) string { return fmt.Sprintf(busConfig, path) }

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/> <allow own="*"/> <allow send_type="method_call"/> <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>
  </policy>
</busconfig>
`

// ErrNotRoot is what a program that makes namespaces says without root.
var ErrNotRoot = errors.New("must run as root: it creates network namespaces")
