package plan

// Kernel is the narrow interface a pass talks to. Package kernel's netlink
// handle satisfies it, and so does package fakekernel's in-memory state.
type Kernel interface {
	// Snapshot reads links, addresses, rules (IPv4 and IPv6) and the routes
	// of the tables KeepTable keeps (rules first, then routes). TableNames
	// is left for the caller (it comes from files, not the kernel).
	Snapshot(tableBase uint32) (*State, error)
	// Apply carries out ops in order and returns one error per op, nil
	// where it was done. "Already there" on an add and "not there" on a
	// delete (EEXIST, ENOENT, ESRCH) and a vanished link (ENODEV) count as
	// done: the pass reads back and plans again until nothing is left.
	Apply(ops []Op) []error
}
