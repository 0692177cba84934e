// Package testns gives privileged tests a network namespace of their own, so
// that nothing they do to links, addresses, routes or rules can reach the
// host's network.
//
// New creates the namespace on a throwaway OS thread: the test's own threads
// never enter it, so a test that fails half way cannot leave a goroutine (and
// every later syscall on its thread) in the wrong namespace. The namespace
// lives as long as the returned handle, which cleanup closes; it has no name
// in /run/netns, so a crashed test leaves nothing behind.
//
// Commands run inside it through nsenter(1) with --net naming the handle
// under /proc/PID/fd: if the handle is not a namespace, nsenter fails and the
// command never runs in the host's namespace. Library calls run inside it
// through Do, or with netlink.NewHandleAt(ns).
//
// Tests that need root skip when not privileged, except under CI
// (CI=true), where a skipped privileged test would hide a failure: there
// they fail.
package testns
