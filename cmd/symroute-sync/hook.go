package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/hooks"
	"github.com/symroute/symroute/lease"
)

// exit and hookDeadline are variables for the tests.
var (
	exit         = os.Exit
	hookDeadline = hooks.Deadline
)

// hook decides a hook's call (--trigger) before anything is opened, so an
// ignored action costs no netlink socket: nil where no pass is to run (or
// the input is malformed: exit 0, for a hook must never fail the stack
// that called it). Otherwise it records the lease's router and arms the
// hook's deadline, which stop disarms.
func hook(cfg *config.Config, log *slog.Logger) (t *hooks.Trigger, stop func()) {
	d := hooks.Decide(cfg.Trigger, cfg.TriggerArgs, os.Environ(), time.Now())
	d.Log(log)
	if !d.Pass {
		return nil, nil
	}
	// A hook returns to the stack that called it in bounded time, whatever
	// the pass is doing: past the deadline the rest is the next pass's.
	deadline := time.AfterFunc(hookDeadline, func() {
		log.Warn("hook's pass still running at its deadline: leaving the rest to the next pass", "trigger", d.String(), "deadline", hookDeadline)
		exit(exitOK)
	})
	// Recorded before the lock: if this pass gives up waiting, the next
	// one (the timer's at worst) still reads the record.
	if !cfg.DryRun {
		if err := d.ApplyLease(lease.DefaultDir); err != nil {
			log.Error("lease record", "trigger", d.String(), "err", err)
		}
	}
	return &d, func() { deadline.Stop() }
}
