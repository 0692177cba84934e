package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
)

// pingOnce sends one ICMP echo request from namespace nsName to dst (from
// src, if given, like ping -I) and waits up to timeout for the reply: ping
// -c1 -W1, without depending on ping(8) being installed.
//
// The raw socket is opened inside the namespace (inNS).
func pingOnce(nsName, src, dst string, timeout time.Duration) error {
	d, err := netip.ParseAddr(dst)
	if err != nil || !d.Is4() {
		return fmt.Errorf("ping: bad IPv4 destination %q", dst)
	}
	var s netip.Addr
	if src != "" {
		if s, err = netip.ParseAddr(src); err != nil || !s.Is4() {
			return fmt.Errorf("ping: bad IPv4 source %q", src)
		}
	}
	return inNS(nsName, func() error { return echo(s, d, timeout) })
}

// inNS runs fn inside namespace nsName on a thread of its own
// (nsthread.DoNamed): sockets made there stay in the namespace.
func inNS(nsName string, fn func() error) error { return nsthread.DoNamed(nsName, fn) }

func echo(src, dst netip.Addr, timeout time.Duration) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if src.IsValid() {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	id := uint16(rand.Intn(1 << 16))
	pkt := make([]byte, 8+32)
	pkt[0] = 8 // echo request
	binary.BigEndian.PutUint16(pkt[4:], id)
	binary.BigEndian.PutUint16(pkt[6:], 1)
	copy(pkt[8:], "symroute-e2e-ping-payload-012345")
	binary.BigEndian.PutUint16(pkt[2:], checksum(pkt))
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
		return fmt.Errorf("send echo to %s: %w", dst, err)
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no echo reply from %s within %v", dst, timeout)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		sa, ok := from.(*unix.SockaddrInet4)
		if !ok || netip.AddrFrom4(sa.Addr) != dst || n < 20 {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+8 {
			continue
		}
		icmp := buf[ihl:n]
		if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id {
			return nil
		}
	}
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// mustPing fails t unless a ping gets through; a few tries absorb a first
// packet lost to neighbour resolution.
func mustPing(t *testing.T, n *ns, src, dst string) {
	t.Helper()
	var err error
	for i := 0; i < 5; i++ {
		if err = pingOnce(n.Name, src, dst, time.Second); err == nil {
			return
		}
	}
	t.Fatalf("ping from %s (source %q) to %s: %v", n.Name, src, dst, err)
}

// mustNotPing fails t if a ping gets through (ping -c1 -W1).
func mustNotPing(t *testing.T, n *ns, src, dst string) {
	t.Helper()
	if err := pingOnce(n.Name, src, dst, time.Second); err == nil {
		t.Fatalf("ping from %s (source %q) to %s got a reply; want none", n.Name, src, dst)
	}
}
