package e2e

// The test bed's traffic between the tests' own namespaces: an ICMP echo
// (a raw socket of the tests' own: minimal images lack ping(8)), a TCP
// exchange that checks every byte both ways, and a steady UDP stream. Each
// socket is opened inside its namespace on a thread of its own
// (nsthread.DoNamed). In e2e rather than internal/testbed: each fails its
// test, and bench sends no traffic.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
)

// --- ICMP echo -----------------------------------------------------------------

// pingOnce sends one ICMP echo request from namespace nsName to dst (from
// src, if given, like ping -I ADDR) and waits up to timeout for the reply:
// ping -c1 -W1, without depending on ping(8) being installed.
//
// The raw socket is opened inside the namespace, on a thread of its own
// (nsthread.DoNamed): sockets made there stay in the namespace.
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
	return nsthread.DoNamed(nsName, func() error { return echo(s, d, "", timeout) })
}

// pingBoundOnce is pingOnce from a socket bound to link dev
// (SO_BINDTODEVICE, like ping -I LINK), to an IPv4 or IPv6 dst (a
// link-local one on dev; no zone); dev "" binds to no link.
func pingBoundOnce(nsName, dev, dst string, timeout time.Duration) error {
	d, err := netip.ParseAddr(dst)
	if err != nil || d.Zone() != "" {
		return fmt.Errorf("ping: bad destination %q", dst)
	}
	return nsthread.DoNamed(nsName, func() error { return echo(netip.Addr{}, d, dev, timeout) })
}

// icmpOf is an echo's family: its socket's and its types (request, reply).
func icmpOf(dst netip.Addr) (fam, proto int, request, reply byte) {
	if dst.Is6() {
		return unix.AF_INET6, unix.IPPROTO_ICMPV6, 128, 129
	}
	return unix.AF_INET, unix.IPPROTO_ICMP, 8, 0
}

func sockaddrOf(a netip.Addr) unix.Sockaddr {
	if a.Is6() {
		return &unix.SockaddrInet6{Addr: a.As16()}
	}
	return &unix.SockaddrInet4{Addr: a.As4()}
}

// echo sends one echo request to dst from src (if valid) on a socket bound
// to dev (if given), and waits for its reply. The kernel sums an ICMPv6
// message itself, and gives a raw IPv6 socket no IP header.
func echo(src, dst netip.Addr, dev string, timeout time.Duration) error {
	fam, proto, request, reply := icmpOf(dst)
	fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if dev != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
			return fmt.Errorf("bind to device %s: %w", dev, err)
		}
	}
	if src.IsValid() {
		if err := unix.Bind(fd, sockaddrOf(src)); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	id := uint16(mrand.Intn(1 << 16))
	pkt := make([]byte, 8+32)
	pkt[0] = request
	binary.BigEndian.PutUint16(pkt[4:], id)
	binary.BigEndian.PutUint16(pkt[6:], 1)
	copy(pkt[8:], "symroute-e2e-ping-payload-012345")
	if !dst.Is6() {
		binary.BigEndian.PutUint16(pkt[2:], checksum(pkt))
	}
	if err := unix.Sendto(fd, pkt, 0, sockaddrOf(dst)); err != nil {
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
		if icmp, ok := echoReply(buf[:n], from, dst); ok && icmp[0] == reply && binary.BigEndian.Uint16(icmp[4:]) == id {
			return nil
		}
	}
}

// echoReply is the ICMP message of a datagram a raw socket read from
// dst: past its IPv4 header, if it has one.
func echoReply(b []byte, from unix.Sockaddr, dst netip.Addr) ([]byte, bool) {
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		if netip.AddrFrom4(sa.Addr) != dst || len(b) < 20 {
			return nil, false
		}
		b = b[int(b[0]&0x0f)*4:]
	case *unix.SockaddrInet6:
		if netip.AddrFrom16(sa.Addr) != dst {
			return nil, false
		}
	default:
		return nil, false
	}
	return b, len(b) >= 8
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
	answered(t, fmt.Sprintf("ping from %s (source %q) to %s", n.Name, src, dst), true,
		func() error { return pingOnce(n.Name, src, dst, time.Second) })
}

// mustNotPing fails t if a ping gets through (ping -c1 -W1).
func mustNotPing(t *testing.T, n *ns, src, dst string) {
	t.Helper()
	answered(t, fmt.Sprintf("ping from %s (source %q) to %s", n.Name, src, dst), false,
		func() error { return pingOnce(n.Name, src, dst, time.Second) })
}

// pingBound is mustPing (want) or mustNotPing from a socket bound to dev
// ("": to none), like ping -I DEV.
func pingBound(t *testing.T, n *ns, dev, dst string, want bool) {
	t.Helper()
	answered(t, fmt.Sprintf("ping from %s bound to %q to %s", n.Name, dev, dst), want,
		func() error { return pingBoundOnce(n.Name, dev, dst, time.Second) })
}

// answered fails t unless ping, one echo, gets an answer within 5 tries
// (want), or, if not want, unless its one try gets none.
func answered(t *testing.T, what string, want bool, ping func() error) {
	t.Helper()
	tries := 1
	if want {
		tries = 5
	}
	var err error
	for i := 0; i < tries; i++ {
		if err = ping(); err == nil {
			break
		}
	}
	switch {
	case want && err != nil:
		t.Fatalf("%s: %v", what, err)
	case !want && err == nil:
		t.Fatalf("%s got a reply; want none", what)
	}
}

// --- TCP ------------------------------------------------------------------

const (
	// transferSize is big enough to need many segments each way, so a
	// path that carries the handshake but drops later packets (or the
	// other way round) fails too.
	transferSize = 300 << 10
	// Every exchange has a deadline: a blackholed path fails the dial or
	// a read instead of hanging the test.
	transferTimeout = 5 * time.Second
	// A path that must fail gets less: nothing comes back, whatever the
	// wait, and a dial in flight retransmits its SYN after 1s and 3s.
	blackholeTimeout = 3 * time.Second
)

// payload is what a server sends back after the hash: deterministic, and
// not periodic over a segment, so a lost or repeated segment shows.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>9)
	}
	return b
}

// serveTCP listens on addr inside n until t ends. Per connection: read an
// 8-byte decimal length N and N bytes, reply with their sha256 and then
// payload(N).
func serveTCP(t *testing.T, n *ns, network, addr string) {
	t.Helper()
	var ln net.Listener
	err := nsthread.DoNamed(n.Name, func() (err error) {
		// tcp6 on [::] is IPv6-only, so it can share the port with tcp4.
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s %s in %s: %v", network, addr, n.Name, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * transferTimeout))
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				size, err := strconv.Atoi(string(hdr[:]))
				if err != nil || size < 0 || size > 64<<20 {
					return
				}
				sum := sha256.New()
				if _, err := io.CopyN(sum, c, int64(size)); err != nil {
					return
				}
				w := bufio.NewWriter(c)
				w.Write(sum.Sum(nil))
				w.Write(payload(size))
				w.Flush()
			}()
		}
	}()
}

// exchange is one TCP connection's client side: which local address and
// port it had (to find it in conntrack) and why it failed, if it did.
type exchange struct {
	local netip.AddrPort
	err   error
}

// transfer connects from namespace nsName (from laddr, "" for the kernel's
// choice) to raddr, sends size random bytes and checks both that their
// sha256 and payload(size) come back whole, all within timeout.
func transfer(nsName, laddr, raddr string, size int, timeout time.Duration) exchange {
	var x exchange
	x.err = nsthread.DoNamed(nsName, func() error {
		d := net.Dialer{Timeout: timeout}
		if laddr != "" {
			a, err := net.ResolveTCPAddr("tcp", laddr)
			if err != nil {
				return err
			}
			d.LocalAddr = a
		}
		c, err := d.Dial("tcp", raddr)
		if err != nil {
			return fmt.Errorf("dial %s: %w", raddr, err)
		}
		defer c.Close()
		x.local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		c.SetDeadline(time.Now().Add(timeout))
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(c, "%08d", size); err != nil {
			return fmt.Errorf("send to %s: %w", raddr, err)
		}
		if _, err := c.Write(data); err != nil {
			return fmt.Errorf("send %d bytes to %s: %w", size, raddr, err)
		}
		back := make([]byte, sha256.Size+size)
		if n, err := io.ReadFull(c, back); err != nil {
			return fmt.Errorf("read the reply from %s: got %d of %d bytes: %w", raddr, n, len(back), err)
		}
		if want := sha256.Sum256(data); !bytes.Equal(back[:sha256.Size], want[:]) {
			return fmt.Errorf("%s received something else than the %d bytes sent", raddr, size)
		}
		if !bytes.Equal(back[sha256.Size:], payload(size)) {
			return fmt.Errorf("the %d bytes %s sent back arrived damaged", size, raddr)
		}
		return nil
	})
	return x
}

// mustTransfer fails t unless a transfer from n to raddr works; it returns
// the connection's local end. A second try absorbs a first SYN lost to
// neighbour resolution on a fresh link.
func mustTransfer(t *testing.T, n *ns, laddr, raddr string) netip.AddrPort {
	t.Helper()
	var x exchange
	for i := 0; i < 2; i++ {
		if x = transfer(n.Name, laddr, raddr, transferSize, transferTimeout); x.err == nil {
			return x.local
		}
	}
	t.Fatalf("TCP exchange of %d bytes each way from %s to %s: %v", transferSize, n.Name, raddr, x.err)
	return netip.AddrPort{}
}

// mustNotTransfer fails t if a transfer from n to raddr works.
func mustNotTransfer(t *testing.T, n *ns, raddr string) {
	t.Helper()
	if x := transfer(n.Name, "", raddr, transferSize, blackholeTimeout); x.err == nil {
		t.Fatalf("TCP exchange from %s to %s worked; want it to fail", n.Name, raddr)
	}
}

// hostPort joins an address and a port, bracketing IPv6.
func hostPort(addr string, port int) string {
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

// --- UDP ------------------------------------------------------------------

// udpStream sends small UDP datagrams from n to raddr until t ends, in
// bursts with short pauses: a steady flow of packets without taking a CPU.
func udpStream(t *testing.T, n *ns, raddr string) {
	t.Helper()
	var conn net.Conn
	if err := nsthread.DoNamed(n.Name, func() (err error) {
		conn, err = net.Dial("udp", raddr)
		return err
	}); err != nil {
		t.Fatalf("UDP socket to %s in %s: %v", raddr, n.Name, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 16)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 32; i++ {
				conn.Write(b) // a lost datagram does not matter
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		conn.Close()
	})
}
