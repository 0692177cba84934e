// Package pass runs one symroute pass: take the lock, snapshot the kernel,
// plan, apply, and read back until a fresh plan is empty.
//
// Converging on an empty plan, rather than trusting each operation's
// answer, is what makes it safe to count EEXIST, ENOENT and ENODEV as done
// and what absorbs races: a link that vanishes mid-pass, a DHCP client
// that changes main while we copy it. The pass is stateless: every run
// reads everything afresh, so any trigger may run it at any time.
package pass
