// Package e2e holds symroute-sync's real-kernel integration tests. It has no
// code of its own outside its tests.
//
// The tests build the binary once (TestMain) and run it as a fresh process
// inside throwaway network namespaces named symtest-RANDOM-ROLE, through
// `ip netns exec NS symroute-sync --once --lock-file TMP/sync.lock`, exactly
// as an administrator would, or drive it through the real network stacks
// and DHCP clients that call it. They then compare what the kernel reads
// back (`ip -4 rule`, `ip route show table N`, ...) with what the design
// says, using cmp.Diff on normalised lines.
//
// Nothing here touches the host's own network: every link, address, route,
// rule and sysctl is made inside a namespace a test created and removes in
// t.Cleanup, every ip(8) call names its namespace (`ip -n NS` or
// `ip netns exec NS`), pings go only between the tests' own namespaces, and
// the binary's lock file and config live in t.TempDir(). Whatever needs a
// different /etc, /run or /usr/sbin (the DHCP clients, the network stacks,
// the one test that needs its own rt_tables) gets it in a private mount
// namespace (unshare -m, / made rprivate first), so the host never sees it;
// the daemons talk on private D-Bus system buses.
//
// # The test bed
//
// The bed_*_test.go files are the harness every test builds on; what of it
// needs no *testing.T (the build, named namespaces, ip(8), the address
// read-back, background programs, the bus configuration) is
// internal/testbed, shared with bench.
//
//   - bed_binary_test.go: TestMain (testbed.Build), and the binary run in a
//     namespace, in the foreground or the background.
//   - bed_ns_test.go: namespaces (newNS, through testbed.AddNetns: the one
//     place they are made), veth pairs, ip(8), sysctls.
//   - bed_topology_test.go: the one network the tests build, the seed.
//   - bed_dhcp_test.go: dnsmasq on the seed's routers (startDnsmasq: the one
//     place a DHCP server is started), and the private root the DHCP
//     clients and their hooks run in.
//   - bed_stacks_test.go: NetworkManager and systemd-networkd, with their
//     dispatchers (testdata/KIND/start.sh, which share
//     testdata/stack-common.sh) or without.
//   - bed_daemons_test.go: every background program, started, stopped when
//     its test ends, and its output shown if the test failed.
//   - bed_readback_test.go: rules, routes, addresses, nftables, sysctls, as
//     comparable lines.
//   - bed_monitor_test.go: ip monitor, nft monitor and an rtnetlink monitor,
//     with markers that delimit what they saw while something ran.
//   - bed_traffic_test.go: ICMP echo, a TCP exchange, a UDP stream between
//     namespaces (sockets of the tests' own: minimal images lack ping(8)).
//   - bed_wait_test.go, bed_files_test.go: the waits (waitFor, eventually)
//     and the file writes and copies.
//
// The seed topology, built by newSeed (newDHCPNet builds the same with
// em1's and em2's addresses left to DHCP, served by R1 and R2):
//
//	CLIENT 172.31.1.2 --- 172.31.1.1 R1 10.0.0.1/16     --- em1 10.0.0.2/16    HOST
//	       172.31.2.2 --- 172.31.2.1 R2 192.168.0.1/24  --- em2 192.168.0.2/24 HOST
//
// HOST's main table has "default via 10.0.0.1 dev em1 metric 105" and
// "default via 192.168.0.1 dev em2 metric 106". R1 and R2 filter reverse
// paths strictly and hold 198.51.100.1 (remote) on lo; with CLIENT they
// forward and route everything else back to CLIENT, so a reply from
// 192.168.0.2 that leaves HOST by em1 is dropped by R1: symmetric routing is
// what makes CLIENT's ping to 192.168.0.2 work.
//
// # The tests, by what they prove
//
//   - mirror_*_test.go: what a pass makes (tables), how it follows the
//     kernel (changes) and what it never does (safety).
//   - ingress_*_test.go: --follow-ingress: replies by ingress link, and the
//     option's state; ingress_bed_test.go is their topology and readback.
//   - hooks_dhcp_*_test.go: the DHCP clients' hooks (dhclient, RHEL's
//     dhclient.d, dhcpcd, ifupdown; hostile input, a busy lock).
//   - hooks_dispatcher_*_test.go, hooks_scripts_test.go: NetworkManager's
//     and networkd's dispatcher scripts, driven by the real stacks and alone.
//   - listen_*_test.go: `symroute-sync --listen`, as a service and following
//     the real stacks.
//   - routers_*_test.go: a way out for a link whose default main never holds
//     (NetworkManager's never-default, networkd's UseGateway=no, dhcpcd's
//     nogateway, accept_ra_defrtr=0): its table's default via the router the
//     stack's lease or the link's advertisements name.
//   - reliability_*_test.go: convergence under churn, SIGKILL mid-apply,
//     make-before-break.
//   - readonly_test.go: the read-only modes without root.
//   - container_test.go: the image packaging/container/build.sh builds,
//     run by podman in a test's namespace (container_bed_test.go: a
//     podman whose configuration, store and run state are the test's, in
//     a private mount namespace that keeps them off the host's /run and
//     /var).
//
// A group's own harness is its *_bed_test.go.
//
// Privileged tests skip when not run as root, and fail instead when
// CI=true: a privileged test that skips under CI is a failure.
package e2e
