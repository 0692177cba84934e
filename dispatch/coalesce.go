package dispatch

import "time"

// coalescer decides when kicks become passes. It is pure state, driven by
// the listener's loop with the current time, so tests can step it with a
// fake clock.
//
//   - A pass is due a quiet window after the last kick: a link coming up
//     emits dozens of signals within milliseconds, and one pass after them
//     sees their sum.
//   - It is due at most maxDelay after the first pending kick, so a storm
//     that never goes quiet still gets passes at a bounded interval.
//   - Kicks that arrive during a pass make exactly one more pass after it:
//     the running pass may have read the kernel before their change.
type coalescer struct {
	quiet, maxDelay time.Duration

	pending bool // a kick has come since the last pass started
	running bool
	urgent  bool      // the pending pass is due at once (start-up, reload)
	first   time.Time // first and last kick since the last pass started
	last    time.Time
}

// kick records a kick at now; urgent ones skip the quiet window.
func (c *coalescer) kick(now time.Time, urgent bool) {
	if !c.pending {
		c.pending, c.first = true, now
	}
	c.last = now
	c.urgent = c.urgent || urgent
}

// due says when the pending pass should start; ok is false when nothing is
// pending or a pass is running (its end decides again), which is when the
// listener keeps no timer at all.
func (c *coalescer) due() (at time.Time, ok bool) {
	if !c.pending || c.running {
		return time.Time{}, false
	}
	if c.urgent {
		return c.first, true
	}
	at = c.last.Add(c.quiet)
	if limit := c.first.Add(c.maxDelay); limit.Before(at) {
		at = limit
	}
	return at, true
}

// start begins the pending pass if it is due at now.
func (c *coalescer) start(now time.Time) bool {
	at, ok := c.due()
	if !ok || now.Before(at) {
		return false
	}
	c.pending, c.urgent, c.running = false, false, true
	return true
}

// done ends the running pass.
func (c *coalescer) done() { c.running = false }
