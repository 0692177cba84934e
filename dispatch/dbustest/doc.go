// Package dbustest runs a private dbus-daemon for tests, configured like a
// system bus that lets anyone own any name and send any signal (as the
// project's testbed does), on a socket in a temporary directory. Nothing
// here ever talks to the host's own buses.
package dbustest
