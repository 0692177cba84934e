// Package e2e holds symroute-sync's real-kernel integration tests. It has no
// code of its own outside its tests.
//
// The tests build the binary once (TestMain) and run it as a fresh process
// inside throwaway network namespaces named symtest-RANDOM-ROLE, through
// `ip netns exec NS symroute-sync --once --lock-file TMP/sync.lock`, exactly
// as an administrator would. They then compare what the kernel reads back
// (`ip -4 rule`, `ip route show table N`, ...) with what the design says,
// using cmp.Diff on normalised lines.
//
// Nothing here touches the host's own network: every link, address, route,
// rule and sysctl is made inside a namespace a test created and removes in
// t.Cleanup, every ip(8) call names its namespace (`ip -n NS` or
// `ip netns exec NS`), pings go only between the tests' own namespaces, and
// the binary's lock file and config live in t.TempDir(). The one test that
// needs a different /etc/iproute2 bind-mounts it inside a private mount
// namespace (unshare -m, / made rprivate first), so the host never sees it.
//
// The seed topology, built by newSeed:
//
//	CLIENT 172.31.1.2 --- 172.31.1.1 R1 10.0.0.1/16     --- em1 10.0.0.2/16    HOST
//	       172.31.2.2 --- 172.31.2.1 R2 192.168.0.1/24  --- em2 192.168.0.2/24 HOST
//
// HOST's main table has "default via 10.0.0.1 dev em1 metric 105" and
// "default via 192.168.0.1 dev em2 metric 106". R1 and R2 forward with strict
// reverse-path filtering and route everything else back to CLIENT, so a reply
// from 192.168.0.2 that leaves HOST by em1 is dropped by R1: symmetric
// routing is what makes CLIENT's ping to 192.168.0.2 work.
//
// Privileged tests skip when not run as root, and fail instead when
// CI=true: a privileged test that skips under CI is a failure.
//
// The pings use a small ICMP echo sender of the tests' own (a raw socket
// opened inside the namespace) rather than ping(8), which minimal images lack.
package e2e
