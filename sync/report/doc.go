// Package report holds what symroute tells an administrator about a plan,
// apart from the plan itself: --status's summary of each link (Status,
// IngressSummary) and --explain's account of a flow (Explain, and Lookup,
// which asks the kernel's own route lookup through plan.Looker, an
// interface the netlink handle satisfies and a test fakes).
//
// It reads a plan.Mirror only through the planner's small read API
// (plan/read.go: whose a rule is, what a table should hold and why a
// route is in it), never its private fields, and imports nothing of
// symroute's but the planner: no netlink, no operating system. The
// command (cmd/symroute-sync) renders what it returns, for people or as
// JSON.
package report
