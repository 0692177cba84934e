// Package testbed is what the end-to-end tests and the benchmarks share to
// build and run symroute in throwaway network namespaces: the binary built
// once as packaged, named namespaces created and removed, ip(8) always
// pointed at one (IP, IPOut) and the read-back of a link's addresses
// (Addrs4), programs run in the background and stopped (Proc), a cleanup
// registry for programs (tests use t.Cleanup), a private D-Bus system bus's
// configuration, the median the benchmarks report, and the packages'
// version (what the container image is tagged with). Nothing here touches
// the host's own network: every command names the namespace it acts in.
//
// What is here needs no *testing.T, so that bench can use it as well as the
// tests; the end-to-end tests' own harness, which fails its test on error,
// is e2e's bed_*_test.go, built on this.
package testbed
