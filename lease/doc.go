// Package lease keeps the one fact a hook may hand to later passes: the
// router of a DHCP lease whose default route never reached the main table.
//
// Stock Debian dhclient-script adds a second interface's default route
// without a metric and fails with "File exists", so main never holds it
// and there is nothing to mirror. The dhclient hook records the lease's
// router here (validated, with the lease's expiry); every later pass, the
// timer's included, gives that interface's table a default via it while
// the record is live and main has no default through the interface.
// Records live under /run (gone at reboot, like the leases' routes), one
// small file per interface, written atomically.
package lease
