package e2e

// The --follow-ingress tests' bed (ingress_*_test.go): the seed with CLIENT,
// a VIP, a container behind a published port and TCP servers; the cases
// and the readback of the option's rules, nftables table, conntrack marks
// and src_valid_mark. The traffic itself is bed_traffic_test.go's.

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

const (
	vip4 = "203.0.113.10"
	vip6 = "2001:db8:ffff::10"
	// ingressMask is --ingress-mark-mask's default.
	ingressMask = uint32(0xff000000)
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
	pod *ns // behind cni0, once withPod made it
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

	it.ctr = h.sibling("ctr")
	h.ips(
		"link add docker0 type bridge",
		"addr add 172.17.0.1/16 dev docker0",
		"link set docker0 up",
	)
	veth(t, h, "vethc", "", it.ctr, "eth0", "172.17.0.2/16")
	h.ip("link", "set", "vethc", "master", "docker0")
	// The bridge comes up once its port forwards, and the kernel says so a
	// moment later (linkwatch): a monitor started before then sees a link
	// event no pass made (TestIngressNoOpPassWritesNothing did, once).
	eventually(t, "docker0 up with its port", func() error {
		if out := h.ip("-o", "link", "show", "dev", "docker0"); !strings.Contains(out, "state UP") {
			return fmt.Errorf("docker0: %s", strings.TrimSpace(out))
		}
		return nil
	})
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
	h.ips(seedIPv6...)
	h.ips(
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

// ingressCase is a TCP exchange from CLIENT to dst:port with the request
// going through router.
type ingressCase struct {
	name   string
	dst    string
	port   int
	router string
}

func (c ingressCase) addr() string { return hostPort(c.dst, c.port) }

// ingressCases are the connections per-address rules alone cannot answer
// right, or could, and must still answer right with the option on.
var ingressCases = []ingressCase{
	{"VIP via R1", vip4, 9000, "R1"},
	{"VIP via R2", vip4, 9000, "R2"},
	{"em1's address via R2", "10.0.0.2", 9000, "R2"},
	{"em2's address via R1", "192.168.0.2", 9000, "R1"},
	{"published port on em1's address via R1", "10.0.0.2", 8080, "R1"},
	{"published port on em1's address via R2", "10.0.0.2", 8080, "R2"},
	{"published port on em2's address via R1", "192.168.0.2", 8080, "R1"},
	{"published port on em2's address via R2", "192.168.0.2", 8080, "R2"},
}

// ingressRules is HOST's `ip -4 rule` with the option on, given each
// link's value.
func ingressRules(h *ns, v map[string]uint32) []string {
	h.t.Helper()
	t1, t2 := h.tables()
	return sorted(plus(seedRules(t1, t2), plus(steerRules(v["em1"], "em1", t1), steerRules(v["em2"], "em2", t2)...)...))
}

// checkIngressTable reads `nft list table inet symroute`: the two base
// chains and, per link, its Remember rule and the three rules that copy
// its value into packet marks. The exact rules are nft's to print; what
// they do is what the exchanges prove.
func checkIngressTable(t *testing.T, h *ns, v map[string]uint32) {
	t.Helper()
	got := h.nftList("table", "inet", "symroute")
	for _, want := range []string{
		"type filter hook prerouting priority mangle; policy accept;",
		"type route hook output priority mangle; policy accept;",
		`elements = { "em1", "em2" }`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("nft list table inet symroute lacks %q:\n%s", want, got)
		}
	}
	for link, val := range v {
		remember := `iif "` + link + `" ct state new fib daddr type local ct mark set`
		if n := strings.Count(got, remember); n != 1 {
			t.Errorf("nft list table inet symroute: want one %q, got %d:\n%s", remember, n, got)
		}
		set := fmt.Sprintf("meta mark set 0x%08x", val)
		if n := strings.Count(got, set); n != 3 {
			t.Errorf("nft list table inet symroute: want %q in 3 rules (from the client, replies in prerouting and in output), got %d:\n%s", set, n, got)
		}
	}
}

// otherMarks is another program's use of marks: the packet mark 0x100 on
// connections to port 9001 (priority raw, before conntrack), and bit 0x10
// in the conntrack mark of every new connection. That one runs after
// conntrack (-200), which "ct state" needs, and before symroute's chain
// (mangle, -150): at priority raw there is no conntrack entry yet, and it
// would never match.
const otherMarks = `table inet other {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport 9001 meta mark set 0x100
	}
	chain conn {
		type filter hook prerouting priority mangle - 10; policy accept;
		ct state new ct mark set ct mark or 0x00000010
	}
}
`

// ctInsert adds a conntrack entry from src to dst:9000 with mark in n, as
// another connection would have left it.
func ctInsert(n *ns, src, dst string, sport int, mark uint32) {
	n.t.Helper()
	n.run("", "conntrack", "-I", "-p", "tcp", "-s", src, "-d", dst,
		"--sport", strconv.Itoa(sport), "--dport", "9000", "--state", "ESTABLISHED",
		"-u", "ASSURED", "-t", "600", "-m", fmt.Sprintf("%#x", mark))
}

var fwmarkLine = regexp.MustCompile(`^32764: from all fwmark (0x[0-9a-f]+)/0xff000000 lookup (\d+) proto 234$`)

// fwmarkRules maps the table of each IPv4 fwmark rule to its value.
func fwmarkRules(h *ns) map[string]uint32 {
	h.t.Helper()
	out := map[string]uint32{}
	for _, l := range h.rules("4") {
		if m := fwmarkLine.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 0, 32)
			out[m[2]] = uint32(v)
		}
	}
	return out
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

// forwardRule is the `ip rule` line that routes what link's value marks as
// it comes in by main's routes other than a default.
func forwardRule(value uint32, link string) string {
	return fmt.Sprintf("32763: from all fwmark %#x/%#x iif %s lookup main suppress_prefixlength 0 proto 234", value, ingressMask, link)
}

// steerRules are a steered link's two rules.
func steerRules(value uint32, link, table string) []string {
	return []string{forwardRule(value, link), fwmarkRule(value, table)}
}

// exchange makes a TCP exchange from CLIENT to addr and returns HOST's
// conntrack entry of it.
func (it *ingressTopo) exchange(t *testing.T, addr string) ctEntry {
	t.Helper()
	return it.host.ctOf(mustTransfer(t, it.client, "", addr))
}

// assertMarked makes c's exchange, its request through c's router, and
// checks that HOST's conntrack entry of it carries mark want.
func (it *ingressTopo) assertMarked(t *testing.T, c ingressCase, want uint32) {
	t.Helper()
	it.via(c.dst, c.router)
	if e := it.exchange(t, c.addr()); e.mark != want {
		t.Errorf("conntrack mark of the connection to %s through %s: want %#x, got %#x\n%s", c.addr(), c.router, want, e.mark, e.line)
	}
}

// on turns the option on (a pass with it) and returns each uplink's
// value.
func (it *ingressTopo) on() map[string]uint32 {
	it.t.Helper()
	it.host.ingressPass()
	return ingressValues(it.host, "em1", "em2")
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
				var err error
				switch k {
				case "src":
					e.src, err = netip.ParseAddr(v)
				case "dst":
					e.dst, err = netip.ParseAddr(v)
				case "sport", "dport":
					var p uint64
					p, err = strconv.ParseUint(v, 10, 16)
					if k == "sport" {
						e.sport = uint16(p)
					} else {
						e.dport = uint16(p)
					}
				case "mark":
					// Unparsable must not read as mark 0, which tests assert.
					var m uint64
					m, err = strconv.ParseUint(v, 0, 32)
					e.mark = uint32(m)
				}
				if err != nil {
					n.t.Fatalf("conntrack -L line %q: %s: %v", l, f, err)
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
