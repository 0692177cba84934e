// Command insertonly is the floor for symroute-sync's first pass: a Go process that does nothing
// but read an `ip -batch` file of "route add" lines and send the routes to the kernel over raw
// netlink, in batches of 128 requests per sendmsg with one ack per batch, as symroute-sync's
// apply does. The kernel's own work on every insert is in this number, so a first pass cannot
// beat it; the gap between the two (less a dump) is what the pass itself costs.
//
// It understands the lines the benchmark writes: "route add DST [via GW] [dev NAME]
// [proto kernel|N] [scope link|N] [src ADDR] [metric N] table T". It is run by the benchmark
// inside the benchmark's own network namespace.
package main
