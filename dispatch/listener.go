package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/symroute/symroute/sync/pass"
)

// Defaults for Options.
const (
	// DefaultQuiet is long enough for the burst of signals a link coming
	// up or a renewal makes (tens of milliseconds) and short next to how
	// long a host waits for a working route anyway.
	DefaultQuiet = 400 * time.Millisecond
	// DefaultMaxDelay bounds how long a storm of signals delays its pass.
	DefaultMaxDelay = 5 * time.Second
)

// Triggers of the listener's passes, as their logs name them.
const (
	// TriggerBus: a signal, the start-up or a reload.
	TriggerBus = "dbus"
	// TriggerResync: the resync interval, with no signal since the last
	// pass.
	TriggerResync = "resync"
)

// Reconnection to a lost bus: quick at first (dbus-daemon restarting),
// backing off to minutes' worth of patience without spinning.
const (
	minBackoff     = 250 * time.Millisecond
	maxBackoff     = 15 * time.Second
	connectTimeout = 10 * time.Second
)

// Options configure a Listener.
type Options struct {
	// Pass runs one pass, trigger saying why for its log (TriggerBus or
	// TriggerResync); the listener calls it from one goroutine at a time.
	// Its errors are logged; pass.ErrLockBusy makes it retry later.
	Pass func(trigger string) error
	// Address is the bus to listen on; "" is the system bus
	// (DBUS_SYSTEM_BUS_ADDRESS, else the standard socket).
	Address string
	// Quiet and MaxDelay tune the coalescing (0: the defaults).
	Quiet, MaxDelay time.Duration
	// Resync, if set, says how long after a pass ends the next one runs
	// without a signal (0: never). It is asked again after every pass, so
	// a reload's new value holds from the pass the reload kicks.
	Resync func() time.Duration
	Log    *slog.Logger
}

// Listener turns D-Bus signals into passes.
type Listener struct {
	o     Options
	log   *slog.Logger
	kicks chan bool // true: urgent (start-up, reload)

	signals atomic.Uint64 // trusted signals, all told
	batch   atomic.Uint64 // trusted signals since the last pass started
	passes  atomic.Uint64 // passes finished
	dropped atomic.Uint64 // messages longer than MaxMessage, skipped
}

// Dropped is how many bus messages were skipped for their size.
func (l *Listener) Dropped() uint64 { return l.dropped.Load() }

// drop counts a message skipped for its size, and says so at debug level
// only: whoever sends them could otherwise fill the journal.
func (l *Listener) drop(size uint64) {
	l.dropped.Add(1)
	l.log.Debug("bus message skipped unread", "bytes", size, "max", MaxMessage)
}

// New returns a Listener; Run starts it.
func New(o Options) *Listener {
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// Buffered so the bus's reading goroutine never blocks on a kick; a
	// full buffer already holds the kicks a dropped one would add.
	return &Listener{o: o, log: o.Log, kicks: make(chan bool, 64)}
}

// Signals is how many trusted signals have kicked the listener so far.
func (l *Listener) Signals() uint64 { return l.signals.Load() }

// Passes is how many passes have finished so far.
func (l *Listener) Passes() uint64 { return l.passes.Load() }

// resync is the interval of the moment, 0 for none.
func (l *Listener) resync() time.Duration {
	if l.o.Resync == nil {
		return 0
	}
	return max(l.o.Resync(), 0)
}

func (l *Listener) kick(urgent bool) {
	select {
	case l.kicks <- urgent:
	default:
	}
}

// Run listens until ctx ends: one pass as soon as the first connection to
// the bus is tried (after subscribing, so that nothing between the pass's
// read of the kernel and the subscription is missed), then a pass per
// burst of signals. It tells systemd READY=1 after the first pass and
// STOPPING=1 when ctx ends, and waits for a running pass to finish.
func (l *Listener) Run(ctx context.Context) {
	busDone := make(chan struct{})
	go func() {
		defer close(busDone)
		l.bus(ctx)
	}()
	l.loop(ctx)
	<-busDone
}

// loop owns the coalescer. Its only timer exists while a pass is pending
// or, with a resync interval, until the next resync.
func (l *Listener) loop(ctx context.Context) {
	c := coalescer{quiet: l.o.Quiet, maxDelay: l.o.MaxDelay, every: l.resync()}
	var (
		timer   *time.Timer
		wake    <-chan time.Time
		timerAt time.Time
		ready   bool
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, wake = nil, nil
		}
	}
	done := make(chan error, 1)
	for {
		select {
		case <-ctx.Done():
			stopTimer()
			l.notify("STOPPING=1")
			if c.running {
				<-done
			}
			return
		case urgent := <-l.kicks:
			c.kick(time.Now(), urgent)
		case <-wake:
			timer, wake = nil, nil
		case err := <-done:
			c.done(time.Now())
			c.every = l.resync()
			if l.report(err) {
				c.kick(time.Now(), false)
			}
			if !ready {
				ready = true
				l.notify("READY=1")
			}
		}
		now := time.Now()
		if c.start(now) {
			stopTimer()
			n, trigger := l.batch.Swap(0), TriggerBus
			if c.resync {
				trigger = TriggerResync
			}
			go func() {
				t0 := time.Now()
				err := l.o.Pass(trigger)
				l.passes.Add(1)
				l.log.Debug("listener pass", "trigger", trigger, "signals", n, "took", time.Since(t0))
				done <- err
			}()
			continue
		}
		at, ok := c.due()
		switch {
		case !ok:
			stopTimer()
		case timer == nil || at.Before(timerAt):
			// A kick only moves the due time later, and a timer that
			// fires early just re-arms: no timer per signal of a burst.
			stopTimer()
			timer, timerAt = time.NewTimer(at.Sub(now)), at
			wake = timer.C
		}
	}
}

// report logs a pass's outcome and says whether to try again: only when
// the lock was busy, since the pass holding it may have read the kernel
// before the change that kicked us.
func (l *Listener) report(err error) (retry bool) {
	switch {
	case err == nil:
	case errors.Is(err, pass.ErrLockBusy):
		l.log.Warn("pass postponed: another pass holds the lock", "err", err)
		return true
	case errors.Is(err, pass.ErrPartial):
		l.log.Warn(err.Error())
	default:
		l.log.Error("pass failed", "err", err)
	}
	return false
}

func (l *Listener) notify(state string) {
	if err := notify(state); err != nil {
		l.log.Warn("tell systemd", "state", state, "err", err)
	}
}

// bus keeps one subscribed connection until ctx ends, reconnecting with
// backoff. An outage is logged once when it starts and once when it ends,
// not per retry. Every (re)connection kicks a pass: what changed while we
// were not listening is not replayed.
func (l *Listener) bus(ctx context.Context) {
	backoff := minBackoff
	first, down := true, false
	for ctx.Err() == nil {
		conn, cancel, err := l.subscribe(ctx)
		if err != nil {
			if !down {
				l.busDown(err)
				down = true
			}
			if first {
				l.kick(true) // the start-up pass does not wait for the bus
				first = false
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if down {
			l.log.Info("system bus is back; listening")
		} else {
			l.log.Info("listening for NetworkManager and systemd-networkd on the system bus")
		}
		l.kick(first)
		first, down, backoff = false, false, minBackoff
		select {
		case <-ctx.Done():
		case <-conn.Context().Done():
			l.log.Warn("lost the system bus; reconnecting")
			down = true
		}
		conn.Close()
		cancel()
	}
}

// busDown says, once per outage, that the bus cannot be reached, and what
// the listener does meanwhile: a container without the host's bus socket
// runs on its resync interval alone.
func (l *Listener) busDown(err error) {
	if every := l.resync(); every > 0 {
		l.log.Warn("system bus unavailable; running a pass every resync interval until it is back", "interval", every, "err", err)
		return
	}
	l.log.Warn("system bus unavailable; retrying until it is back", "err", err)
}

// subscribe connects, adds the match rules and reads the services' owners.
// The connection's context is cancelled when ctx ends (closing it) or when
// connecting takes longer than connectTimeout (a wedged bus must not hang
// the listener).
func (l *Listener) subscribe(ctx context.Context) (*dbus.Conn, context.CancelFunc, error) {
	cctx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(connectTimeout, cancel)
	h := &handler{l: l, owners: newOwners()}
	opts := []dbus.ConnOption{dbus.WithContext(cctx), dbus.WithSignalHandler(h)}
	conn, err := dialBus(l.o.Address, l.drop, opts...)
	if err == nil {
		l.log.Debug("connected to the bus", "name", conn.Names()[0])
		err = setup(cctx, conn, h.owners)
	}
	if !t.Stop() && err == nil {
		err = errors.New("timed out")
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		cancel()
		return nil, nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	return conn, cancel, nil
}

// setup adds the match rules, then asks who owns each service: in that
// order, so no owner change falls between the answer and the subscription.
func setup(ctx context.Context, conn *dbus.Conn, o *owners) error {
	for _, r := range matchRules() {
		if err := conn.AddMatchSignalContext(ctx, r...); err != nil {
			return fmt.Errorf("add match rule: %w", err)
		}
	}
	for _, s := range services {
		var owner string
		err := conn.BusObject().CallWithContext(ctx, busName+".GetNameOwner", 0, s).Store(&owner)
		var derr dbus.Error
		switch {
		case errors.As(err, &derr):
			owner = "" // NameHasNoOwner: the service is not running (yet)
		case err != nil:
			return fmt.Errorf("get owner of %s: %w", s, err)
		}
		o.answered(s, owner)
	}
	return nil
}

// handler receives one connection's signals on godbus's reading goroutine,
// in bus order (unlike godbus's default handler, which may reorder under
// load), so a NameOwnerChanged is always applied before the signals that
// followed it. It only classifies and kicks: it never blocks.
type handler struct {
	l      *Listener
	owners *owners
}

func (h *handler) DeliverSignal(_, _ string, sig *dbus.Signal) {
	log := h.l.log
	if name, owner, ok := nameOwnerChanged(sig); ok {
		if h.owners.changed(name, owner) {
			// Restarted or stopped: what it did meanwhile came from
			// a connection we did not trust.
			log.Info("service owner changed", "service", name, "owner", owner)
			h.l.kick(false)
		}
		return
	}
	f := classify(sig)
	if f == nil {
		log.Debug("signal ignored: not followed or malformed", "signal", sig.Name, "path", sig.Path, "sender", sig.Sender)
		return
	}
	if !h.owners.trusted(f.service, sig.Sender) {
		log.Debug("signal ignored: sender does not own the service's name", "signal", sig.Name, "sender", sig.Sender, "service", f.service)
		return
	}
	h.l.signals.Add(1)
	h.l.batch.Add(1)
	h.l.kick(false)
}
