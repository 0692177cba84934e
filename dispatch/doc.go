// Package dispatch is symroute-sync --listen: a small resident process that
// turns NetworkManager's and systemd-networkd's own D-Bus signals into
// passes. It exists for what hooks miss (NetworkManager 1.42 and
// networkd-dispatcher run no hook on a DHCP renewal, even one that changes
// the router, while NetworkManager's IP4Config properties do change on the
// bus) and for hosts with no dispatcher at all.
//
// A signal carries no data the pass uses: it is only a kick. Kicks are
// coalesced (coalescer) so that the burst a link coming up produces costs
// one pass, and the pass is the same one --once runs, in process, under the
// same lock. Signals are trusted only from the current unique owner of the
// service's well-known name, tracked through NameOwnerChanged, because on
// the system bus any peer may emit a signal with any path and interface.
//
// Idle, the listener does nothing: it blocks reading the bus socket, and a
// timer exists only while a kick is pending or the bus is being
// reconnected. With a resync interval (--resync-interval) it also runs a
// pass that long after the last one: a pod has no systemd timer as a safety
// net, and where no bus can be reached at all (a container without the
// host's socket) the interval is all it runs on, while it keeps trying the
// bus. Package dbustest runs a private dbus-daemon for the tests.
package dispatch
