package e2e

// The test bed's sinks: a UDP socket and a TCP listener on one address of a
// namespace that count what reaches them by source address, and the
// senders that reach them from a chosen source (a spoofer binds the
// address it forges on its own loopback). They are how the safety tests
// count, at the host, what a reverse-path check let in.

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/nsthread"
)

// sink counts the datagrams or connections that reached one address, by
// source address.
type sink struct {
	mu   sync.Mutex
	from map[netip.Addr]int
}

func (s *sink) add(a netip.Addr) {
	s.mu.Lock()
	s.from[a.Unmap()]++
	s.mu.Unlock()
}

// count is what came from src so far.
func (s *sink) count(src string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from[netip.MustParseAddr(src)]
}

// waitFor waits, generously, until something came from src; false if
// nothing did.
func (s *sink) waitFor(src string) bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if s.count(src) > 0 {
			return true
		}
	}
	return false
}

// udpSink counts the datagrams reaching addr (host:port) in n until t ends.
func udpSink(t *testing.T, n *ns, addr string) *sink {
	t.Helper()
	var c net.PacketConn
	if err := nsthread.DoNamed(n.Name, func() (err error) {
		c, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("UDP socket on %s in %s: %v", addr, n.Name, err)
	}
	buf := make([]byte, 1500)
	return newSink(t, c, func() (netip.Addr, error) {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return netip.Addr{}, err
		}
		return from.(*net.UDPAddr).AddrPort().Addr(), nil
	})
}

// tcpSink counts the connections accepted on addr (host:port) in n until t
// ends: an accept is a completed handshake.
func tcpSink(t *testing.T, n *ns, addr string) *sink {
	t.Helper()
	var ln net.Listener
	if err := nsthread.DoNamed(n.Name, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.Name, err)
	}
	return newSink(t, ln, func() (netip.Addr, error) {
		c, err := ln.Accept()
		if err != nil {
			return netip.Addr{}, err
		}
		c.Close()
		return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(), nil
	})
}

// newSink counts what next returns until it fails, which closing c makes it
// do when t ends.
func newSink(t *testing.T, c io.Closer, next func() (netip.Addr, error)) *sink {
	s := &sink{from: map[netip.Addr]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			a, err := next()
			if err != nil {
				return
			}
			s.add(a)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// sendUDP sends count datagrams from n, bound to src, to dst (host:port).
func sendUDP(t *testing.T, n *ns, src, dst string, count int) {
	t.Helper()
	err := nsthread.DoNamed(n.Name, func() error {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := c.Write([]byte("symroute-e2e")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UDP from %s to %s in %s: %v", src, dst, n.Name, err)
	}
}

// handshake dials dst (host:port) from n, bound to src, and reports whether
// the TCP handshake completed within timeout.
func handshake(n *ns, src, dst string, timeout time.Duration) error {
	return nsthread.DoNamed(n.Name, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", dst)
		if err != nil {
			return fmt.Errorf("dial %s from %s: %w", dst, src, err)
		}
		return c.Close()
	})
}
