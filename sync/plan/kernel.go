package plan

import "net/netip"

// Kernel is the narrow interface a pass talks to. Package kernel's netlink
// handle satisfies it, and so does package fakekernel's in-memory state.
type Kernel interface {
	// Snapshot reads links, addresses, rules (IPv4 and IPv6), the routes
	// of main and the tables SnapshotTables keeps (rules first, then routes) and
	// symroute's nftables table. TableNames is left for the caller (it
	// comes from files, not the kernel).
	Snapshot(o ReadOptions) (*State, error)
	// Apply carries out ops in order and returns the errors of those not
	// done, by index (none: nil): one error per op, nil or not, was 16 MB
	// for a first pass of 1M routes. "Already there" on an add and "not there" on a
	// delete (EEXIST, ENOENT, ESRCH) and a vanished link (ENODEV) count as
	// done: the pass reads back and plans again until nothing is left.
	// An IngressWrite or IngressDelete after a ConntrackForget, or a
	// SrcValidMarkSet to 0, that failed is not done: the table keeps the
	// record of what is left to undo (a value handed out while connections
	// still carry it would route them by another link's table).
	Apply(ops []Op) map[int]error
}

// Flow is what --explain asks about: a packet to Dst, from Src (zero: the
// kernel picks the source), arriving on link Iif (0: sent by this host),
// sent by a socket bound to link Oif (0: none), carrying firewall mark
// Mark.
type Flow struct {
	Dst, Src netip.Addr
	Iif, Oif int
	Mark     uint32
}

// Looker is the kernel's own route lookup (RTM_GETROUTE): which route a
// flow takes, its table included. --explain asks it, then the planner
// says why (Explain).
type Looker interface {
	Lookup(f Flow) (Route, error)
}

// Watcher is what a Kernel may offer besides: a watch on the kernel's
// changes. A pass that watched from before its snapshot to after its apply,
// and saw nothing but its own writes, knows the kernel is now what it
// planned, and skips the read-back round that would tell it so.
type Watcher interface {
	Watch() (Watch, error)
}

// Watch is a running watch.
type Watch interface {
	// Foreign reports whether anything changed since the watch began that
	// ops, the pass's own writes, do not explain: a link, an address, a
	// route or rule no op names, or changes lost to an overflow. It may be
	// asked once.
	Foreign(ops []Op) bool
	Close() error
}
