// Package testbed is what the end-to-end tests and the benchmarks share to
// build and run symroute in throwaway network namespaces: the binary built
// once as packaged, named namespaces created and removed, ip(8) always
// pointed at one, a cleanup registry for programs (tests use t.Cleanup), a
// private D-Bus system bus's configuration, and the median the benchmarks
// report. Nothing here touches the host's own network: every command names
// the namespace it acts in.
package testbed
