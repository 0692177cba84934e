package e2e

// The way-out tests' bed (routers_*_test.go): uplinks whose default main
// never holds, because the stack was told so (NetworkManager's
// never-default, networkd's UseGateway=no, dhcpcd's nogateway) or the
// kernel (accept_ra_defrtr=0), and the checks that such a link's table
// holds symroute's default via the router the stack or the kernel learnt.
// The stacks are bed_stacks_test.go's; a pass that must read their state
// runs in their mount namespace, where their /run is.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ourDefault is the default a pass gives a link's table via its router:
// symroute's (protocol 234, metric 0).
func ourDefault(gw, link string) string { return "default via " + gw + " dev " + link + " proto 234" }

// wayOut is nil once link has an IPv4 address with its rule, main holds no
// default through link (the stack kept it out), link's table holds
// symroute's default via gw, and check (a --check run where a pass reads
// the stack's state) finds nothing to do.
func wayOut(n *ns, link, gw string, check func() error) func() error {
	return func() error {
		table, err := ruled(n, link)
		if err != nil {
			return err
		}
		for _, r := range n.routes("4", "main") {
			if strings.HasPrefix(r, "default ") && strings.Contains(r+" ", " dev "+link+" ") {
				return fmt.Errorf("main holds a default through %s (%q): the stack was told not to", link, r)
			}
		}
		if routes := n.routes("4", table); !containsPrefix(routes, ourDefault(gw, link)) {
			return fmt.Errorf("table %s (%s) has no %q: %v", table, link, ourDefault(gw, link), routes)
		}
		return check()
	}
}

// nsenterCmd runs argv in pid's mount and network namespaces: where a
// stack's private /run is. With root, in pid's root directory too (-r).
func nsenterCmd(pid int, root bool, argv ...string) *exec.Cmd {
	args := []string{"-t", strconv.Itoa(pid), "-m", "-n"}
	if root {
		args = append(args, "-r")
	}
	return exec.Command("nsenter", append(append(args, "--"), argv...)...)
}

// checkQuiet is a check for wayOut: run (symroute-sync with args) must
// exit 0 and print nothing.
func checkQuiet(t *testing.T, run func(args ...string) result) func() error {
	return func() error {
		if r := run("--check"); r.code != 0 || r.stdout != "" {
			return fmt.Errorf("--check: want exit 0 and no output, got %s", r)
		}
		return nil
	}
}

// inStack runs the packaged binary (/usr/sbin/symroute-sync) in a
// dispatcher stack's namespaces and root, as its hooks do, with an empty
// configuration: the lock and lease records are the stack's own /run's.
func (s *dispatcherStack) inStack(h *ns) func(args ...string) result {
	conf := h.emptyConfig()
	return func(args ...string) result {
		argv := append([]string{"/usr/sbin/symroute-sync", "--config", conf}, args...)
		return runResult(s.t, nsenterCmd(s.init, true, argv...))
	}
}

// inStack runs the built binary in a listen stack's mount and network
// namespaces (its /run) with an empty configuration and a lock of its own,
// as the timer would run it there.
func (p *listenStack) inStack(t *testing.T, h *ns) func(args ...string) result {
	conf := h.emptyConfig()
	lock := filepath.Join(filepath.Dir(conf), "sync.lock")
	return func(args ...string) result {
		argv := append([]string{syncBin, "--config", conf, "--lock-file", lock}, args...)
		return runResult(t, nsenterCmd(p.daemon.Cmd.Process.Pid, false, argv...))
	}
}

// timerPass runs a pass as the timer does (--trigger timer), which must
// exit 0.
func timerPass(t *testing.T, run func(args ...string) result) {
	t.Helper()
	if r := run("--once", "--trigger", "timer"); r.code != 0 {
		t.Fatalf("timer's pass: %s", r)
	}
}

// addToSection adds lines at the end of section sec of the keyfile or
// .network file at path.
func addToSection(t *testing.T, path, sec string, lines ...string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b := string(raw)
	head := "[" + sec + "]\n"
	i := strings.Index(b, head)
	if i < 0 {
		t.Fatalf("%s has no %s", path, head)
	}
	end := len(b)
	if j := strings.Index(b[i+len(head):], "\n["); j >= 0 {
		end = i + len(head) + j + 1
	}
	if !strings.HasSuffix(b[:end], "\n") {
		lines = append([]string{""}, lines...)
	}
	b = b[:end] + strings.Join(lines, "\n") + "\n" + b[end:]
	writeFile(t, path, b, fi.Mode().Perm())
}
