package e2e

// The test bed's waits: every wait in these tests is waitFor or
// eventually, with one of the timeouts below. The kernel and the daemons
// are asynchronous, and a generous timeout costs nothing when things go
// right. In e2e rather than internal/testbed: a wait fails its test.

import (
	"testing"
	"time"
)

// pollTimeout is for the kernel: namespaces, links and carriers come up
// asynchronously; pollInterval is how often every wait looks.
const pollTimeout, pollInterval = 15 * time.Second, 20 * time.Millisecond

// daemonTimeout is for what real daemons do: DHCP (a renewal comes ~60 s
// after a bind: dnsmasq's shortest lease is 2 min), starting, link states,
// running their hooks.
const daemonTimeout = 90 * time.Second

// dhcpHookTimeout bounds the wait for what one DHCP hook call must have
// done: generous next to the milliseconds it takes, and short of the
// renewals, whose hooks run passes of their own and would otherwise mend
// the state for a hook that did nothing.
const dhcpHookTimeout = 30 * time.Second

// eventually polls cond until it returns nil or pollTimeout passes, and fails
// t with cond's last error.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	waitFor(t, what, pollTimeout, cond)
}

// waitFor polls cond until it returns nil or timeout passes, and fails t
// with cond's last error.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
