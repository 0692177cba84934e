package e2e

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNetworkdDispatcherScript runs networkd-dispatcher/50-symroute as
// packaged the way networkd-dispatcher does (no arguments, the link's
// state in the environment), with hostile words in every variable
// networkd-dispatcher sets: it calls symroute-sync with fixed arguments,
// evaluates nothing, and exits 0 even when symroute-sync fails.
func TestNetworkdDispatcherScript(t *testing.T) {
	requireRoot(t)
	hook := filepath.Join("..", "networkd-dispatcher", "50-symroute")
	for _, h := range hostileWords {
		env := []string{"IFACE=" + h, "STATE=" + h, "OperationalState=" + h, "AdministrativeState=" + h,
			"ADDR=" + h, "IP_ADDRS=" + h, "IP6_ADDRS=" + h, "ESSID=" + h, "json=" + h}
		for _, exit := range []int{0, 1, 2} {
			code, got := runHookScript(t, hook, exit, env)
			if diff := cmp.Diff([]string{"--once", "--trigger", "networkd"}, got); diff != "" {
				t.Errorf("50-symroute with %q in the environment: symroute-sync's arguments (-want +got):\n%s", h, diff)
			}
			if code != 0 {
				t.Errorf("50-symroute with symroute-sync exiting %d: exit %d, want 0", exit, code)
			}
		}
	}
	assertNotPwned(t)
}
