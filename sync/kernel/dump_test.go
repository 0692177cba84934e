package kernel

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/plan"
)

// The kernel flags a dump that raced a change: dump reports it once read
// to the end, and the socket serves the next request. Route and rule dumps
// are never flagged (as of 6.x), so addresses stand in for them here.
func TestDumpInterrupted(t *testing.T) {
	ns := testns.New(t)
	h, err := Open(Options{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	// Enough addresses that a dump takes several messages.
	const n = 2000
	for i := 0; i < n; i++ {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 0, byte(i>>8), byte(i)), Mask: net.CIDRMask(32, 32)}}
		if err := nh.AddrAdd(lo, a); err != nil {
			t.Fatal(err)
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 9, 9, 9), Mask: net.CIDRMask(32, 32)}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			nh.AddrAdd(lo, a)
			nh.AddrDel(lo, a)
		}
	}()
	intr := 0
	for i := 0; i < 200 && intr == 0; i++ {
		got := 0
		err := h.c.dump(unix.RTM_GETADDR, []byte{unix.AF_INET, 0, 0, 0, 0, 0, 0, 0}, func([]byte) { got++ })
		switch {
		case err == errInterrupted:
			intr++
		case err != nil:
			t.Fatal(err)
		case got < n:
			t.Fatalf("dump read %d addresses, want %d or more", got, n)
		}
	}
	close(stop)
	<-done
	if intr == 0 {
		t.Fatal("no dump was flagged interrupted in 200 tries under churn")
	}
	st, err := h.Snapshot(plan.ReadOptions{TableBase: 1000})
	if err != nil {
		t.Fatalf("snapshot after an interrupted dump: %v", err)
	}
	if len(st.Addrs) < n {
		t.Errorf("snapshot read %d addresses, want %d or more", len(st.Addrs), n)
	}
}
