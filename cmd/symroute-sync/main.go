package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/dispatch"
	"github.com/symroute/symroute/hooks"
	"github.com/symroute/symroute/sync/kernel"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// Exit codes, as documented in the README and the man page.
const (
	exitOK      = 0
	exitFailed  = 1 // failed, or partial (a clashing link was skipped)
	exitUsage   = 2 // bad flag or config: nothing was touched
	exitDrifted = 3 // --check found the kernel out of sync
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "symroute-sync: %v\n", err)
		fmt.Fprintln(stderr, "Try 'symroute-sync --help'.")
		return exitUsage
	}
	if cfg.Help {
		fmt.Fprint(stdout, config.Usage())
		return exitOK
	}
	if cfg.Version {
		fmt.Fprintf(stdout, "symroute-sync %s (rule protocol %d)\n", version, plan.Protocol)
		return exitOK
	}
	log := newLogger(stderr, cfg.Verbose)

	// A pass run by hand, or by the timer, logs trigger=manual; a hook's
	// names the hook, and waits a bounded time for the lock.
	trigger, lockWait := "manual", time.Duration(0)
	if cfg.Trigger != "" {
		t, stop := hook(cfg, log)
		if t == nil {
			return exitOK
		}
		defer stop()
		trigger, lockWait = t.String(), hooks.LockWait
	}

	k, err := kernel.Open(kernel.Options{})
	if err != nil {
		log.Error("open netlink", "err", err)
		return exitFailed
	}
	defer k.Close()
	po := passOptions(cfg, trigger, lockWait, log)

	switch {
	case cfg.DryRun:
		return dryRun(k, po, stdout, log)
	case cfg.Mode == config.ModeCheck:
		return check(k, po, cfg.MetricsFile, stdout, log)
	case cfg.Mode == config.ModeExplain:
		return explain(k, k, po, cfg.Explain, cfg.JSON, stdout, log)
	case cfg.Mode == config.ModeStatus:
		return status(k, po, cfg.JSON, stdout, log)
	case cfg.Mode == config.ModeOnce:
		return once(k, po, cfg.MetricsFile, log)
	case cfg.Mode == config.ModeFlush:
		return once(k, po, "", log)
	case cfg.Mode == config.ModeListen:
		listen(k, args, cfg, log)
		return exitOK
	}
	return exitUsage // unreachable: config.Parse accepts no command line without a mode
}

// listen runs the D-Bus listener until SIGTERM/SIGINT: its passes are
// --once's with the configuration of the moment, and so is its resync
// interval, which SIGHUP re-reads from the original command line (a bad
// one keeps the old).
func listen(k plan.Kernel, args []string, cfg *config.Config, log *slog.Logger) {
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	pass1 := func(trigger string) error {
		c := cur.Load()
		po := passOptions(c, trigger, dispatch.LockWait, log)
		t0 := time.Now()
		res, err := pass.Once(k, po)
		pass.WritePassMetrics(k, po, c.MetricsFile, version, t0, res, err)
		return err
	}
	resync := func() time.Duration { return cur.Load().ResyncInterval }
	dispatch.Serve(dispatch.Options{Pass: pass1, Resync: resync, Log: log}, func() error {
		c, err := config.Parse(args)
		if err != nil {
			return err
		}
		cur.Store(c)
		log.Info("reload: configuration read", "file", c.ConfigFile)
		return nil
	})
}

// passOptions are a pass's options, from the configuration of the moment,
// for what triggered it, waiting up to lockWait for another pass's lock
// (0: as long as it takes).
func passOptions(c *config.Config, trigger string, lockWait time.Duration, log *slog.Logger) pass.Options {
	return pass.Options{Plan: c.Options, LockFile: c.LockFile, LockWait: lockWait, Trigger: trigger, Log: log}
}

// newLogger logs to stderr; under journald (JOURNAL_STREAM set) without
// timestamps, which the journal adds itself.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// once runs a pass; with metricsFile, it writes its gauges after.
func once(k plan.Kernel, po pass.Options, metricsFile string, log *slog.Logger) int {
	t0 := time.Now()
	res, err := pass.Once(k, po)
	if !errors.Is(err, pass.ErrLockBusy) {
		pass.WritePassMetrics(k, po, metricsFile, version, t0, res, err)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, pass.ErrPartial):
		log.Warn(err.Error())
		return exitFailed
	case errors.Is(err, pass.ErrLockBusy):
		// Only a hook's pass waits a bounded time. The pass holding the
		// lock, or the next trigger (the timer at worst), covers this one.
		log.Info("another pass holds the lock: leaving this trigger to it", "trigger", po.Trigger, "waited", po.LockWait)
		return exitOK
	default:
		log.Error("pass failed", "err", err)
		return exitFailed
	}
}

func computeOrLog(k plan.Kernel, po pass.Options, log *slog.Logger) (*plan.State, *plan.Mirror, plan.Plan, bool) {
	st, m, p, err := pass.Plan(k, po)
	if err != nil {
		log.Error("plan", "err", err)
		return nil, nil, p, false
	}
	pass.LogFindings(log, p)
	return st, m, p, true
}

func printPlan(w io.Writer, st *plan.State, p plan.Plan) {
	rn := plan.NewRenderer(st)
	for _, op := range p.Ops {
		fmt.Fprintln(w, rn.Render(op))
	}
}

func dryRun(k plan.Kernel, po pass.Options, stdout io.Writer, log *slog.Logger) int {
	st, _, p, ok := computeOrLog(k, po, log)
	if !ok {
		return exitFailed
	}
	printPlan(stdout, st, p)
	return exitOK
}

// check exits 3 and prints the plan if the kernel is out of sync; with
// metricsFile, it writes what it saw, keeping the last pass's gauges.
func check(k plan.Kernel, po pass.Options, metricsFile string, stdout io.Writer, log *slog.Logger) int {
	st, m, p, ok := computeOrLog(k, po, log)
	if ok && metricsFile != "" {
		pass.WriteCheckMetrics(metricsFile, version, pass.Gauges(st, m, p, po.Plan), log)
	}
	switch {
	case !ok:
		return exitFailed
	case len(p.Ops) > 0:
		printPlan(stdout, st, p)
		return exitDrifted
	case p.Partial():
		return exitFailed
	}
	return exitOK
}
