package dispatch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/godbus/dbus/v5"
)

// MaxMessage is the largest bus message the listener reads. The signals it
// follows are small (a device's state, an IP configuration's addresses and
// routes; a genuine one skipped costs a pass the timer makes anyway), and
// anything larger is skipped as it arrives, before godbus decodes it. godbus reads a whole message, up to the bus's own
// limit of 32 MiB or more, before its sender can be checked, and decoding
// allocates many times a message's size: a 1015 KiB signal of empty arrays
// made it allocate about 44 MiB (measured once, with the 1 MiB cap this
// replaces). A quarter of the cap bounds that at about a quarter.
const MaxMessage = 256 << 10

// systemBusDefault is the system bus's standard address.
const systemBusDefault = "unix:path=/run/dbus/system_bus_socket"

// dialBus connects to the bus at address (DBUS_SYSTEM_BUS_ADDRESS or the
// standard socket when ""), authenticates and says Hello, as
// dbus.ConnectSystemBus does, but over a plain socket: godbus's own unix
// transport negotiates descriptor passing, and the bus then hands the
// listener every descriptor attached to a message addressed to it, which
// any local user could use to exhaust its descriptors. Without it, the bus
// refuses such messages to their sender.
func dialBus(address string, dropped func(size uint64), opts ...dbus.ConnOption) (*dbus.Conn, error) {
	if address == "" {
		if address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); address == "" {
			address = systemBusDefault
		}
	}
	nc, err := dialUnix(address)
	if err != nil {
		return nil, err
	}
	conn, err := dbus.NewConn(newCapped(nc, MaxMessage, dropped), opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := conn.Auth(nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	return conn, nil
}

// dialUnix connects to the first address of a ;-separated D-Bus address
// list that is a unix socket (path= or abstract=) and answers.
func dialUnix(address string) (net.Conn, error) {
	err := fmt.Errorf("bus address %q names no unix socket", address)
	for _, a := range strings.Split(address, ";") {
		kind, params, ok := strings.Cut(a, ":")
		if !ok || kind != "unix" {
			continue
		}
		var name string
		for _, kv := range strings.Split(params, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v, verr := dbus.UnescapeBusAddressValue(v)
			if verr != nil {
				continue
			}
			switch k {
			case "path":
				name = v
			case "abstract":
				name = "@" + v
			}
		}
		if name == "" {
			continue
		}
		var c net.Conn
		if c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"}); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// capped passes a bus connection's bytes to godbus, but skips every message
// longer than max without holding it, telling dropped its size. Until the server's "OK" line it
// passes the authentication lines; from then on the stream is messages,
// framed by their fixed header.
type capped struct {
	net.Conn
	r       *bufio.Reader
	max     int
	authed  bool
	pending []byte // what the next Reads return
	dropped func(size uint64)
}

func newCapped(c net.Conn, max int, dropped func(size uint64)) *capped {
	return &capped{Conn: c, r: bufio.NewReader(c), max: max, dropped: dropped}
}

func (c *capped) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		var err error
		if !c.authed {
			// Lines of the authentication protocol, each ending in \n.
			c.pending, err = c.r.ReadSlice('\n')
			if err == nil && bytes.HasPrefix(c.pending, []byte("OK ")) {
				c.authed = true
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				// ReadSlice returns the full buffer with this error: none
				// of it may reach godbus as a line.
				c.pending = nil
				return 0, errors.New("dbus: authentication line too long")
			}
		} else {
			c.pending, err = c.message()
		}
		if err != nil && len(c.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// message returns the next message not longer than max, skipping others.
func (c *capped) message() ([]byte, error) {
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			return nil, err
		}
		var order binary.ByteOrder
		switch hdr[0] {
		case 'l':
			order = binary.LittleEndian
		case 'B':
			order = binary.BigEndian
		default:
			return nil, errors.New("dbus: bad byte order in a message header")
		}
		body, fields := uint64(order.Uint32(hdr[4:])), uint64(order.Uint32(hdr[12:]))
		// Header fields are padded to 8 bytes before the body.
		total := 16 + fields + (8-(16+fields)%8)%8 + body
		if total > uint64(c.max) {
			if _, err := io.CopyN(io.Discard, c.r, int64(total-16)); err != nil {
				return nil, err
			}
			c.dropped(total)
			continue
		}
		msg := make([]byte, total)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c.r, msg[16:]); err != nil {
			return nil, err
		}
		return msg, nil
	}
}
