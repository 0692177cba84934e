// Command dumponly is the floor for symroute-sync's no-op pass: a Go process that does nothing
// but ask the kernel for its IPv4 and IPv6 routes of every table over raw netlink, and throw the
// answer away. Whatever a Go binary costs to start and to read two route dumps is in this number,
// so symroute-sync cannot beat it; the gap between the two is what the pass itself costs.
//
// It is run by the benchmark (go run ./bench) inside the benchmark's own network namespace; on
// its own it only reads, so it is harmless anywhere.
package main
