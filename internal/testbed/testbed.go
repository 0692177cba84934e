package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	argv := append([]string{"-n", ns}, args...)
	if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
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
