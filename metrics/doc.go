// Package metrics writes what a run of symroute-sync found and did as a
// Prometheus text file for node_exporter's textfile collector: gauges only,
// since a one-shot program keeps no counters, written whole (write, fsync,
// rename) and readable by the collector, which does not run as root. It is
// written only into a directory reached through no symbolic link that no
// one but the running user may write: the collector's parent directory is
// another user's on Debian.
//
// The file holds two kinds of gauges: those of the last look at the kernel
// (links, rules, routes, pending changes), which --once and --check both
// write, and those of the last pass (its result, duration, changes, time),
// which only a pass writes: --check carries them over from the file as it
// was, so that checking an out-of-sync host never reads as a failed pass.
package metrics
