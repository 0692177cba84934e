// Package config turns symroute-sync's command line and config file into one
// typed Config, or a *UsageError (exit status 2) before anything is touched.
//
// Everything the binary is told goes through Parse, so "a bad flag or config
// value is an error before anything is touched" holds in one place: numbers,
// globs, route metrics and the table base are checked here (the table base
// with plan.Options.Validate, the planner's own rule), and every message
// names the flag (--priority 0: ...) or the file and line (FILE:3: ...) that
// has to change.
//
// The config file holds only the options (table-base, priority, exclude,
// include, set-route-metric, lock-file), one "key = value" per line, so an
// administrator can set what every hook, the timer and the listener use in
// one place; modes stay on the command line because they say what one run
// does. Flags win over the file: a scalar given on the command line replaces
// the file's, and a repeatable option given on the command line at all
// replaces the file's whole list, since merging lists would leave no way to
// drop a file entry. An empty value for a repeatable option ("exclude =" or
// --exclude=) gives it an explicitly empty list: "exclude nothing", which is
// how a host with veth uplinks turns the default exclude list off.
//
// The file decides which links root rewrites routes for, so it is refused
// unless it is a regular file owned by root (or the user running us) that
// neither group nor others can write, the rule sshd applies to its own
// configuration. A missing default file is fine (the defaults are the
// product); a missing file named with --config is a typo and an error.
//
// A hook passes its own arguments after "--" (--once --trigger nm -- eth0 up);
// they are kept verbatim in TriggerArgs and never parsed as flags, since an
// interface may be named "--priority=1". Positional arguments anywhere else
// are an error.
package config
