package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var ne = binary.NativeEndian

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: insertonly BATCH-FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "insertonly:", err)
		os.Exit(1)
	}
}

const batchMsgs = 128

func run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netlink socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	ifindex := map[string]int{}
	var buf []byte
	seq, n := uint32(0), 0
	rbuf := make([]byte, 1<<20)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		seq++
		if buf, err = appendRoute(buf, line, seq, ifindex); err != nil {
			return fmt.Errorf("%q: %w", line, err)
		}
		if n++; n == batchMsgs {
			if err := flush(fd, buf, seq, rbuf); err != nil {
				return err
			}
			buf, n = buf[:0], 0
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n > 0 {
		return flush(fd, buf, seq, rbuf)
	}
	return nil
}

// flush sends a batch whose last request asks for an ack and reads until that ack, failing on
// any error the kernel sent back.
func flush(fd int, b []byte, last uint32, rbuf []byte) error {
	off := 0
	for off+16 <= len(b) {
		l := int(ne.Uint32(b[off:]))
		if off+l >= len(b) {
			ne.PutUint16(b[off+6:], ne.Uint16(b[off+6:])|unix.NLM_F_ACK)
		}
		off += l
	}
	if _, err := unix.Write(fd, b); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	for {
		n, err := unix.Read(fd, rbuf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read acks: %w", err)
		}
		for m := rbuf[:n]; len(m) >= 16; {
			l := int(ne.Uint32(m))
			typ, seq := ne.Uint16(m[4:]), ne.Uint32(m[8:])
			if typ == unix.NLMSG_ERROR && len(m) >= 20 {
				if e := int32(ne.Uint32(m[16:])); e != 0 {
					return fmt.Errorf("request %d: %w", seq, unix.Errno(-e))
				}
				if seq == last {
					return nil
				}
			}
			if l < 16 || l > len(m) {
				break
			}
			m = m[(l+3)&^3:]
		}
	}
}

// routeSpec is a route as one `route add` line of an ip -batch file gives it.
type routeSpec struct {
	dst                    netip.Prefix
	fam, proto, scope, typ uint8
	gw, src                netip.Addr
	oif, table, metric     uint32
}

func appendRoute(b []byte, line string, seq uint32, ifindex map[string]int) ([]byte, error) {
	r, err := parseRoute(line, ifindex)
	if err != nil {
		return b, err
	}
	return r.appendNewRoute(b, seq), nil
}

// parseRoute reads a `route add` line; ifindex caches the links' indices by name.
func parseRoute(line string, ifindex map[string]int) (routeSpec, error) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "route" || f[1] != "add" {
		return routeSpec{}, errors.New("not a route add")
	}
	r := routeSpec{typ: unix.RTN_UNICAST, proto: unix.RTPROT_BOOT, scope: unix.RT_SCOPE_UNIVERSE}
	if f[2] == "throw" && len(f) > 3 {
		r.typ, f = unix.RTN_THROW, append(f[:2], f[3:]...)
	}
	dst, err := netip.ParsePrefix(f[2])
	if f[2] == "default" {
		dst, err = netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if err != nil {
		return routeSpec{}, err
	}
	r.dst, r.fam = dst, unix.AF_INET
	if dst.Addr().Is6() {
		r.fam = unix.AF_INET6
	}
	for i := 3; i+1 < len(f); i += 2 {
		if err := r.set(f[i], f[i+1], ifindex); err != nil {
			return routeSpec{}, err
		}
	}
	return r, nil
}

// set reads the value v of the word word into r.
func (r *routeSpec) set(word, v string, ifindex map[string]int) error {
	num := func(s string) (uint32, error) { v, err := strconv.ParseUint(s, 10, 32); return uint32(v), err }
	var err error
	switch word {
	case "via":
		r.gw, err = netip.ParseAddr(v)
	case "dev":
		if ifindex[v] == 0 {
			ifi, e := net.InterfaceByName(v)
			if e != nil {
				return e
			}
			ifindex[v] = ifi.Index
		}
		r.oif = uint32(ifindex[v])
	case "proto":
		r.proto, err = byte8(v, "kernel", unix.RTPROT_KERNEL)
	case "scope":
		r.scope, err = byte8(v, "link", unix.RT_SCOPE_LINK)
	case "src":
		r.src, err = netip.ParseAddr(v)
	case "metric":
		r.metric, err = num(v)
	case "table":
		r.table, err = num(v)
	default:
		return fmt.Errorf("unknown word %q", word)
	}
	return err
}

// appendNewRoute appends r as an RTM_NEWROUTE request of sequence number seq.
func (r *routeSpec) appendNewRoute(b []byte, seq uint32) []byte {
	start := len(b)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint16(b, unix.RTM_NEWROUTE)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, r.fam, uint8(r.dst.Bits()), 0, 0, 0, r.proto, r.scope, r.typ)
	b = ne.AppendUint32(b, 0)
	b = attr32(b, unix.RTA_TABLE, r.table)
	if r.dst.Bits() > 0 {
		b = attr(b, unix.RTA_DST, r.dst.Addr().AsSlice())
	}
	if r.metric != 0 {
		b = attr32(b, unix.RTA_PRIORITY, r.metric)
	}
	if r.gw.IsValid() {
		b = attr(b, unix.RTA_GATEWAY, r.gw.AsSlice())
	}
	if r.oif != 0 {
		b = attr32(b, unix.RTA_OIF, r.oif)
	}
	if r.src.IsValid() {
		b = attr(b, unix.RTA_PREFSRC, r.src.AsSlice())
	}
	ne.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// byte8 reads a one-byte field given as a number or as its one name here.
func byte8(v, name string, named uint8) (uint8, error) {
	if v == name {
		return named, nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	return uint8(n), err
}

func attr(b []byte, typ uint16, v []byte) []byte {
	b = ne.AppendUint16(b, uint16(4+len(v)))
	b = ne.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func attr32(b []byte, typ uint16, v uint32) []byte { return attr(b, typ, ne.AppendUint32(nil, v)) }
