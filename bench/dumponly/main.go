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
	// pass is mostly rules and addresses (scenario 5). -whole: routes as one dump of every
	// table a family, as a pass read them before it asked for one table at a time (the
	// floor issue 21's figures were measured against).
	var all, whole bool
	for _, a := range os.Args[1:] {
		switch a {
		case "-all":
			all = true
		case "-whole":
			whole = true
		default:
			return fmt.Errorf("unknown flag %q (want -all, -whole)", a)
		}
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netlink socket: %w", err)
	}
	d := dumper{fd: fd, buf: make([]byte, 64<<10)}
	// A pass dumps links first: their indices name the tables it asks for.
	var links []uint32
	if !whole || all {
		if err := d.dump(unix.RTM_GETLINK, unix.AF_UNSPEC, 0, func(b []byte) {
			if len(b) >= unix.SizeofIfInfomsg {
				links = append(links, binary.NativeEndian.Uint32(b[4:8]))
			}
		}); err != nil {
			return fmt.Errorf("dump links: %w", err)
		}
	}
	if all {
		for _, r := range []struct {
			typ    uint16
			family uint8
		}{{unix.RTM_GETADDR, unix.AF_UNSPEC}, {unix.RTM_GETRULE, unix.AF_INET}, {unix.RTM_GETRULE, unix.AF_INET6}} {
			if err := d.dump(r.typ, r.family, 0, nil); err != nil {
				return fmt.Errorf("dump %d of address family %d: %w", r.typ, r.family, err)
			}
		}
	}
	// As a pass asks for routes: main, then 1000+ifindex of every link, one table a request,
	// where the kernel filters (strict checking, 4.20+); every table at once elsewhere.
	tables := []uint32{0}
	if !whole && unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1) == nil {
		tables = []uint32{unix.RT_TABLE_MAIN}
		for _, l := range links {
			tables = append(tables, 1000+l)
		}
	}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		for _, t := range tables {
			if err := d.dump(unix.RTM_GETROUTE, fam, t, nil); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("dump routes of address family %d, table %d: %w", fam, t, err)
			}
		}
	}
	return nil
}

// dumper sends dump requests on one socket.
type dumper struct {
	fd  int
	seq uint32
	buf []byte
}

// dump sends one dump request of type typ and reads the answer to its end, calling fn (if not
// nil) with the body of every message of it. For routes, table 0 leaves the table
// unspecified, so the kernel answers with every table, as `ip route show table all` asks;
// another names one table (RTA_TABLE), which a missing table answers with ENOENT. The body is
// an rtmsg's size: a fib_rule_hdr is as long, an ifinfomsg longer, an ifaddrmsg shorter, and
// the family leads all four.
func (d *dumper) dump(typ uint16, family uint8, table uint32, fn func([]byte)) error {
	d.seq++
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg+8)
	req[unix.NLMSG_HDRLEN] = family // rtmsg.rtm_family
	if table != 0 {
		req = req[:unix.NLMSG_HDRLEN+unix.SizeofRtMsg]
		req = binary.NativeEndian.AppendUint16(req, 8)
		req = binary.NativeEndian.AppendUint16(req, unix.RTA_TABLE)
		req = binary.NativeEndian.AppendUint32(req, table)
	}
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], d.seq)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(d.fd, d.buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return errors.New("receive: datagram larger than buffer")
		}
		done, err := walk(d.buf[:n], d.seq, fn)
		if err != nil || done {
			return err
		}
	}
}

// walk steps over the messages of one datagram, handing the body of each of the dump's to fn
// (if not nil; the floor measures the transfer, not parsing), and says whether the dump has
// ended. An error the dump ends with is returned.
func walk(b []byte, seq uint32, fn func([]byte)) (bool, error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("malformed message of length %d", l)
		}
		if binary.NativeEndian.Uint32(b[8:12]) == seq {
			switch typ {
			case unix.NLMSG_DONE, unix.NLMSG_ERROR:
				if l < unix.NLMSG_HDRLEN+4 {
					if typ == unix.NLMSG_DONE {
						return true, nil
					}
					return false, errors.New("short error message")
				}
				if errno := -int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:])); errno != 0 {
					return false, fmt.Errorf("kernel: %w", unix.Errno(errno))
				}
				return true, nil
			default:
				if fn != nil {
					fn(b[unix.NLMSG_HDRLEN:l])
				}
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
