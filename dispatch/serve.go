package dispatch

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// LockWait bounds how long a listener's pass waits for the lock. Hooks'
// passes take milliseconds; one holding the lock for longer is stuck, and
// waiting for it forever would wedge the listener (and its SIGTERM) with
// it. A pass that gives up is tried again after the next quiet window.
const LockWait = 10 * time.Second

// Serve is symroute-sync --listen: it runs a Listener with o (its Pass,
// Resync and Log; on the system bus) until SIGTERM or SIGINT. SIGHUP calls
// reload (re-reading the configuration Pass and Resync use): an error is
// logged and the old configuration kept; success kicks a pass at once.
func Serve(o Options, reload func() error) {
	l := New(o)
	log := l.log

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
			if err := reload(); err != nil {
				log.Error("reload: bad configuration, keeping the old one", "err", err)
			} else {
				l.kick(true)
			}
			l.notify("READY=1")
		}
	}
}
