// Command listen benchmarks symroute-sync --listen, the resident D-Bus
// listener, on a small host it builds in a throwaway network namespace:
//
//	sudo go run ./bench/listen                 # builds ./cmd/symroute-sync; about 1.5 minutes
//	sudo go run ./bench/listen -bin ./symroute-sync -idle 60s -runs 11
//
// It starts a private dbus-daemon (its config and socket in a temp dir),
// plays NetworkManager on it (owns the name, emits signals), runs the
// listener in the namespace with DBUS_SYSTEM_BUS_ADDRESS pointing at that
// bus, and prints, with the targets:
//
//   - idle RSS: VmRSS of the settled listener (target <= 12 MiB), and again
//     after the burst and latency runs;
//   - CPU time (utime+stime of all its threads) and context switches over
//     -idle seconds with nothing happening (target ~0: the Go runtime's own
//     housekeeping only);
//   - passes caused by a burst of 1000 signals emitted back to back (target
//     <= 3), counted from the listener's debug log, whose pass lines also
//     sum the signals they absorbed (all 1000 must be there);
//   - latency from a signal to converged kernel state: the benchmark adds an
//     address to em2, emits one signal, and polls the namespace's rules over
//     netlink every millisecond until the address's rule is there; median
//     of -runs (target: within the quiet window plus one pass).
//
// The namespace (symroute-bench-listen-PID, with a peer holding the far
// ends of the uplinks) and the bus are removed at exit, on error and on
// SIGINT/SIGTERM. The host's own network and system bus are never touched.
package main
