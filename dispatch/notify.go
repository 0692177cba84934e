package dispatch

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// notify sends state to systemd's NOTIFY_SOCKET (sd_notify(3)), if set: a
// few lines rather than a library for one datagram. A leading "@" names an
// abstract socket, which Go's unix addresses understand as systemd writes
// them.
func notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify socket %s: %w", addr, err)
	}
	return nil
}

// reloading is the RELOADING=1 message; Type=notify-reload units want the
// monotonic time with it.
func reloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}
