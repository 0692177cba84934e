package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var ne = binary.NativeEndian

const (
	// Dump replies come in skbs of at most 32 KiB (the kernel caps its
	// allocation there), acks are tiny: this is ample and reused.
	recvBufSize = 1 << 20
	// The ack of every request is queued while sendmsg runs (rtnetlink
	// handles a batch synchronously), so a batch's acks must all fit in the
	// receive buffer: each is its own skb of about 1 KiB truesize.
	sockBufSize = 4 << 20
	// A stuck recv means a kernel bug or a lost ack; fail rather than hang
	// a pass that holds the lock.
	recvTimeout = 30 * time.Second
	// Slots of rbuf for recvmmsg: acks are tiny, even with an error text.
	ackSlots = batchMsgs

	nlaTypeMask = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// errInterrupted is NLM_F_DUMP_INTR: the kernel's tables changed while it
// was dumping them, so what was read may be inconsistent.
var errInterrupted = errors.New("dump interrupted by a concurrent change")

// conn is a raw NETLINK_ROUTE socket, for route and rule dumps and batched
// writes, where the library's per-message allocations and one round trip per
// request cost too much at 100k routes. Not safe for concurrent use.
type conn struct {
	fd   int
	seq  uint32
	rbuf []byte
	wbuf []byte
	// recvmmsg's headers, one per slot of rbuf, and the datagrams read.
	mm  []mmsghdr
	iov []unix.Iovec
	got [][]byte
}

// newConn opens a NETLINK_ROUTE socket in the calling thread's network
// namespace.
func newConn() (*conn, error) { return newConnOf(unix.NETLINK_ROUTE, recvBufSize) }

// newConnOf opens a netlink socket of protocol proto, reading into a
// buffer of rbufSize bytes.
func newConnOf(proto, rbufSize int) (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// FORCE needs CAP_NET_ADMIN, which every writer has; a reader without
	// it keeps the default, which is plenty for dumps.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBufSize) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockBufSize)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockBufSize)
	// Best effort (kernels 4.3 and 4.12): acks without a copy of the
	// request, and error acks with the kernel's message ("Nexthop device is
	// not up"), which says far more than EINVAL.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c := &conn{fd: fd, seq: uint32(time.Now().UnixNano()), rbuf: make([]byte, rbufSize)}
	return c, nil
}

func (c *conn) close() error { return unix.Close(c.fd) }

func (c *conn) send(b []byte) error {
	for {
		_, err := unix.Write(c.fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

// recv reads one datagram into c.rbuf. MSG_TRUNC makes the kernel report
// the datagram's real length, so a truncation is an error, not silent loss.
func (c *conn) recv(flags int) ([]byte, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&c.rbuf[0])),
			uintptr(len(c.rbuf)), uintptr(flags|unix.MSG_TRUNC), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return nil, e
		case int(n) > len(c.rbuf):
			return nil, fmt.Errorf("netlink message of %d bytes truncated", n)
		}
		return c.rbuf[:n], nil
	}
}

// mmsghdr is struct mmsghdr; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// recvMany reads the datagrams already queued, up to one per slot of rbuf,
// with one recvmmsg: the acks of a whole batch in one syscall rather than
// one each. It blocks until at least one is there.
func (c *conn) recvMany(flags int) ([][]byte, error) {
	if c.mm == nil {
		slot := len(c.rbuf) / ackSlots
		c.mm = make([]mmsghdr, ackSlots)
		c.iov = make([]unix.Iovec, ackSlots)
		for i := range c.mm {
			c.iov[i].Base = &c.rbuf[i*slot]
			c.iov[i].SetLen(slot)
			c.mm[i].hdr.Iov = &c.iov[i]
			c.mm[i].hdr.SetIovlen(1)
		}
		c.got = make([][]byte, 0, ackSlots)
	}
	for {
		for i := range c.mm {
			c.mm[i].hdr.Flags = 0
		}
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.mm[0])),
			uintptr(len(c.mm)), uintptr(flags|unix.MSG_WAITFORONE|unix.MSG_TRUNC), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return nil, e
		}
		slot := len(c.rbuf) / ackSlots
		c.got = c.got[:0]
		for i := 0; i < int(n); i++ {
			if c.mm[i].hdr.Flags&unix.MSG_TRUNC != 0 {
				return nil, fmt.Errorf("netlink message of %d bytes truncated", c.mm[i].n)
			}
			c.got = append(c.got, c.rbuf[i*slot:i*slot+int(c.mm[i].n)])
		}
		return c.got, nil
	}
}

// msgHdr is a struct nlmsghdr.
type msgHdr struct {
	Len   uint32
	Type  uint16
	Flags uint16
	Seq   uint32
}

// nextMsg splits the first netlink message off b.
func nextMsg(b []byte) (h msgHdr, body, rest []byte, err error) {
	if len(b) < unix.SizeofNlMsghdr {
		return h, nil, nil, fmt.Errorf("short netlink message (%d bytes)", len(b))
	}
	h = msgHdr{Len: ne.Uint32(b), Type: ne.Uint16(b[4:]), Flags: ne.Uint16(b[6:]), Seq: ne.Uint32(b[8:])}
	if h.Len < unix.SizeofNlMsghdr || int(h.Len) > len(b) {
		return h, nil, nil, fmt.Errorf("bad netlink message length %d", h.Len)
	}
	body = b[unix.SizeofNlMsghdr:h.Len]
	if n := align4(int(h.Len)); n < len(b) {
		rest = b[n:]
	}
	return h, body, rest, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// nextAttr splits the first attribute off b; ok is false at the end (or at
// a malformed tail, which the kernel never sends).
func nextAttr(b []byte) (typ uint16, val, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, nil, false
	}
	l := int(ne.Uint16(b))
	if l < 4 || l > len(b) {
		return 0, nil, nil, false
	}
	typ = ne.Uint16(b[2:]) & nlaTypeMask
	val = b[4:l]
	if n := align4(l); n < len(b) {
		rest = b[n:]
	}
	return typ, val, rest, true
}

// findAttr returns the value of the first attribute of type want in b.
func findAttr(b []byte, want uint16) ([]byte, bool) {
	for {
		typ, val, rest, ok := nextAttr(b)
		if !ok {
			return nil, false
		}
		if typ == want {
			return val, true
		}
		b = rest
	}
}

// dump sends a dump request of type typ whose body is hdr, and calls fn
// with the body of every reply message, which fn must not keep. It returns errInterrupted, after
// reading the dump to its end, if the kernel flagged it.
func (c *conn) dump(typ uint16, hdr []byte, fn func(body []byte)) error {
	c.seq++
	seq := c.seq
	b := appendMsgHdr(c.wbuf[:0], typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	b = append(b, hdr...)
	b = finishMsg(b, 0)
	c.wbuf = b
	if err := c.send(b); err != nil {
		return err
	}
	intr := false
	for {
		buf, err := c.recv(0)
		if err != nil {
			return err
		}
		for len(buf) > 0 {
			h, body, rest, err := nextMsg(buf)
			if err != nil {
				return err
			}
			buf = rest
			if h.Seq != seq {
				continue // the tail of an earlier, abandoned exchange
			}
			if h.Flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch h.Type {
			case unix.NLMSG_DONE:
				if len(body) >= 4 {
					if e := int32(ne.Uint32(body)); e < 0 {
						return unix.Errno(-e)
					}
				}
				if intr {
					return errInterrupted
				}
				return nil
			case unix.NLMSG_ERROR:
				if err := ackError(h, body); err != nil {
					return err
				}
			default:
				fn(body)
			}
		}
	}
}

// get sends one request of type typ whose body is body, and returns a
// copy of the body of its answer, or the error the kernel answered with.
func (c *conn) get(typ uint16, body []byte) ([]byte, error) {
	c.seq++
	seq := c.seq
	b := appendMsgHdr(c.wbuf[:0], typ, unix.NLM_F_REQUEST, seq)
	b = append(b, body...)
	b = finishMsg(b, 0)
	c.wbuf = b
	if err := c.send(b); err != nil {
		return nil, err
	}
	for {
		buf, err := c.recv(0)
		if err != nil {
			return nil, err
		}
		for len(buf) > 0 {
			h, body, rest, err := nextMsg(buf)
			if err != nil {
				return nil, err
			}
			buf = rest
			switch {
			case h.Seq != seq:
				continue // the tail of an earlier, abandoned exchange
			case h.Type == unix.NLMSG_ERROR:
				if err := ackError(h, body); err != nil {
					return nil, err
				}
			default:
				return append([]byte(nil), body...), nil
			}
		}
	}
}

// kernelError is an errno from an ack, with the kernel's extended ack
// message when it gave one.
type kernelError struct {
	errno unix.Errno
	msg   string
}

func (e *kernelError) Error() string {
	if e.msg == "" {
		return e.errno.Error()
	}
	return e.errno.Error() + " (" + e.msg + ")"
}

func (e *kernelError) Unwrap() error { return e.errno }

// ackError decodes an NLMSG_ERROR body: nil for a plain ack.
func ackError(h msgHdr, body []byte) error {
	if len(body) < 4 {
		return fmt.Errorf("short netlink ack")
	}
	e := int32(ne.Uint32(body))
	if e == 0 {
		return nil
	}
	ke := &kernelError{errno: unix.Errno(-e)}
	if h.Flags&unix.NLM_F_ACK_TLVS == 0 || len(body) < unix.SizeofNlMsgerr {
		return ke
	}
	// The TLVs follow the echoed request: its header only when capped.
	off := unix.SizeofNlMsgerr
	if h.Flags&unix.NLM_F_CAPPED == 0 {
		off = 4 + align4(int(ne.Uint32(body[4:])))
	}
	if off > len(body) {
		return ke
	}
	for a := body[off:]; ; {
		typ, val, rest, ok := nextAttr(a)
		if !ok {
			break
		}
		if typ == unix.NLMSGERR_ATTR_MSG {
			for len(val) > 0 && val[len(val)-1] == 0 {
				val = val[:len(val)-1]
			}
			ke.msg = string(val)
		}
		a = rest
	}
	return ke
}

func appendMsgHdr(b []byte, typ, flags uint16, seq uint32) []byte {
	b = ne.AppendUint32(b, 0) // length, set by finishMsg
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	return ne.AppendUint32(b, 0) // port id: the kernel's
}

// finishMsg sets the length of the message that starts at b[start:].
func finishMsg(b []byte, start int) []byte {
	ne.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func appendAttr(b []byte, typ uint16, val []byte) []byte {
	b = ne.AppendUint16(b, uint16(4+len(val)))
	b = ne.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendU32Attr(b []byte, typ uint16, v uint32) []byte {
	b = ne.AppendUint16(b, 8)
	b = ne.AppendUint16(b, typ)
	return ne.AppendUint32(b, v)
}

// startNested begins an attribute whose length endNested fills in.
func startNested(b []byte, typ uint16) ([]byte, int) {
	start := len(b)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint16(b, typ)
	return b, start
}

func endNested(b []byte, start int) []byte {
	ne.PutUint16(b[start:], uint16(len(b)-start))
	return b
}
