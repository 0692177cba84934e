// Package plan is symroute's pure planner: the kernel's state as plain data,
// the mirror that state should have (desired), the ordered operations that
// turn one into the other (diff), and the rendering of each operation as the
// ip(8) command that does the same (nft(8), sysctl(8) or conntrack(8) for
// the few operations of --follow-ingress, ingress.go).
//
// The reports that read a plan (--status, --explain) are package report's;
// they read a Mirror through read.go's small API. The warnings are data
// (warnkinds.go: one table of checks, each a stable ID), and how things are
// spelled for people and for ip(8) is spell.go's.
//
// Nothing here talks to netlink or the operating system, so the whole of
// symroute's decision making is testable without root: the kernel adapter
// (package kernel) fills a State and carries out a Plan, the fake kernel
// (package fakekernel) does the same in memory.
package plan
