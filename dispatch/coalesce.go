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
//   - With every set (--resync-interval), a pass is also due every after
//     the last one ended, kick or no kick: counted from the last pass, not
//     on a fixed clock, so a pass a signal just caused is not followed by
//     another that can find nothing new.
type coalescer struct {
	quiet, maxDelay time.Duration
	every           time.Duration // 0: passes only on kicks

	pending bool // a kick has come since the last pass started
	running bool
	urgent  bool      // the pending pass is due at once (start-up, reload)
	first   time.Time // first and last kick since the last pass started
	last    time.Time
	ended   time.Time // when the last pass ended; zero before the first
	resync  bool      // the running pass was due to every alone, no kick
}

// kick records a kick at now; urgent ones skip the quiet window.
func (c *coalescer) kick(now time.Time, urgent bool) {
	if !c.pending {
		c.pending, c.first = true, now
	}
	c.last = now
	c.urgent = c.urgent || urgent
}

// due says when the next pass should start; ok is false when nothing is
// pending and no resync is due, or a pass is running (its end decides
// again), which is when the listener keeps no timer at all.
func (c *coalescer) due() (at time.Time, ok bool) {
	if c.running {
		return time.Time{}, false
	}
	if c.pending {
		at, ok = c.kicked(), true
	}
	// The start-up pass is a kick: a resync counts from a pass's end.
	if c.every > 0 && !c.ended.IsZero() {
		if r := c.ended.Add(c.every); !ok || r.Before(at) {
			at, ok = r, true
		}
	}
	return at, ok
}

// kicked is when the pending kicks' pass is due.
func (c *coalescer) kicked() time.Time {
	if c.urgent {
		return c.first
	}
	at := c.last.Add(c.quiet)
	if limit := c.first.Add(c.maxDelay); limit.Before(at) {
		at = limit
	}
	return at
}

// start begins the next pass if it is due at now.
func (c *coalescer) start(now time.Time) bool {
	at, ok := c.due()
	if !ok || now.Before(at) {
		return false
	}
	c.resync = !c.pending
	c.pending, c.urgent, c.running = false, false, true
	return true
}

// done ends the running pass at now.
func (c *coalescer) done(now time.Time) { c.running, c.ended = false, now }
