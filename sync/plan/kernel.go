package plan

// Kernel is the narrow interface a pass talks to. Package kernel's netlink
// handle satisfies it, and so does package fakekernel's in-memory state.
type Kernel interface {
	// Snapshot reads links, addresses, rules (IPv4 and IPv6), the routes
	// of the tables KeepTable keeps (rules first, then routes) and
	// symroute's nftables table. TableNames is left for the caller (it
	// comes from files, not the kernel).
	Snapshot(o ReadOptions) (*State, error)
	// Apply carries out ops in order and returns one error per op, nil
	// where it was done. "Already there" on an add and "not there" on a
	// delete (EEXIST, ENOENT, ESRCH) and a vanished link (ENODEV) count as
	// done: the pass reads back and plans again until nothing is left.
	// An IngressWrite or IngressDelete after a ConntrackForget, or a
	// SrcValidMarkSet to 0, that failed is not done: the table keeps the
	// record of what is left to undo (a value handed out while connections
	// still carry it would route them by another link's table).
	Apply(ops []Op) []error
}
