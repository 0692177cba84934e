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
//
// A State holds the main table packed (mainroutes.go: a route's
// destination in 24 bytes, the rest of it interned), the routes of other
// tables that equal a main route as Copies of it (copies.go), and the
// planner refers to main's routes by index, materialising one where it is
// read: a host with full tables holds 1M of them.
package plan
