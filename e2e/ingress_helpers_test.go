package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

// Helpers of the --follow-ingress tests (ingress_test.go): the topology
// with a VIP, a container behind a published port and TCP servers, a TCP
// exchange run from inside a namespace, and readers of conntrack, nftables
// and src_valid_mark.

const (
	vip4 = "203.0.113.10"
	vip6 = "2001:db8:ffff::10"
	// ingressMask is --ingress-mark-mask's default.
	ingressMask = uint32(0xff000000)
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

// The routers' addresses on CLIENT's side: a /32 (or /128) route on CLIENT
// through one of them picks the link a request reaches HOST by.
var viaRouter = map[string]string{"R1": "172.31.1.1", "R2": "172.31.2.1"}
var viaRouter6 = map[string]string{"R1": "2001:db8:31:1::1", "R2": "2001:db8:31:2::1"}

// ingressLinkOf is the uplink of HOST a router reaches it by.
var ingressLinkOf = map[string]string{"R1": "em1", "R2": "em2"}

// ingressTopo is the seed with CLIENT, plus what --follow-ingress is for:
//
//   - HOST forwards, holds VIP 203.0.113.10/32 on lo and a container CTR
//     (172.17.0.2 behind bridge docker0, which symroute leaves alone) whose
//     port 80 it publishes as :8080 on its own addresses, the way Docker
//     does, from a foreign nftables table "ip dockerish";
//   - R1 and R2 route the VIP and each other's uplink subnet to HOST, so
//     every local address of HOST is reachable through either router;
//   - CLIENT filters strictly by reverse path, so a reply that comes back
//     through the other router than its request is dropped there.
//
// TCP servers listen on HOST (0.0.0.0:9000 and [::]:9000) and in CTR (:80).
type ingressTopo struct {
	*seed
	t   *testing.T
	ctr *ns
}

// bridgeRoute4 is docker0's route, which every managed table gets too.
const bridgeRoute4 = "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"

const dockerish = `table ip dockerish {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local tcp dport 8080 dnat to 172.17.0.2:80
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.17.0.0/16 oifname != "docker0" masquerade
	}
}
`

// newIngressTopo builds the topology with HOST's rp_filter (all, em1 and
// em2) at rpFilter.
func newIngressTopo(t *testing.T, rpFilter int) *ingressTopo {
	t.Helper()
	testns.RequirePrograms(t, "nftables", "nft")
	testns.RequirePrograms(t, "conntrack", "conntrack")
	s := newSeed(t, true)
	it := &ingressTopo{seed: s, t: t}
	h := s.host
	h.sysctl("net.ipv4.ip_forward=1")
	h.ip("addr", "add", vip4+"/32", "dev", "lo")
	it.setRPFilter(rpFilter)
	s.r1.ips(
		"route add "+vip4+"/32 via 10.0.0.2",
		"route add 192.168.0.0/24 via 10.0.0.2",
	)
	s.r2.ips(
		"route add "+vip4+"/32 via 192.168.0.2",
		"route add 10.0.0.0/16 via 192.168.0.2",
	)
	s.client.sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1",
		"net.ipv4.conf.r1.rp_filter=1", "net.ipv4.conf.r2.rp_filter=1")

	it.ctr = newNS(t, s.tag, "ctr")
	h.ips(
		"link add docker0 type bridge",
		"addr add 172.17.0.1/16 dev docker0",
		"link set docker0 up",
	)
	veth(t, h, "vethc", "", it.ctr, "eth0", "172.17.0.2/16")
	h.ip("link", "set", "vethc", "master", "docker0")
	it.ctr.ip("route", "add", "default", "via", "172.17.0.1", "dev", "eth0")
	h.nft(dockerish)

	serveTCP(t, h, "tcp4", "0.0.0.0:9000")
	serveTCP(t, h, "tcp6", "[::]:9000")
	serveTCP(t, it.ctr, "tcp4", "0.0.0.0:80")
	return it
}

func (it *ingressTopo) setRPFilter(v int) {
	it.t.Helper()
	for _, l := range []string{"all", "em1", "em2"} {
		it.host.sysctl(fmt.Sprintf("net.ipv4.conf.%s.rp_filter=%d", l, v))
	}
}

// via makes CLIENT reach dst (an address, no prefix) through router ("R1"
// or "R2").
func (it *ingressTopo) via(dst, router string) {
	it.t.Helper()
	if strings.Contains(dst, ":") {
		it.client.ip("-6", "route", "replace", dst+"/128", "via", viaRouter6[router])
		return
	}
	it.client.ip("route", "replace", dst+"/32", "via", viaRouter[router])
}

// addIPv6 gives the topology IPv6: addresses on every link, forwarding
// routers, HOST's two defaults, VIP 2001:db8:ffff::10 on HOST's lo routed
// by both routers, and CLIENT's reverse-path filter (IPv6 has no rp_filter
// sysctl: an nftables fib check does the same).
func (it *ingressTopo) addIPv6() {
	it.t.Helper()
	h, c := it.host, it.client
	h.ips(
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
		"-6 addr add "+vip6+"/128 dev lo",
		"-6 route add default via 2001:db8:1::1 dev em1 metric 105",
		"-6 route add default via 2001:db8:2::1 dev em2 metric 106",
	)
	for i, r := range []*ns{it.r1, it.r2} {
		n := strconv.Itoa(i + 1)
		hostSide := "2001:db8:" + n + "::2"
		r.sysctl("net.ipv6.conf.all.forwarding=1")
		r.ips(
			"-6 addr add 2001:db8:"+n+"::1/64 dev up0 nodad",
			"-6 addr add 2001:db8:31:"+n+"::1/64 dev down0 nodad",
			"-6 route add default via 2001:db8:31:"+n+"::2 dev down0",
			"-6 route add "+vip6+"/128 via "+hostSide,
		)
		c.ip("-6", "addr", "add", "2001:db8:31:"+n+"::2/64", "dev", "r"+n, "nodad")
		c.ip("-6", "route", "add", "2001:db8:"+n+"::/64", "via", "2001:db8:31:"+n+"::1")
	}
	c.nft(`table inet rpf {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		fib saddr . iif oif missing drop
	}
}
`)
}

// --- TCP ------------------------------------------------------------------

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
	err := inNS(n.Name, func() (err error) {
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
	x.err = inNS(nsName, func() error {
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

// --- conntrack ------------------------------------------------------------

// ctEntry is one line of `conntrack -L`: the original direction's tuple and
// the mark.
type ctEntry struct {
	line     string
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	mark     uint32
}

// conntrack lists n's connection tracking table, both families.
func (n *ns) conntrack() []ctEntry {
	n.t.Helper()
	var out []ctEntry
	for _, fam := range []string{"ipv4", "ipv6"} {
		b, err := n.execCmd("conntrack", "-L", "-f", fam).Output()
		if err != nil {
			n.t.Fatalf("ip netns exec %s conntrack -L -f %s: %v", n.Name, fam, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			e := ctEntry{line: l}
			seen := map[string]bool{}
			for _, f := range strings.Fields(l) {
				k, v, ok := strings.Cut(f, "=")
				if !ok || seen[k] {
					continue // the reply tuple repeats the keys
				}
				seen[k] = true
				switch k {
				case "src":
					e.src, _ = netip.ParseAddr(v)
				case "dst":
					e.dst, _ = netip.ParseAddr(v)
				case "sport", "dport":
					p, _ := strconv.ParseUint(v, 10, 16)
					if k == "sport" {
						e.sport = uint16(p)
					} else {
						e.dport = uint16(p)
					}
				case "mark":
					m, _ := strconv.ParseUint(v, 10, 32)
					e.mark = uint32(m)
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// ctOf is the conntrack entry of the connection whose original direction
// came from local.
func (n *ns) ctOf(local netip.AddrPort) ctEntry {
	n.t.Helper()
	var all []string
	for _, e := range n.conntrack() {
		if e.src == local.Addr() && e.sport == local.Port() {
			return e
		}
		all = append(all, e.line)
	}
	n.t.Fatalf("no conntrack entry in %s from %s; conntrack -L:\n%s", n.Name, local, strings.Join(all, "\n"))
	return ctEntry{}
}

// ctWithValue lists the entries whose mark carries v in the mask's bits.
func (n *ns) ctWithValue(v uint32) []string {
	n.t.Helper()
	var out []string
	for _, e := range n.conntrack() {
		if e.mark&ingressMask == v {
			out = append(out, e.line)
		}
	}
	return out
}

// --- nftables, sysctl, the option's readback ------------------------------

// nft runs `nft -f -` on script inside n.
func (n *ns) nft(script string) {
	n.t.Helper()
	cmd := n.execCmd("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("ip netns exec %s nft -f -: %v\n%s\nscript:\n%s", n.Name, err, out, script)
	}
}

// nftList runs `nft list ARGS...` inside n and returns its output; a table
// that does not exist reads back as "".
func (n *ns) nftList(args ...string) string {
	n.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := n.execCmd("nft", append([]string{"list"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "No such file or directory") {
			return ""
		}
		n.t.Fatalf("ip netns exec %s nft list %s: %v\n%s", n.Name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// srcValidMark reads net.ipv4.conf.LINK.src_valid_mark inside n.
func (n *ns) srcValidMark(link string) string {
	n.t.Helper()
	out, err := n.execCmd("sysctl", "-n", "net.ipv4.conf."+link+".src_valid_mark").Output()
	if err != nil {
		n.t.Fatalf("ip netns exec %s sysctl -n net.ipv4.conf.%s.src_valid_mark: %v", n.Name, link, err)
	}
	return strings.TrimSpace(string(out))
}

// ingressValues predicts the mark value of each link of a fresh host: the
// steered links numbered from 1 in ifindex order, the number in the mask's
// bits (the default mask's lowest bit is 0x01000000).
func ingressValues(h *ns, links ...string) map[string]uint32 {
	h.t.Helper()
	links = append([]string{}, links...)
	idx := map[string]int{}
	for _, l := range links {
		idx[l] = h.ifindex(l)
	}
	sort.Slice(links, func(i, j int) bool { return idx[links[i]] < idx[links[j]] })
	out := map[string]uint32{}
	for i, l := range links {
		out[l] = uint32(i+1) << 24
	}
	return out
}

// fwmarkRule is the `ip rule` line of a link's fwmark rule, as normalize
// prints it.
func fwmarkRule(value uint32, table string) string {
	return fmt.Sprintf("32764: from all fwmark %#x/%#x lookup %s proto 234", value, ingressMask, table)
}

// ingressPass is a pass with the option, which must exit 0.
func (n *ns) ingressPass(args ...string) result {
	n.t.Helper()
	r := n.symroute(append([]string{"--once", "--follow-ingress"}, args...)...)
	if r.code != 0 {
		n.t.Fatalf("symroute-sync --once --follow-ingress in %s: want exit 0, got %s", n.Name, r)
	}
	return r
}

// assertIngressInSync runs --check --follow-ingress: exit 0, no output.
func assertIngressInSync(t *testing.T, n *ns) {
	t.Helper()
	if r := n.symroute("--check", "--follow-ingress"); r.code != 0 || r.stdout != "" {
		t.Errorf("--check --follow-ingress: want exit 0 and no output, got %s", r)
	}
}

// --- nft monitor ----------------------------------------------------------

// startNftMonitor is `nft monitor` in n; a marker is a throwaway table of
// its own. What it printed is compared without the "# new generation"
// comments that follow each transaction (the markers' included).
func startNftMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "nft monitor"}
	m.marker = func(seq int) (made, removed func(string) bool) {
		name := fmt.Sprintf("symtest_marker_%d", seq)
		for _, verb := range []string{"add", "delete"} {
			if out, err := n.execCmd("nft", verb, "table", "ip", name).CombinedOutput(); err != nil {
				t.Fatalf("nft %s table ip %s in %s: %v\n%s", verb, name, n.Name, err, out)
			}
		}
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

// shIn pipes script into `sh -e -x` inside n.
func shIn(t *testing.T, n *ns, script string) result {
	t.Helper()
	sh := n.execCmd("sh", "-e", "-x")
	sh.Stdin = strings.NewReader(script)
	return runResult(t, sh)
}

// udpStream sends small UDP datagrams from n to raddr until t ends, in
// bursts with short pauses: a steady flow of packets without taking a CPU.
func udpStream(t *testing.T, n *ns, raddr string) {
	t.Helper()
	var conn net.Conn
	if err := inNS(n.Name, func() (err error) {
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
