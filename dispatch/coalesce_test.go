package dispatch

import (
	"testing"
	"time"
)

// sim drives a coalescer as Listener.loop does, on a fake clock in 1 ms
// steps: kicks at the given offsets, each pass taking passTime, a resync
// every resync (0: none). It returns when each pass started.
func sim(quiet, maxDelay, resync time.Duration, kicks []time.Duration, passTime, until time.Duration) []time.Duration {
	c := coalescer{quiet: quiet, maxDelay: maxDelay, every: resync}
	t0 := time.Unix(1e9, 0)
	var starts []time.Duration
	var passEnd time.Duration
	k := 0
	for now := time.Duration(0); now <= until; now += time.Millisecond {
		if c.running && now >= passEnd {
			c.done(t0.Add(now))
		}
		for ; k < len(kicks) && kicks[k] <= now; k++ {
			c.kick(t0.Add(now), false)
		}
		if c.start(t0.Add(now)) {
			starts = append(starts, now)
			passEnd = now + passTime
		}
	}
	return starts
}

func every(from, to, step time.Duration) []time.Duration {
	var l []time.Duration
	for t := from; t < to; t += step {
		l = append(l, t)
	}
	return l
}

const ms = time.Millisecond

func TestCoalescer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kicks    []time.Duration
		passTime time.Duration
		want     []time.Duration
	}{
		{"idle: no pass", nil, 10 * ms, nil},
		{"one kick: a pass a quiet window later", []time.Duration{100 * ms}, 10 * ms, []time.Duration{500 * ms}},
		{"burst of 1000: one pass after it goes quiet", every(0, 100*ms, 100*time.Microsecond), 10 * ms, []time.Duration{500 * ms}},
		{"kick during a pass: exactly one more after it", []time.Duration{0, 500 * ms}, 300 * ms, []time.Duration{400 * ms, 900 * ms}},
		{"many kicks during a pass: still one more", append([]time.Duration{0}, every(450*ms, 650*ms, ms)...), 300 * ms,
			[]time.Duration{400 * ms, 1049 * ms}},
		{"kicks apart: a pass each", []time.Duration{0, 2 * time.Second}, 10 * ms, []time.Duration{400 * ms, 2400 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sim(400*ms, 5*time.Second, 0, tc.kicks, tc.passTime, 20*time.Second)
			if len(got) != len(tc.want) {
				t.Fatalf("passes started at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("passes started at %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// A storm that never goes quiet still gets a pass at least every maxDelay
// plus one pass's time.
func TestCoalescerStorm(t *testing.T) {
	const passTime = 200 * ms
	got := sim(400*ms, 5*time.Second, 0, every(0, 60*time.Second, 50*ms), passTime, 61*time.Second)
	if len(got) < 60/6 || len(got) > 60/5+1 {
		t.Fatalf("%d passes in a 60 s storm, want 10-13: %v", len(got), got)
	}
	prev := time.Duration(0)
	for _, s := range got {
		if s-prev > 5*time.Second+passTime {
			t.Fatalf("a storm went %v without a pass: %v", s-prev, got)
		}
		prev = s
	}
}

// Urgent kicks (start-up, reload) skip the quiet window; nothing pending
// means no timer.
func TestCoalescerUrgentAndIdle(t *testing.T) {
	c := coalescer{quiet: 400 * ms, maxDelay: 5 * time.Second}
	now := time.Unix(1e9, 0)
	if _, ok := c.due(); ok {
		t.Fatal("idle coalescer wants a timer")
	}
	c.kick(now, false)
	c.kick(now.Add(10*ms), true)
	if !c.start(now.Add(10 * ms)) {
		t.Fatal("urgent kick did not start a pass at once")
	}
	c.kick(now.Add(20*ms), false)
	if _, ok := c.due(); ok {
		t.Fatal("a pass is running, yet the coalescer wants a timer")
	}
	c.done(now.Add(30 * ms))
	at, ok := c.due()
	if !ok || !at.Equal(now.Add(420*ms)) {
		t.Fatalf("after the pass: due %v %v, want the kick during it + quiet", at, ok)
	}
	if c.start(at.Add(-ms)) || !c.start(at) {
		t.Fatal("the pass after the one running did not start exactly when due")
	}
	c.done(at.Add(10 * ms))
	if _, ok := c.due(); ok {
		t.Fatal("nothing pending, yet the coalescer wants a timer")
	}
}

// With a resync interval a pass is due that long after the last one ended,
// whether kicks caused it or the interval did; kicks keep their own timing.
func TestCoalescerResync(t *testing.T) {
	const sec = time.Second
	for _, tc := range []struct {
		name  string
		kicks []time.Duration
		want  []time.Duration
	}{
		// Started by the start-up pass (a kick), never before it.
		{"no kick, no pass to count from", nil, nil},
		{"after the start-up pass, one per interval", []time.Duration{0}, []time.Duration{400 * ms, 1410 * ms, 2420 * ms, 3430 * ms}},
		{"a signal's pass moves the next resync", []time.Duration{0, 800 * ms},
			[]time.Duration{400 * ms, 1200 * ms, 2210 * ms, 3220 * ms}},
		{"a kick just before a resync rides on it", []time.Duration{0, 1300 * ms},
			[]time.Duration{400 * ms, 1410 * ms, 2420 * ms, 3430 * ms}},
		{"a kick during a resync pass gets one more after it", []time.Duration{0, 1415 * ms},
			[]time.Duration{400 * ms, 1410 * ms, 1815 * ms, 2825 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sim(400*ms, 5*sec, sec, tc.kicks, 10*ms, 3500*ms)
			if len(got) != len(tc.want) {
				t.Fatalf("passes started at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("passes started at %v, want %v", got, tc.want)
				}
			}
		})
	}
}
