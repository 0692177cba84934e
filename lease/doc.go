// Package lease keeps the one fact a hook may hand to later passes: the
// router of a DHCP lease whose default route never reached the main table.
//
// Stock Debian dhclient-script adds a second interface's default route
// without a metric and fails with "File exists"; dhcpcd's nogateway and
// NetworkManager's never-default keep it out of main on purpose. The
// dhclient, dhcpcd and NetworkManager hooks record the lease's router here
// (validated, with the lease's expiry, and, for dhcpcd and NetworkManager,
// the lease's address and the stack's name); every later pass, the timer's
// included, gives that interface's table a default via it while the record
// is live and main has no default through the interface. A record with an
// address lives while the address is on the interface (a renewal no hook
// sees keeps it), one without until its expiry. Records live under /run
// (gone at reboot, like the leases' routes), one small file per interface,
// written atomically.
//
// It also reads RFC 3442 classless static routes and router lists as each
// client renders them (ClasslessDefault, FirstRouter), for the hooks and
// for the passes that read the stacks' own lease state.
package lease
