package dispatch

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/symroute/symroute/dispatch/dbustest"
)

// Short windows keep the tests quick; waits are generous multiples of them.
const (
	testQuiet    = 100 * time.Millisecond
	testMaxDelay = 2 * time.Second
	waitTimeout  = 20 * time.Second
	// settleTime is how long the pass count must stay put to count as
	// settled: many quiet windows.
	settleTime = 1500 * time.Millisecond
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), s)
}

// harness is a Listener whose passes are counted, and may be held.
type harness struct {
	t       *testing.T
	l       *Listener
	logs    *lockedBuffer
	started atomic.Int64
	resyncs atomic.Int64 // passes started with TriggerResync
	hold    atomic.Bool
	release chan struct{}
}

func startListener(t *testing.T, addr string) *harness {
	t.Helper()
	return startListenerResync(t, addr, nil)
}

// startListenerResync is startListener with Options.Resync.
func startListenerResync(t *testing.T, addr string, resync func() time.Duration) *harness {
	t.Helper()
	h := &harness{t: t, logs: &lockedBuffer{}, release: make(chan struct{})}
	h.l = New(Options{
		Address: addr, Quiet: testQuiet, MaxDelay: testMaxDelay, Resync: resync,
		Log: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Pass: func(trigger string) error {
			if trigger == TriggerResync {
				h.resyncs.Add(1)
			}
			h.started.Add(1)
			if h.hold.Load() {
				<-h.release
			}
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("listener did not stop")
		}
		if t.Failed() {
			t.Logf("listener log:\n%s", h.logs.String())
		}
	})
	h.waitFor("start-up pass", func() bool { return h.l.Passes() >= 1 })
	return h
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not true after %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled waits until passes have stopped (none started for settleTime)
// and returns how many have started.
func (h *harness) settled() int64 {
	h.t.Helper()
	n := h.started.Load()
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); {
		time.Sleep(settleTime)
		m := h.started.Load()
		if m == n && h.l.Passes() == uint64(m) {
			return n
		}
		n = m
	}
	h.t.Fatal("passes never settled")
	return 0
}

func emit(t *testing.T, c *dbus.Conn, path dbus.ObjectPath, name string, body ...interface{}) {
	t.Helper()
	if err := c.Emit(path, name, body...); err != nil {
		t.Fatalf("emit %s: %v", name, err)
	}
}

const (
	nmPath  = dbus.ObjectPath("/org/freedesktop/NetworkManager")
	devPath = dbus.ObjectPath("/org/freedesktop/NetworkManager/Devices/2")
	ip4Path = dbus.ObjectPath("/org/freedesktop/NetworkManager/IP4Config/7")
)

func nmState(t *testing.T, c *dbus.Conn) {
	emit(t, c, nmPath, NetworkManager+".StateChanged", uint32(70))
}

// Each followed signal, from the name's owner, makes one pass; the bus is
// found through DBUS_SYSTEM_BUS_ADDRESS.
func TestListenSignalsCausePasses(t *testing.T) {
	bus := dbustest.Start(t, "")
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Addr)
	h := startListener(t, "")
	nm, nd := bus.Conn(), bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	dbustest.Own(t, nd, Networkd)
	v := dbus.MakeVariant
	for _, tc := range []struct {
		name string
		send func()
	}{
		{"NM StateChanged", func() { nmState(t, nm) }},
		{"NM DeviceAdded", func() { emit(t, nm, nmPath, NetworkManager+".DeviceAdded", devPath) }},
		{"NM DeviceRemoved", func() { emit(t, nm, nmPath, NetworkManager+".DeviceRemoved", devPath) }},
		{"NM Device.StateChanged", func() {
			emit(t, nm, devPath, NetworkManager+".Device.StateChanged", uint32(100), uint32(90), uint32(0))
		}},
		{"NM device's Ip4Config moved", func() {
			emit(t, nm, devPath, propsIface+".PropertiesChanged", NetworkManager+".Device", map[string]dbus.Variant{"Ip4Config": v(ip4Path)}, []string{})
		}},
		{"NM renewal changed the gateway", func() {
			emit(t, nm, ip4Path, propsIface+".PropertiesChanged", NetworkManager+".IP4Config", map[string]dbus.Variant{"Gateway": v("192.168.0.254")}, []string{})
		}},
		{"networkd link state", func() {
			emit(t, nd, "/org/freedesktop/network1/link/_33", propsIface+".PropertiesChanged", Networkd+".Link", map[string]dbus.Variant{"OperationalState": v("routable")}, []string{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.settled()
			tc.send()
			h.waitFor("a pass", func() bool { return h.started.Load() > before })
			if got := h.settled() - before; got != 1 {
				t.Fatalf("%d passes, want 1", got)
			}
		})
	}
}

func TestListenBurstCoalesced(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	before, sigs := h.settled(), h.l.Signals()
	for i := 0; i < 1000; i++ {
		emit(t, nm, devPath, NetworkManager+".Device.StateChanged", uint32(100), uint32(90), uint32(i))
	}
	h.waitFor("1000 signals received", func() bool { return h.l.Signals() == sigs+1000 })
	if got := h.settled() - before; got < 1 || got > 3 {
		t.Fatalf("a burst of 1000 signals made %d passes, want 1 to 3", got)
	}
}

func TestListenKickDuringPass(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	before, sigs := h.settled(), h.l.Signals()
	h.hold.Store(true)
	nmState(t, nm)
	h.waitFor("a held pass", func() bool { return h.started.Load() == before+1 })
	for i := 0; i < 10; i++ {
		nmState(t, nm)
	}
	h.waitFor("signals during the pass", func() bool { return h.l.Signals() == sigs+11 })
	h.hold.Store(false)
	close(h.release)
	if got := h.settled() - before; got != 2 {
		t.Fatalf("kicks during a pass: %d passes in all, want exactly 2", got)
	}
}

// Only the name's current owner is heard: not a stranger, not the old
// owner once the name moved (a restarted service).
func TestListenOwnerOnly(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	old, stranger := bus.Conn(), bus.Conn()
	dbustest.Own(t, old, NetworkManager)
	before := h.settled()
	nmState(t, stranger)
	if got := h.settled() - before; got != 0 {
		t.Fatalf("a stranger's signal made %d passes", got)
	}
	nmState(t, old)
	if got := h.settled() - before; got != 1 {
		t.Fatalf("the owner's signal made %d passes, want 1", got)
	}

	restarted := bus.Conn()
	dbustest.Own(t, restarted, NetworkManager)
	h.waitFor("the owner change's pass", func() bool { return h.started.Load() > before+1 })
	before = h.settled()
	nmState(t, old)
	if got := h.settled() - before; got != 0 {
		t.Fatalf("the old owner's signal made %d passes after the name moved", got)
	}
	nmState(t, restarted)
	if got := h.settled() - before; got != 1 {
		t.Fatalf("the new owner's signal made %d passes, want 1", got)
	}
}

func TestListenMalformedIgnored(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	before := h.settled()
	emit(t, nm, nmPath, NetworkManager+".StateChanged", "connected")
	emit(t, nm, nmPath, NetworkManager+".StateChanged")
	emit(t, nm, nmPath, NetworkManager+".DeviceAdded", uint32(2))
	emit(t, nm, devPath, NetworkManager+".Device.StateChanged", uint32(100), uint32(90))
	emit(t, nm, devPath, NetworkManager+".Device.StateChanged", "100", uint32(90), uint32(0))
	emit(t, nm, ip4Path, propsIface+".PropertiesChanged", NetworkManager+".IP4Config", []string{"Gateway"}, []string{})
	emit(t, nm, ip4Path, propsIface+".PropertiesChanged", NetworkManager+".IP4Config", map[string]string{"Gateway": "x"}, []string{})
	emit(t, nm, ip4Path, propsIface+".PropertiesChanged", NetworkManager+".IP4Config", map[string]dbus.Variant{"Gateway": dbus.MakeVariant("x")})
	emit(t, nm, devPath, propsIface+".PropertiesChanged", NetworkManager+".Device", map[string]dbus.Variant{"Autoconnect": dbus.MakeVariant(true)}, []string{})
	if got := h.settled() - before; got != 0 {
		t.Fatalf("malformed or irrelevant signals made %d passes", got)
	}
	nmState(t, nm)
	if got := h.settled() - before; got != 1 {
		t.Fatalf("a good signal after them made %d passes, want 1", got)
	}
}

// The bus going away and coming back on the same socket is survived: the
// listener resubscribes, catches up with a pass, and logs the outage once.
func TestListenBusRestart(t *testing.T) {
	t.Parallel()
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	h.settled()

	bus.Stop()
	h.waitFor("the loss noticed", func() bool { return h.logs.count("lost the system bus") == 1 })
	time.Sleep(3 * time.Second) // several retries fail meanwhile
	before := h.started.Load()
	bus.Restart()
	h.waitFor("reconnected", func() bool { return h.logs.count("system bus is back") == 1 })
	h.waitFor("a catch-up pass", func() bool { return h.started.Load() > before })

	nm = bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	before = h.settled()
	nmState(t, nm)
	if got := h.settled() - before; got != 1 {
		t.Fatalf("after the bus came back a signal made %d passes, want 1", got)
	}
	for s, want := range map[string]int{"lost the system bus": 1, "system bus unavailable": 0, "system bus is back": 1} {
		if got := h.logs.count(s); got != want {
			t.Errorf("log has %q %d times, want %d", s, got, want)
		}
	}
}

// Without a bus the start-up pass still runs, and the outage is logged
// once however many retries fail.
func TestListenNoBus(t *testing.T) {
	t.Parallel()
	h := startListener(t, "unix:path="+t.TempDir()+"/none")
	time.Sleep(2 * time.Second)
	if got := h.settled(); got != 1 {
		t.Fatalf("%d passes without a bus, want the start-up one", got)
	}
	if got := h.logs.count("system bus unavailable"); got != 1 {
		t.Fatalf("outage logged %d times, want once", got)
	}
}

// The sender check does not depend on the bus: a signal delivered from a
// connection that does not own the name is dropped by the listener itself.
func TestHandlerChecksSender(t *testing.T) {
	l := New(Options{Pass: func(string) error { return nil }, Log: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))})
	hd := &handler{l: l, owners: newOwners()}
	sig := func(sender string) *dbus.Signal {
		return &dbus.Signal{Sender: sender, Path: nmPath, Name: NetworkManager + ".StateChanged", Body: []interface{}{uint32(70)}}
	}
	hd.DeliverSignal("", "", sig(":1.4")) // no owner known yet
	hd.owners.answered(NetworkManager, ":1.5")
	hd.DeliverSignal("", "", sig(":1.4"))
	hd.DeliverSignal("", "", sig(""))
	if l.Signals() != 0 || len(l.kicks) != 0 {
		t.Fatalf("signals from non-owners kicked: %d", l.Signals())
	}
	hd.DeliverSignal("", "", sig(":1.5"))
	if l.Signals() != 1 || len(l.kicks) != 1 {
		t.Fatalf("the owner's signal did not kick")
	}
	hd.DeliverSignal("", "", &dbus.Signal{Sender: busName, Path: "/org/freedesktop/DBus", Name: busName + ".NameOwnerChanged",
		Body: []interface{}{NetworkManager, ":1.5", ":1.8"}})
	hd.DeliverSignal("", "", sig(":1.5"))
	if l.Signals() != 1 || len(l.kicks) != 2 {
		t.Fatalf("old owner's signal kicked (signals %d), or the owner change did not (kicks %d)", l.Signals(), len(l.kicks))
	}
}
