package dispatch

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/symroute/symroute/dispatch/dbustest"
)

const testResync = time.Second

// interval is a resync interval a test can change while the listener runs,
// as a reload does.
func interval(d time.Duration) (*atomic.Int64, func() time.Duration) {
	v := new(atomic.Int64)
	v.Store(int64(d))
	return v, func() time.Duration { return time.Duration(v.Load()) }
}

// With a resync interval and a bus, passes come on the interval with no
// signal, a signal still makes its own (TriggerBus), and an interval
// changed to 0 (a reload) stops them after the pass that reads it.
func TestListenResync(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	every, resync := interval(testResync)
	h := startListenerResync(t, bus.Addr, resync)
	h.waitFor("three resync passes without a signal", func() bool { return h.resyncs.Load() >= 3 })
	if got := h.l.Signals(); got != 0 {
		t.Fatalf("%d signals on a bus where no one sends any", got)
	}

	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	bus0 := h.started.Load() - h.resyncs.Load()
	nmState(t, nm)
	h.waitFor("a signal's pass", func() bool { return h.started.Load()-h.resyncs.Load() > bus0 })

	every.Store(0)
	before := h.settled()
	time.Sleep(3 * testResync)
	if got := h.started.Load() - before; got != 0 {
		t.Fatalf("%d passes after the interval went to 0", got)
	}
	if got := h.logs.count("system bus unavailable"); got != 0 {
		t.Fatalf("outage logged %d times with the bus up", got)
	}
}

// With a resync interval and no bus at all (a container without the
// host's socket), the listener says so once, runs on the interval alone,
// and takes the bus when it appears at the address: then signals count.
func TestListenNoBusResync(t *testing.T) {
	t.Parallel()
	dbustest.Require(t)
	// Short: the bus's socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "dbustest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, resync := interval(testResync)
	h := startListenerResync(t, "unix:path="+dir+"/bus.sock", resync)
	h.waitFor("three resync passes without a bus", func() bool { return h.resyncs.Load() >= 3 })
	for s, want := range map[string]int{
		"system bus unavailable; running a pass every resync interval until it is back": 1,
		"retrying until it is back": 0, "listening": 0,
	} {
		if got := h.logs.count(s); got != want {
			t.Fatalf("log has %q %d times, want %d", s, got, want)
		}
	}

	bus := dbustest.Start(t, dir)
	h.waitFor("the bus taken when it appears", func() bool { return h.logs.count("system bus is back") == 1 })
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	sigs := h.l.Signals()
	nmState(t, nm)
	h.waitFor("the signal heard", func() bool { return h.l.Signals() > sigs })
	if got := h.logs.count("system bus unavailable"); got != 1 {
		t.Fatalf("outage logged %d times, want once", got)
	}
}
