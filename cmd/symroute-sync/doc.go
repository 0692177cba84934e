// Command symroute-sync makes a multi-homed host's routing symmetric: each
// run mirrors every interface's main-table routes into a table of its own
// and adds a rule per local address to use it, applying only the
// difference. It is stateless: hooks, a timer, an administrator or the
// listener may run it at any time. This package is only the command line:
// flags and config (package config), logging and exit codes; the pass is
// in sync/pass.
package main
