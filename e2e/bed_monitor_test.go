package e2e

// The test bed's monitors: `ip -o monitor`, `nft monitor` and an rtnetlink
// socket of the tests' own, each running in a namespace and stamping every
// line it reads, with markers (something of the monitor's own, made and
// removed) delimiting what it printed while something ran, so that a quiet
// window is proved to have been watched, not just missed. In e2e rather
// than internal/testbed: bench counts events, it does not delimit them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
)

// monitor is a kernel event monitor running in a namespace.
type monitor struct {
	t       *testing.T
	n       *ns
	what    string
	mu      sync.Mutex
	lines   []tsLine
	partial []byte // a line not yet ended
	seq     int
	// marker makes and removes marker seq and returns the lines that
	// say so.
	marker func(seq int) (made, removed func(line string) bool)
	// clean turns what was printed between markers into comparable lines.
	clean func(lines []string) []string
}

type tsLine struct {
	at   time.Time
	text string
}

// texts returns the text of lines; m.mu held.
func texts(lines []tsLine) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return strings.Join(out, "\n")
}

func normalizeLines(l []string) []string { return normalize(strings.Join(l, "\n")) }

// add records lines read at.
func (m *monitor) add(at time.Time, lines ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range lines {
		m.lines = append(m.lines, tsLine{at, l})
	}
}

// Write records each line of a monitor program's output as it arrives
// (both programs flush after every message).
func (m *monitor) Write(p []byte) (int, error) {
	now := time.Now()
	m.mu.Lock()
	m.partial = append(m.partial, p...)
	var lines []string
	for {
		i := bytes.IndexByte(m.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(m.partial[:i]))
		m.partial = m.partial[i+1:]
	}
	m.mu.Unlock()
	m.add(now, lines...)
	return len(p), nil
}

// start runs the monitor program cmd, whose output m records, until the
// test ends.
func (m *monitor) start(cmd *exec.Cmd) {
	m.t.Helper()
	cmd.Stdout = m
	startDaemon(m.t, m.what+" in "+m.n.Name, cmd).stopWith = syscall.SIGKILL
}

// since returns the lines read at or after from that match re.
func (m *monitor) since(from time.Time, re *regexp.Regexp) []tsLine {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []tsLine
	for _, l := range m.lines {
		if !l.at.Before(from) && re.MatchString(l.text) {
			out = append(out, l)
		}
	}
	return out
}

// ruleMarker is a marker for monitors of rules: a rule at a private
// priority.
func ruleMarker(n *ns) func(seq int) (made, removed func(string) bool) {
	return func(seq int) (made, removed func(string) bool) {
		src := fmt.Sprintf("10.254.%d.%d", seq/250, seq%250+1)
		key := "from " + src + " lookup 7777"
		n.ip("rule", "add", "priority", "7777", "from", src, "lookup", "7777")
		n.ip("rule", "del", "priority", "7777", "from", src, "lookup", "7777")
		return func(l string) bool { return strings.Contains(l, key) && !strings.HasPrefix(l, "Deleted") },
			func(l string) bool { return strings.Contains(l, key) && strings.HasPrefix(l, "Deleted") }
	}
}

// startMonitor is `ip -o monitor route rule address link` in n.
func startMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "ip monitor", marker: ruleMarker(n), clean: normalizeLines}
	m.start(exec.Command("ip", "-n", n.Name, "-o", "monitor", "route", "rule", "address", "link"))
	return m
}

// startNftMonitor is `nft monitor` in n; a marker is a throwaway table of
// its own. What it printed is compared without the "# new generation"
// comments that follow each transaction (the markers' included).
func startNftMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "nft monitor"}
	m.marker = func(seq int) (made, removed func(string) bool) {
		name := fmt.Sprintf("symtest_marker_%d", seq)
		n.run("", "nft", "add", "table", "ip", name)
		n.run("", "nft", "delete", "table", "ip", name)
		return func(l string) bool { return l == "add table ip "+name },
			func(l string) bool { return l == "delete table ip "+name }
	}
	m.clean = func(lines []string) []string {
		out := []string{}
		for _, l := range lines {
			if !strings.HasPrefix(l, "# new generation") {
				out = append(out, l)
			}
		}
		return out
	}
	m.start(n.execCmd("nft", "monitor"))
	return m
}

// mark makes and removes a marker and waits until the monitor has printed
// both; it returns the index of the marker's making and of the line after
// its removal. A marker made before the monitor was listening is never
// seen: then a fresh one is tried.
func (m *monitor) mark() (added, after int) {
	m.t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		m.seq++
		made, removed := m.marker(m.seq)
		try := time.Now().Add(2 * time.Second)
		for time.Now().Before(try) {
			added = -1
			m.mu.Lock()
			for i, l := range m.lines {
				switch {
				case made(l.text):
					added = i
				case removed(l.text) && added >= 0:
					m.mu.Unlock()
					return added, i + 1
				}
			}
			m.mu.Unlock()
			time.Sleep(pollInterval)
		}
		if time.Now().After(deadline) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.t.Fatalf("%s in %s never printed a marker; it printed:\n%s", m.what, m.n.Name, texts(m.lines))
		}
	}
}

// during returns what the monitor printed while fn ran, and nothing else:
// the lines between an opening marker's removal and a closing marker's
// making.
func (m *monitor) during(fn func()) []string {
	m.t.Helper()
	_, from := m.mark()
	fn()
	to, _ := m.mark()
	m.mu.Lock()
	defer m.mu.Unlock()
	raw := make([]string, 0, to-from)
	for _, l := range m.lines[from:to] {
		raw = append(raw, l.text)
	}
	if got := m.clean(raw); got != nil {
		return got
	}
	return []string{}
}

// --- an rtnetlink monitor that keeps up -------------------------------------

// monitorLost is the line a netlink monitor records when the kernel
// dropped events for it (ENOBUFS).
const monitorLost = "!!! monitor: the kernel dropped events (ENOBUFS)"

// startRouteMonitor is startMonitor's `ip -o monitor route rule`, read
// straight from an rtnetlink socket in n, with the same marker. ip(8)'s
// receive buffer (SO_RCVBUF, which net.core.rmem_max caps) overflows when
// a pass writes thousands of routes at once (6,000 events did here): ip
// prints "No buffer space available" and goes on without the events it
// lost. This socket's buffer is forced to 64 MiB (SO_RCVBUFFORCE, root
// only, no sysctl changed), and a loss, should one happen anyway, is
// recorded as monitorLost. Each event is rendered as ip renders it, as far
// as checkMakeBeforeBreak reads (links by index).
func startRouteMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "rtnetlink monitor", marker: ruleMarker(n), clean: normalizeLines}
	fd := -1
	err := nsthread.DoNamed(n.Name, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		for _, g := range []int{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE} {
			if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
				return err
			}
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		// Wakes the reader to see it is told to stop.
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Fatalf("rtnetlink monitor in %s: %v", n.Name, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<20)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nr, _, err := unix.Recvfrom(fd, buf, 0)
			var lines []string
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
				continue
			case err != nil:
				lines = []string{monitorLost + ": " + err.Error()}
			default:
				msgs, err := syscall.ParseNetlinkMessage(buf[:nr])
				if err != nil {
					lines = []string{monitorLost + ": " + err.Error()}
				}
				for _, msg := range msgs {
					if l := rtnlText(msg); l != "" {
						lines = append(lines, l)
					}
				}
			}
			m.add(time.Now(), lines...)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		unix.Close(fd)
	})
	return m
}

var routeTypeNames = map[uint8]string{unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
	unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat"}

// rtnlAttrs splits netlink attributes (type -> value; nested ones raw).
func rtnlAttrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		out[binary.NativeEndian.Uint16(b[2:])&0x3fff] = b[4:l]
		b = b[min((l+3)&^3, len(b)):]
	}
	return out
}

// prefixText is an address with its length, the length left out for a
// host (as ip prints them); "all"/"default" for none.
func prefixText(addr []byte, bits int, none string) string {
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return none
	}
	if bits == a.BitLen() {
		return a.String()
	}
	return netip.PrefixFrom(a, bits).String()
}

// rtnlText renders a route or rule notification the way `ip -o monitor`
// does, as far as checkMakeBeforeBreak reads it: deletion, type,
// destination, table and metric (and pref, which marks IPv6) of a route;
// priority, source, table and protocol of a rule.
func rtnlText(msg syscall.NetlinkMessage) string {
	if len(msg.Data) < unix.SizeofRtMsg {
		return ""
	}
	// struct rtmsg and struct fib_rule_hdr share their layout: family,
	// dst_len, src_len, tos, table, three bytes, flags.
	d := msg.Data
	fam, dstLen, srcLen, table, typ := d[0], int(d[1]), int(d[2]), uint32(d[4]), d[7]
	a := rtnlAttrs(d[unix.SizeofRtMsg:])
	if v := a[unix.RTA_TABLE]; len(v) == 4 { // FRA_TABLE too
		table = binary.NativeEndian.Uint32(v)
	}
	var b strings.Builder
	switch msg.Header.Type {
	case unix.RTM_DELROUTE, unix.RTM_DELRULE:
		b.WriteString("Deleted ")
	}
	switch msg.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if n, ok := routeTypeNames[typ]; ok {
			b.WriteString(n + " ")
		}
		b.WriteString(prefixText(a[unix.RTA_DST], dstLen, "default"))
		if gw := a[unix.RTA_GATEWAY]; gw != nil {
			b.WriteString(" via " + prefixText(gw, 8*len(gw), "?"))
		}
		if oif := a[unix.RTA_OIF]; len(oif) == 4 {
			fmt.Fprintf(&b, " dev #%d", binary.NativeEndian.Uint32(oif))
		}
		fmt.Fprintf(&b, " table %d", table)
		if v := a[unix.RTA_PRIORITY]; len(v) == 4 {
			fmt.Fprintf(&b, " metric %d", binary.NativeEndian.Uint32(v))
		}
		if fam == unix.AF_INET6 {
			b.WriteString(" pref")
			if v := a[unix.RTA_PREF]; len(v) == 1 {
				b.WriteString(map[uint8]string{0: " medium", 1: " high", 3: " low"}[v[0]])
			}
		}
	case unix.RTM_NEWRULE, unix.RTM_DELRULE:
		prio := uint32(0)
		if v := a[unix.FRA_PRIORITY]; len(v) == 4 {
			prio = binary.NativeEndian.Uint32(v)
		}
		fmt.Fprintf(&b, "%d: from %s", prio, prefixText(a[unix.FRA_SRC], srcLen, "all"))
		if v := a[unix.FRA_FWMARK]; len(v) == 4 {
			fmt.Fprintf(&b, " fwmark %#x", binary.NativeEndian.Uint32(v))
		}
		fmt.Fprintf(&b, " lookup %d", table)
		if v := a[unix.FRA_PROTOCOL]; len(v) == 1 && v[0] != 0 {
			fmt.Fprintf(&b, " proto %d", v[0])
		}
	default:
		return ""
	}
	return b.String()
}
