// Package plan is symroute's pure planner: the kernel's state as plain data,
// the mirror that state should have (desired), the ordered operations that
// turn one into the other (diff), and the rendering of each operation as the
// ip(8) command that does the same (nft(8), sysctl(8) or conntrack(8) for
// the few operations of --follow-ingress, ingress.go).
//
// Nothing here talks to netlink or the operating system, so the whole of
// symroute's decision making is testable without root: the kernel adapter
// (package kernel) fills a State and carries out a Plan, the fake kernel
// (package fakekernel) does the same in memory.
package plan
