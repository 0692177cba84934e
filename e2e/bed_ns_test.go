package e2e

// The test bed's namespaces: every one a test makes is symtest-TAG-ROLE,
// made and removed by testbed.AddNetns (the one way bench and the tests make
// named namespaces) with t.Cleanup as its registrar, and every command that
// changes one names it (`ip -n NS`, `ip netns exec NS`). What is here wraps
// testbed for a test: each call fails the test on error.

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testbed"
	"github.com/symroute/symroute/internal/testns"
)

// requireRootWith skips t unless it runs as root and programs (of Debian
// package pkg, "" for several) are installed; under CI it fails instead.
func requireRootWith(t *testing.T, pkg string, programs ...string) {
	t.Helper()
	testns.RequireRoot(t)
	testns.RequirePrograms(t, pkg, programs...)
}

// ns is a named network namespace a test created, one of a set that
// shares its TAG.
type ns struct {
	t    *testing.T
	tag  string
	Name string
}

func randomTag() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newNS creates "symtest-TAG-ROLE", with a fresh TAG, its loopback up,
// IPv6 DAD off (so addresses are usable at once and no late address event
// reaches a monitor) and no reverse-path filter, and removes it when t
// ends, even on failure.
func newNS(t *testing.T, role string) *ns {
	t.Helper()
	return newNSTagged(t, randomTag(), role)
}

// sibling is newNS with n's TAG: another namespace of n's set.
func (n *ns) sibling(role string) *ns {
	n.t.Helper()
	return newNSTagged(n.t, n.tag, role)
}

func newNSTagged(t *testing.T, tag, role string) *ns {
	t.Helper()
	n := &ns{t: t, tag: tag, Name: "symtest-" + tag + "-" + role}
	// Registered first, so it runs last: by then the namespace is gone.
	t.Cleanup(func() {
		if _, err := os.Lstat(filepath.Join("/run/netns", n.Name)); err == nil {
			t.Errorf("namespace %s outlived its test", n.Name)
		}
	})
	if err := testbed.AddNetns(n.Name, t.Cleanup); err != nil {
		t.Fatal(err)
	}
	n.sysctl("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	return n
}

// ipErr runs `ip -n NS ARGS...` (testbed.IPOut) and returns its standard
// output.
func (n *ns) ipErr(args ...string) (string, error) { return testbed.IPOut(n.Name, args...) }

func (n *ns) ip(args ...string) string {
	n.t.Helper()
	out, err := n.ipErr(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// ips runs several ip commands, each a space-separated line.
func (n *ns) ips(lines ...string) {
	n.t.Helper()
	for _, l := range lines {
		n.ip(strings.Fields(l)...)
	}
}

// ipBatch runs lines (ip commands without "ip") through `ip -n NS -batch`:
// one process for thousands of routes.
func (n *ns) ipBatch(lines []string) {
	n.t.Helper()
	f := filepath.Join(n.t.TempDir(), "batch")
	writeFile(n.t, f, strings.Join(lines, "\n")+"\n", 0o600)
	n.ip("-batch", f)
}

// execCmd runs a command inside the namespace through `ip netns exec`.
func (n *ns) execCmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// run runs a command inside the namespace and fails t unless it succeeds.
func (n *ns) run(stdin, name string, args ...string) {
	n.t.Helper()
	cmd := n.execCmd(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("ip netns exec %s %s %s: %v\n%s\nstdin:\n%s", n.Name, name, strings.Join(args, " "), err, out, stdin)
	}
}

func (n *ns) sysctl(settings ...string) {
	n.t.Helper()
	for _, s := range settings {
		n.run("", "sysctl", "-qw", s)
	}
}

// nft runs `nft -f -` on script inside n.
func (n *ns) nft(script string) {
	n.t.Helper()
	n.run(script, "nft", "-f", "-")
}

var linkLine = regexp.MustCompile(`^(\d+): ([^:@ ]+)`)

// ifindex reads a link's index from `ip -o link`: ifindexes are per
// namespace, but never assumed.
func (n *ns) ifindex(link string) int {
	n.t.Helper()
	out := n.ip("-o", "link", "show", "dev", link)
	m := linkLine.FindStringSubmatch(out)
	if m == nil || m[2] != link {
		n.t.Fatalf("ip -o link show dev %s: cannot parse %q", link, out)
	}
	i, _ := strconv.Atoi(m[1])
	return i
}

// table is the table symroute gives link with the default base.
func (n *ns) table(link string) string {
	n.t.Helper()
	return strconv.Itoa(1000 + n.ifindex(link))
}

// veth makes a veth pair between two namespaces, each end with an optional
// address, both up.
func veth(t *testing.T, a *ns, aName, aAddr string, b *ns, bName, bAddr string) {
	t.Helper()
	a.ip("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	if aAddr != "" {
		a.ip("addr", "add", aAddr, "dev", aName)
	}
	if bAddr != "" {
		b.ip("addr", "add", bAddr, "dev", bName)
	}
	a.ip("link", "set", aName, "up")
	b.ip("link", "set", bName, "up")
}
