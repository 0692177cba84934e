// Command bench times symroute-sync against iproute2 doing the nearest equivalent work, on
// hosts it builds itself in throwaway network namespaces, and prints one table:
//
//	sudo go run ./bench                  # builds ./cmd/symroute-sync, about 1-2 minutes on 2 cores
//	sudo go run ./bench -bin ./symroute-sync -runs 41 -big-runs 11 -routes 100000 -scenarios 1,2,3
//	sudo go run ./bench -million -scenarios 2,3,4   # the 1M scale
//
// Scenarios and their targets (the README's "Benchmark" section):
//
//  1. No-op pass on a small host (em1 10.0.0.2/16 via 10.0.0.1 metric 105, em2 192.168.0.2/24
//     via 192.168.0.1 metric 106, IPv6 on both, about 20 main routes), already synced:
//     `symroute-sync --once` against one `ip route show table all`. Target: ratio <= 2.0.
//     Row 1f is the floor: bench/dumponly, a Go process that only dumps IPv4 and IPv6 routes
//     as a pass asks for them (links first, then main and table 1000+ifindex of every link, one
//     table a request, where the kernel filters dumps by table: Linux 4.20 and newer; one dump
//     of every table elsewhere), and keeps nothing (the issue measured 1.4-1.8 of ip for it).
//  2. No-op pass with -routes main routes (half /24s via em1's gateway, half /32s via em2's),
//     after one pass mirrored them, against `ip route show table all` (which then lists main
//     and both mirrors). Target: ratio <= 0.5 and peak RSS <= 64 MiB (128 MiB at 1M, as for
//     every pass). Row 2f is its floor; row 2w the floor as issue 21 measured it (bench/dumponly
//     -whole: one dump of every table a family, as passes read before they asked table by
//     table), timed in the same series, so that ratios before and after compare.
//  3. First pass mirroring those routes into empty tables against `ip -batch` adding the same
//     routes into tables 1000+ifindex. Both sides are reset between runs, untimed
//     (symroute-sync --flush; ip route flush table N) and checked: tables empty before, and
//     after each run exactly what the first pass mirrored (ours) or the batch holds (ip).
//     Row 3f is the insert floor: bench/insertonly sends the same routes over raw netlink in
//     batches of 128, one ack a batch, nothing else. Target: 3 <= 1.25 x (2f + 3f), peak RSS
//     as for scenario 2 (issue 11; the issue-2 target 0.3 x ip -batch is printed too, and is below
//     what the inserts alone cost on this kernel).
//  4. A pass after one main route changed (em1's first route, its gateway replaced in place,
//     untimed, before every run), against row 2's no-op pass; after every run the link's table
//     is checked to hold the change. Target: ratio <= 1.1.
//  5. No-op pass on a host of 64 veth links with 64 addresses each (4096 rules), against
//     row 5f: bench/dumponly -all, every dump a pass makes (links, addresses, rules, routes).
//     Target: ratio <= 1.3.
//
// Rows 2/2f and 3/(2f+3f) are the issue-11 ratios against the floors (targets 1.3 and 1.25).
// With -million, scenarios 2-4 also run at 1,000,000 main routes (em1's /32s past the usual
// count): minutes, and a few GB of kernel memory.
//
// How it measures, and why:
//
//   - Both sides are fresh processes, timed from fork to reaped exit (wall clock), stdout to
//     /dev/null, each warmed up once, and alternated run by run so load drift hits both (a
//     no-op row and its floor row come from one series: ours, ip, dump-only in turn, so they
//     share the reference samples); the median is printed, and the highest ru_maxrss of the
//     series as peak RSS.
//   - Children run inside the namespace without `ip netns exec` (which would add an exec and a
//     mount-namespace setup to both sides and pull every ratio towards 1): a goroutine locks its
//     OS thread, setns(2)es it into the namespace and starts the children from there, because Go
//     forks from the calling thread and the child inherits that thread's namespace. Before any
//     child starts, the thread's namespace is checked against the target, and at start a child
//     proves it: it reads its own /proc/self/ns/net and sees em1 and em2. The thread is never
//     unlocked, so the runtime retires it rather than reuse it outside.
//   - Linux charges the forking parent's resident memory to a child's ru_maxrss at exec (Go
//     forks with CLONE_VM), so the benchmark keeps its own memory small (batch files and route
//     listings are streamed) and prints what /bin/true reports from it: RSS values near that
//     floor are the parent, not the child.
//   - The no-op series run under `ip monitor route rule`: a pass on a synced host must make no
//     netlink write, and any change seen is printed as a note.
//
// Every link, address, route and rule it makes is inside namespaces named
// symroute-bench-PID-{small,big}[-peer] (the peers hold the far ends of the veth uplinks, so the
// links have carrier); they are removed at exit, on error and on SIGINT/SIGTERM/SIGHUP. The
// host's own network is never touched. If ./cmd/symroute-sync does not build, the reference side
// is still timed and printed, and the command exits 1.
package main
