package dispatch

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/symroute/symroute/dispatch/dbustest"
)

// What any local user can send the listener: signals addressed to its
// unique name, carrying descriptors or tens of MB. Neither may grow it, and
// its passes go on.

var uniqueName = regexp.MustCompile(`msg="connected to the bus" name=(:[0-9.]+)`)

func (h *harness) busName() string {
	h.t.Helper()
	var name string
	h.waitFor("the listener's unique name in its log", func() bool {
		m := uniqueName.FindStringSubmatch(h.logs.String())
		if m != nil {
			name = m[1]
		}
		return m != nil
	})
	return name
}

// unicast is a device StateChanged addressed to the name to (the bus
// fills in the true sender).
func unicast(to string, body ...interface{}) *dbus.Message {
	m := busSignal(devPath, NetworkManager+".Device", "StateChanged", body...)
	delete(m.Headers, dbus.FieldSender)
	m.Headers[dbus.FieldDestination] = dbus.MakeVariant(to)
	return m
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The listener connects without descriptor passing: the bus refuses
// descriptors addressed to it, and its descriptor count stays flat.
func TestListenRefusesDescriptors(t *testing.T) {
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	name := h.busName()
	attacker := bus.Conn()
	var fds []interface{}
	for i := 0; i < 16; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fds = append(fds, dbus.UnixFD(f.Fd()))
	}
	before := openFDs(t)
	for i := 0; i < 70; i++ {
		call := attacker.Send(unicast(name, fds...), nil)
		<-call.Done // sent (a signal has no reply)
		if call.Err != nil {
			t.Fatalf("send a signal of 16 descriptors: %v", call.Err)
		}
	}
	// A pass still runs, after all of them were delivered or refused.
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	n := h.settled()
	nmState(t, nm)
	h.waitFor("a pass after the flood", func() bool { return h.started.Load() > n })
	if after := openFDs(t); after-before > 8 {
		t.Fatalf("descriptors went from %d to %d after 70 signals of 16 descriptors each", before, after)
	}
}

// Messages over MaxMessage are skipped as they arrive, never decoded.
func TestListenSkipsHugeMessages(t *testing.T) {
	bus := dbustest.Start(t, "")
	h := startListener(t, bus.Addr)
	name := h.busName()
	attacker := bus.Conn()
	huge := strings.Repeat("x", 20<<20)
	for i := 0; i < 3; i++ {
		call := attacker.Send(unicast(name, huge), nil)
		<-call.Done
		if call.Err != nil {
			t.Fatalf("send a 20 MB signal: %v", call.Err)
		}
	}
	h.waitFor("3 messages skipped", func() bool { return h.l.Dropped() == 3 })
	if n := h.logs.count("bus message skipped unread"); n != 3 {
		t.Errorf("%d skipped messages logged, want 3:\n%s", n, h.logs.String())
	}
	if strings.Contains(h.logs.String(), "path="+string(devPath)) {
		t.Errorf("a skipped message reached godbus's decoder:\n%s", h.logs.String())
	}
	// The connection goes on: a small signal still makes a pass.
	nm := bus.Conn()
	dbustest.Own(t, nm, NetworkManager)
	n := h.settled()
	nmState(t, nm)
	h.waitFor("a pass after the huge messages", func() bool { return h.started.Load() > n })
}
