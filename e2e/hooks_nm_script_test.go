package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNMDispatcherScript runs nm-dispatcher/90-symroute as packaged the way
// nm-dispatcher does (IFACE ACTION as arguments, NetworkManager's
// variables in the environment), with hostile words for both: it hands
// symroute-sync exactly its two arguments after `--`, evaluates nothing,
// and exits 0 even when symroute-sync fails.
func TestNMDispatcherScript(t *testing.T) {
	requireRoot(t)
	hook := filepath.Join("..", "nm-dispatcher", "90-symroute")
	for _, h := range hostileWords {
		for _, tc := range [][2]string{{h, "up"}, {"em1", h}} {
			env := []string{"DEVICE_IFACE=" + h, "CONNECTION_ID=" + h, "IP4_ADDRESS_0=" + h, "DHCP4_ROUTERS=" + h}
			for _, exit := range []int{0, 1, 2} {
				code, got := runHookScript(t, hook, exit, env, tc[0], tc[1])
				want := []string{"--once", "--trigger", "nm", "--", tc[0], tc[1]}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("90-symroute %q %q: symroute-sync's arguments (-want +got):\n%s", tc[0], tc[1], diff)
				}
				if code != 0 {
					t.Errorf("90-symroute %q %q with symroute-sync exiting %d: exit %d, want 0", tc[0], tc[1], exit, code)
				}
			}
		}
	}
	assertNotPwned(t)
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
