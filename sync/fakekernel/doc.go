// Package fakekernel is an in-memory kernel for tests: it holds a
// plan.State and applies plans to it with the kernel's semantics for what
// matters to symroute (routes keyed by table, destination, tos and metric;
// EEXIST, ENOENT and ENODEV answered as the netlink adapter reports them),
// so the engine and its properties can be tested without root.
package fakekernel
