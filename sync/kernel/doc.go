// Package kernel is symroute's only door to the kernel: a Handle reads a
// network namespace into a plan.State and carries out a plan's operations.
// It is the only package that imports netlink and nftables.
//
// --follow-ingress adds three doors, all netlink: symroute's own nftables
// table "inet symroute" through google/nftables (every request names that
// table, so no other is ever read or written; a write replaces the whole
// table in one transaction), the links' IPv4 src_valid_mark through
// RTM_GETLINK/RTM_SETLINK (IFLA_AF_SPEC, as /proc/sys may be read-only), and
// conntrack entries deleted by mark through ctnetlink (one flush request
// with a mark filter). The table is read back into its record (plan.Ingress)
// and compared, expression by expression, with what that record compiles
// to: anything else in it is drift, and the table is written anew. What the
// library decodes is what is compared, on both sides, because its decoder
// loses a little (a "ct set"'s source register).
//
// Links, addresses, rules, routes and IPv6 neighbours (only the entries of
// link-local routers are kept: the routers the links' advertisements name)
// are dumped, and all writes sent, over one raw NETLINK_ROUTE socket, because vishvananda/netlink both loses facts
// symroute needs and costs too much at the scale it must handle (100k
// routes in main and as many mirrored; 4096 addresses on 64 links, where
// its AddrList alone took longer than the kernel's dumps):
//
//   - The library's RuleList drops a rule's action and its l3mdev flag;
//     telling our rules from others needs every selector, so rules are
//     parsed against a whitelist: any attribute not known to be harmless
//     marks the rule as someone else's.
//   - RouteList materialises ~160 MB for 100k routes. Here main is dumped
//     alone (strict checking and RTA_TABLE, Linux 4.20+) and packed as its
//     messages arrive (plan.MainRoutes: 24 bytes a route, the rest of each
//     route interned); every other table a snapshot keeps
//     (plan.SnapshotTables: each link's, and those rules look up) is
//     dumped after it, one table a request, and matched to main's routes
//     as it streams, a Copy of 8 bytes where it equals one. Older kernels
//     answer one dump of every table: main is packed as it comes, and the
//     kept messages of the other tables are held until it ends.
//   - One request per round trip costs several times the kernel's own
//     work. Apply sends batches of requests per sendmsg, each with its own
//     sequence number; failures are answered whatever the flags, so only
//     the last request of a batch asks for an ack (NLM_F_ACK), and errors
//     are mapped back to their ops by sequence number.
//     rtnetlink handles a batch synchronously inside sendmsg, so all its
//     acks are queued at once: the receive buffer is raised to hold them.
//
// Kernel quirks this package absorbs:
//
//   - Tables from 256 on exist only in RTA_TABLE/FRA_TABLE; the 8-bit
//     header field says 252 (compat) on dumps and must be 0 on writes.
//   - IPv6 reports blackhole, unreachable, prohibit and throw routes on lo;
//     they are read with no link, and written with none.
//   - A multipath route's nexthops flagged linkdown or dead are dropped
//     from what is read (the kernel refuses to add a route through a down
//     link); a route left with one nexthop is read as a plain route, the
//     shape ip(8) would add it in. Only when every nexthop is down is the
//     route Linkdown.
//   - An IPv6 delete that names a gateway removes only that nexthop; a
//     multipath route is deleted by its key alone. An IPv4 delete names no
//     nexthop at all: the kernel matches a named gateway against a route's
//     first nexthop only, and a copy whose first nexthop is down reads (and
//     would be deleted) as a plain route via its second.
//   - NLM_F_DUMP_INTR marks a dump that raced a change: the whole snapshot
//     is read again, a few times at most.
//   - EEXIST on add, ENOENT/ESRCH on delete and ENODEV anywhere mean the
//     op's goal already holds (or its link is gone): the pass reads back
//     and plans again, which is what makes treating them as done safe.
package kernel
