package e2e

// The dispatcher scripts alone, run the way their dispatchers run them,
// with hostile words in every argument and variable: each hands
// symroute-sync fixed arguments, evaluates nothing, and exits 0 even when
// symroute-sync fails.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// TestNetworkdDispatcherScript runs networkd-dispatcher/50-symroute as
// packaged the way networkd-dispatcher does (no arguments, the link's
// state in the environment), with hostile words in every variable
// networkd-dispatcher sets: it calls symroute-sync with fixed arguments,
// evaluates nothing, and exits 0 even when symroute-sync fails.
func TestNetworkdDispatcherScript(t *testing.T) {
	testns.RequireRoot(t)
	hook := repoFile("networkd-dispatcher", "50-symroute")
	for _, h := range hostileWords {
		env := []string{"IFACE=" + h, "STATE=" + h, "OperationalState=" + h, "AdministrativeState=" + h,
			"ADDR=" + h, "IP_ADDRS=" + h, "IP6_ADDRS=" + h, "ESSID=" + h, "json=" + h}
		assertHookCalls(t, fmt.Sprintf("50-symroute with %q in the environment", h), hook, env, nil, "--once", "--trigger", "networkd")
	}
	assertNotPwned(t)
}

// TestNMDispatcherScript runs nm-dispatcher/90-symroute as packaged the way
// nm-dispatcher does (IFACE ACTION as arguments, NetworkManager's
// variables in the environment), with hostile words for both: it hands
// symroute-sync exactly its two arguments after `--`, evaluates nothing,
// and exits 0 even when symroute-sync fails.
func TestNMDispatcherScript(t *testing.T) {
	testns.RequireRoot(t)
	hook := repoFile("nm-dispatcher", "90-symroute")
	for _, h := range hostileWords {
		for _, tc := range [][2]string{{h, "up"}, {"em1", h}} {
			env := []string{"DEVICE_IFACE=" + h, "CONNECTION_ID=" + h, "IP4_ADDRESS_0=" + h, "DHCP4_ROUTERS=" + h,
				"DHCP4_IP_ADDRESS=" + h, "DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES=" + h, "DHCP4_EXPIRY=" + h}
			assertHookCalls(t, fmt.Sprintf("90-symroute %q %q", tc[0], tc[1]), hook, env, tc[:], "--once", "--trigger", "nm", "--", tc[0], tc[1])
		}
	}
	assertNotPwned(t)
}

// assertHookCalls runs hook with env and args once for each exit status of
// symroute-sync (0, 1, 2): it must hand symroute-sync want and exit 0.
func assertHookCalls(t *testing.T, what, hook string, env, args []string, want ...string) {
	t.Helper()
	for _, exit := range []int{0, 1, 2} {
		code, got := runHookScript(t, hook, exit, env, args...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: symroute-sync's arguments (-want +got):\n%s", what, diff)
		}
		if code != 0 {
			t.Errorf("%s with symroute-sync exiting %d: exit %d, want 0", what, exit, code)
		}
	}
}

// assertNotPwned checks that no hostile word was evaluated: the hooks ran
// in their temp dirs, which t.TempDir names under one parent.
func assertNotPwned(t *testing.T) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(t.TempDir()), "*", "pwned"))
	if _, err := os.Stat("pwned"); err == nil {
		m = append(m, "pwned")
	}
	if len(m) > 0 {
		t.Errorf("a hostile word was executed: %v", m)
	}
}

// runHookScript runs an installed copy of a packaged hook with args and
// extra environment, in a private mount namespace where
// /usr/sbin/symroute-sync is a stand-in that records its arguments
// (NUL-terminated) and exits with exitCode. It returns the hook's exit
// status and the arguments the stand-in got (nil if it never ran).
func runHookScript(t *testing.T, hook string, exitCode int, env []string, args ...string) (int, []string) {
	t.Helper()
	dir := dispatcherStackDir(t)
	script := filepath.Join(dir, "hook")
	installAsPackaged(t, hook, script)
	record := filepath.Join(dir, "argv")
	fake := filepath.Join(dir, "fake-symroute-sync")
	writeFile(t, fake, fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\0' \"$a\"; done > '%s'\nexit %d\n", record, exitCode), 0o755)
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c",
		`mount --make-rprivate / && mount -t overlay overlay -o "lowerdir=$1/sbin:/usr/sbin" /usr/sbin &&
		mount --bind "$2" /usr/sbin/symroute-sync && shift 2 && exec "$@"`,
		"sh", dir, fake, script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	r := runResult(t, cmd)
	if r.stdout != "" || r.stderr != "" {
		t.Logf("%s printed: %s", hook, r)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		return r.code, nil
	}
	got := strings.Split(string(b), "\x00")
	return r.code, got[:len(got)-1]
}

// hostileWords are words a hook may be handed (interface names may hold
// all but '/', ':' and whitespace; environment values anything): each
// would leave a file named pwned in the working directory if a shell
// evaluated it.
var hostileWords = []string{
	"$(touch pwned)",
	"`touch pwned`",
	"x;touch pwned",
	"x\ntouch pwned",
	"--priority=1",
	"$(touch${IFS}pwned)",
	"' \" && touch pwned",
	"",
}
