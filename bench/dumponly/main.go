package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dumponly:", err)
		os.Exit(1)
	}
}

func run() error {
	// -all: also the links, addresses and rules a pass dumps, the floor for a host whose
	// pass is mostly rules and addresses (scenario 5).
	all := len(os.Args) > 1 && os.Args[1] == "-all"
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netlink socket: %w", err)
	}
	// The kernel sizes a dump's datagrams by the reader's largest recent buffer, capped at 32 KiB
	// (netlink_dump); 64 KiB is enough for any of them, and MSG_TRUNC is checked anyway.
	buf := make([]byte, 64<<10)
	type req struct {
		typ    uint16
		family uint8
	}
	reqs := []req{{unix.RTM_GETROUTE, unix.AF_INET}, {unix.RTM_GETROUTE, unix.AF_INET6}}
	if all {
		reqs = append([]req{{unix.RTM_GETLINK, unix.AF_UNSPEC}, {unix.RTM_GETADDR, unix.AF_UNSPEC},
			{unix.RTM_GETRULE, unix.AF_INET}, {unix.RTM_GETRULE, unix.AF_INET6}}, reqs...)
	}
	for i, r := range reqs {
		if err := dump(fd, uint32(i+1), r.typ, r.family, buf); err != nil {
			return fmt.Errorf("dump %d of address family %d: %w", r.typ, r.family, err)
		}
	}
	return nil
}

// dump sends one dump request of type typ and reads the answer to its end. For routes the table
// is left unspecified, so the kernel answers with every table, as `ip route show table all`
// asks. The body is an rtmsg's size: a fib_rule_hdr is as long, an ifinfomsg longer, an ifaddrmsg
// shorter, and the family leads all four.
func dump(fd int, seq uint32, typ uint16, family uint8, buf []byte) error {
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq)
	req[unix.NLMSG_HDRLEN] = family // rtmsg.rtm_family
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return errors.New("receive: datagram larger than buffer")
		}
		done, err := walk(buf[:n], seq)
		if err != nil || done {
			return err
		}
	}
}

// walk steps over the messages of one datagram without decoding them (the floor measures the
// transfer, not parsing) and says whether the dump has ended.
func walk(b []byte, seq uint32) (bool, error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("malformed message of length %d", l)
		}
		if binary.NativeEndian.Uint32(b[8:12]) == seq {
			switch typ {
			case unix.NLMSG_DONE:
				return true, nil
			case unix.NLMSG_ERROR:
				if l < unix.NLMSG_HDRLEN+4 {
					return false, errors.New("short error message")
				}
				errno := -int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:]))
				return false, fmt.Errorf("kernel: %w", unix.Errno(errno))
			}
		}
		aligned := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if aligned > len(b) {
			break
		}
		b = b[aligned:]
	}
	return false, nil
}
