package dispatch

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
)

// LockWait bounds how long a listener's pass waits for the lock. Hooks'
// passes take milliseconds; one holding the lock for longer is stuck, and
// waiting for it forever would wedge the listener (and its SIGTERM) with
// it. A pass that gives up is tried again after the next quiet window.
const LockWait = 10 * time.Second

// Serve is symroute-sync --listen: it runs a Listener on the system bus
// whose passes are --once's, on k, until SIGTERM or SIGINT. SIGHUP re-reads
// the configuration from args (the original command line); a bad one is
// logged and the old one kept. The log level (-v) is the start-up one.
func Serve(k plan.Kernel, args []string, cfg *config.Config, log *slog.Logger) {
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	l := New(Options{Log: log, Pass: func() error {
		c := cur.Load()
		_, err := pass.Once(k, pass.Options{Plan: c.Options, LockFile: c.LockFile, LockWait: LockWait, Trigger: "dbus", Log: log})
		return err
	}})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	done := make(chan struct{})
	go func() {
		l.Run(ctx)
		close(done)
	}()
	for {
		select {
		case <-done:
			return
		case <-hup:
			l.notify(reloading())
			c, err := config.Parse(args)
			if err != nil {
				log.Error("reload: bad configuration, keeping the old one", "err", err)
			} else {
				cur.Store(c)
				log.Info("reload: configuration read", "file", c.ConfigFile)
				l.kick(true)
			}
			l.notify("READY=1")
		}
	}
}
