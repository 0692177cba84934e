package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// --follow-ingress (README, "Replies by ingress link"): replies of a
// connection to this host leave by the link its request came in on, also
// when per-address rules cannot say so (a VIP on lo, an uplink's address
// reached through the other uplink, a published container port). The
// topology and the TCP exchange are in ingress_helpers_test.go.

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
	t1, t2 := h.table("em1"), h.table("em2")
	return plus(seedRules(t1, t2), fwmarkRule(v["em1"], t1), fwmarkRule(v["em2"], t2))
}

// 1. Without the option, connections through the "wrong" router fail:
// what the option is for, and proof that the exchanges of the other tests
// can fail. With the host's rp_filter at 0 the request gets in and its
// reply, leaving by main's default or by the other address's table, is
// dropped by CLIENT; at 1 the host drops most of the requests already.
func TestIngressWrongRouterFailsWithout(t *testing.T) {
	t.Parallel()
	for _, rp := range []int{0, 1} {
		t.Run(fmt.Sprintf("rp_filter=%d", rp), func(t *testing.T) {
			t.Parallel()
			it := newIngressTopo(t, rp)
			h, c := it.host, it.client
			h.pass()
			if got := h.nftList("table", "inet", "symroute"); got != "" {
				t.Fatalf("a pass without --follow-ingress made nftables table inet symroute:\n%s", got)
			}

			// The same topology works where main's default or a
			// per-address rule gives the right link: what fails below
			// is the path through R2.
			t.Run("controls", func(t *testing.T) {
				it.via(vip4, "R1")
				mustTransfer(t, c, "", hostPort(vip4, 9000))
				mustTransfer(t, c, "", "10.0.0.2:8080")
				mustTransfer(t, c, "", "192.168.0.2:9000")
			})

			it.via(vip4, "R2")
			it.via("10.0.0.2", "R2")
			// Each destination has its own route on CLIENT: the cases
			// can run side by side.
			t.Run("wrong router", func(t *testing.T) {
				for _, tc := range []ingressCase{
					{"VIP via R2", vip4, 9000, "R2"},
					{"em1's address via R2", "10.0.0.2", 9000, "R2"},
					{"published port on em2's address via R2", "192.168.0.2", 8080, "R2"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						t.Parallel()
						mustNotTransfer(t, c, tc.addr())
					})
				}
			})
		})
	}
}

// 2. With the option, every connection to the host works through either
// router, whatever the uplinks' rp_filter, and its conntrack entry carries
// the value of the link it came in on.
func TestIngressReplies(t *testing.T) {
	t.Parallel()
	for _, rp := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("rp_filter=%d", rp), func(t *testing.T) {
			t.Parallel()
			it := newIngressTopo(t, rp)
			h := it.host
			h.ingressPass()
			v := ingressValues(h, "em1", "em2")
			checkReadbacks(t, []readback{
				{"ip -4 rule", rulesOf(h, "4"), ingressRules(h, v)},
				{"ip -4 route show table " + h.table("em1"), tableOf(h, "4", h.table("em1")), plus(seedTable1, bridgeRoute4)},
				{"ip -4 route show table " + h.table("em2"), tableOf(h, "4", h.table("em2")), plus(seedTable2, bridgeRoute4)},
				{"src_valid_mark", func() []string {
					return []string{"em1=" + h.srcValidMark("em1"), "em2=" + h.srcValidMark("em2")}
				}, []string{"em1=1", "em2=1"}},
			})
			checkIngressTable(t, h, v)
			assertIngressInSync(t, h)

			// One CLIENT route per destination: the cases run in turn.
			for _, tc := range ingressCases {
				t.Run(tc.name, func(t *testing.T) {
					it.via(tc.dst, tc.router)
					local := mustTransfer(t, it.client, "", tc.addr())
					link := ingressLinkOf[tc.router]
					if e := h.ctOf(local); e.mark != v[link] {
						t.Errorf("conntrack mark of the connection that came in on %s: want %#x, got %#x\n%s", link, v[link], e.mark, e.line)
					}
				})
			}
		})
	}
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

// 3. Traffic the host only forwards is not steered: CLIENT reaches R1's
// 10.0.0.1 through R2 and HOST, which forwards it out of em1. Had its
// request been remembered as em2's, its packets would be routed by em2's
// table, back to R2.
func TestIngressForwardedUntouched(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	serveTCP(t, it.r1, "tcp4", "10.0.0.1:9000")
	// The return path is the request's, so CLIENT's and the routers'
	// strict rp_filter let both through.
	it.r1.ip("route", "add", "172.31.2.0/24", "via", "10.0.0.2")
	h.ip("route", "add", "172.31.2.0/24", "via", "192.168.0.1", "dev", "em2")
	it.via("10.0.0.1", "R2")
	h.ingressPass()
	v := ingressValues(h, "em1", "em2")

	local := mustTransfer(t, c, "", "10.0.0.1:9000")
	if e := h.ctOf(local); e.mark != 0 {
		t.Errorf("HOST's conntrack entry of a forwarded connection: want mark 0, got %#x\n%s", e.mark, e.line)
	}
	// The same path to the host itself is remembered: the reading above
	// can see a mark.
	local = mustTransfer(t, c, "", "192.168.0.2:9000")
	if e := h.ctOf(local); e.mark != v["em2"] {
		t.Errorf("conntrack mark of a connection to 192.168.0.2 through R2: want %#x, got %#x\n%s", v["em2"], e.mark, e.line)
	}
}

// 4. Connections the host opens are not steered, and work.
func TestIngressHostOriginatedUntouched(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	serveTCP(t, it.client, "tcp4", "0.0.0.0:9000")
	h.ingressPass()
	for _, tc := range []struct{ src, dst string }{
		{"10.0.0.2", "172.31.1.2"},
		{"192.168.0.2", "172.31.2.2"},
	} {
		t.Run("from "+tc.src, func(t *testing.T) {
			local := mustTransfer(t, h, tc.src+":0", hostPort(tc.dst, 9000))
			if e := h.ctOf(local); e.mark != 0 {
				t.Errorf("conntrack entry of a connection HOST opened: want mark 0, got %#x\n%s", e.mark, e.line)
			}
		})
	}
}

// 5. IPv6: a VIP on lo answers through either router with the option, and
// not through R2 without it.
func TestIngressIPv6(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	it.addIPv6()
	h, c := it.host, it.client
	addr := hostPort(vip6, 9000)

	h.pass()
	t.Run("without the option", func(t *testing.T) {
		it.via(vip6, "R1")
		mustTransfer(t, c, "", addr) // the topology works
		it.via(vip6, "R2")
		mustNotTransfer(t, c, addr)
	})

	h.ingressPass()
	v := ingressValues(h, "em1", "em2")
	t1, t2 := h.table("em1"), h.table("em2")
	checkReadbacks(t, []readback{
		{"ip -6 rule", rulesOf(h, "6"), []string{
			"0: from all lookup local",
			fwmarkRule(v["em1"], t1),
			fwmarkRule(v["em2"], t2),
			"32765: from 2001:db8:1::2 lookup " + t1 + " proto 234",
			"32765: from 2001:db8:2::2 lookup " + t2 + " proto 234",
			"32766: from all lookup main",
		}},
		{"ip -4 rule", rulesOf(h, "4"), ingressRules(h, v)},
	})
	assertIngressInSync(t, h)
	for _, router := range []string{"R1", "R2"} {
		t.Run("with the option via "+router, func(t *testing.T) {
			it.via(vip6, router)
			local := mustTransfer(t, c, "", addr)
			link := ingressLinkOf[router]
			if e := h.ctOf(local); e.mark != v[link] {
				t.Errorf("conntrack mark of the IPv6 connection that came in on %s: want %#x, got %#x\n%s", link, v[link], e.mark, e.line)
			}
		})
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

// 6. Only the mask's bits of the conntrack mark are ever changed, and a
// packet another program marked is not remembered.
func TestIngressForeignMarks(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	h.nft(otherMarks)
	serveTCP(t, h, "tcp4", "0.0.0.0:9001")
	h.ingressPass()
	v := ingressValues(h, "em1", "em2")

	for _, tc := range []struct {
		ingressCase
		want uint32
	}{
		// Remembered, and the other program's bit kept.
		{ingressCase{"VIP via R2", vip4, 9000, "R2"}, v["em2"] | 0x10},
		{ingressCase{"VIP via R1", vip4, 9000, "R1"}, v["em1"] | 0x10},
		// Marked by the other program: never remembered (through R1,
		// where main's default answers it).
		{ingressCase{"VIP via R1 to a marked port", vip4, 9001, "R1"}, 0x10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it.via(tc.dst, tc.router)
			local := mustTransfer(t, c, "", tc.addr())
			if e := h.ctOf(local); e.mark != tc.want {
				t.Errorf("conntrack mark: want %#x, got %#x\n%s", tc.want, e.mark, e.line)
			}
		})
	}
}

// ctInsert adds a conntrack entry from src to dst:9000 with mark in n, as
// another connection would have left it.
func ctInsert(t *testing.T, n *ns, src, dst string, sport int, mark uint32) {
	t.Helper()
	out, err := n.execCmd("conntrack", "-I", "-p", "tcp", "-s", src, "-d", dst,
		"--sport", strconv.Itoa(sport), "--dport", "9000", "--state", "ESTABLISHED",
		"-u", "ASSURED", "-t", "600", "-m", fmt.Sprintf("%#x", mark)).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s conntrack -I ... -m %#x: %v\n%s", n.Name, mark, err, out)
	}
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

// 7. A link deleted and made again (same name, new ifindex) is a new link:
// the old value's conntrack entries are forgotten, its rule and table go,
// and the new link gets a value of its own.
func TestIngressLinkRecreated(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	h.ingressPass()
	v := ingressValues(h, "em1", "em2")
	oldIndex, oldTable, t1 := h.ifindex("em2"), h.table("em2"), h.table("em1")

	it.via(vip4, "R2")
	local := mustTransfer(t, c, "", hostPort(vip4, 9000))
	if e := h.ctOf(local); e.mark != v["em2"] {
		t.Fatalf("conntrack mark through R2 before: want %#x, got %#x\n%s", v["em2"], e.mark, e.line)
	}
	// Entries with em2's value (one with another program's bit too, one
	// IPv6: forgetting goes by mark, in both families), and one of em1's,
	// which must stay.
	ctInsert(t, h, "172.31.2.2", vip4, 40001, v["em2"]|0x10)
	ctInsert(t, h, "2001:db8:31:2::2", vip6, 40001, v["em2"])
	ctInsert(t, h, "172.31.1.2", vip4, 40002, v["em1"])

	h.ip("link", "del", "em2") // and R2's end with it
	veth(t, h, "em2", "192.168.0.2/24", it.r2, "up0", "192.168.0.1/24")
	it.r2.sysctl("net.ipv4.conf.up0.rp_filter=1")
	it.r2.ips(
		"route add "+vip4+"/32 via 192.168.0.2",
		"route add 10.0.0.0/16 via 192.168.0.2",
	)
	h.ip("route", "add", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")
	h.sysctl("net.ipv4.conf.em2.rp_filter=1")
	newIndex, newTable := h.ifindex("em2"), h.table("em2")
	if newIndex == oldIndex {
		t.Fatalf("setup: em2 made again kept ifindex %d", oldIndex)
	}

	h.ingressPass()
	if left := h.ctWithValue(v["em2"]); len(left) > 0 {
		t.Errorf("conntrack entries still carrying the old em2's value %#x:\n%s", v["em2"], strings.Join(left, "\n"))
	}
	if e := h.ctOf(netip.MustParseAddrPort("172.31.1.2:40002")); e.mark != v["em1"] {
		t.Errorf("em1's conntrack entry: want mark %#x kept, got %#x\n%s", v["em1"], e.mark, e.line)
	}
	marks := fwmarkRules(h)
	newValue := marks[newTable]
	switch {
	case newValue == 0:
		t.Errorf("no fwmark rule looks up the new em2's table %s; rules:\n%s", newTable, strings.Join(h.rules("4"), "\n"))
	case newValue == v["em2"] || newValue == v["em1"]:
		t.Errorf("the new em2 got value %#x, already the old em2's or em1's", newValue)
	}
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), plus(seedRules(t1, newTable), fwmarkRule(v["em1"], t1), fwmarkRule(newValue, newTable))},
		{"old em2's table " + oldTable, tableOf(h, "4", oldTable), nil},
		{"new em2's table " + newTable, tableOf(h, "4", newTable), plus(seedTable2, bridgeRoute4)},
		{"src_valid_mark of the new em2", func() []string { return []string{h.srcValidMark("em2")} }, []string{"1"}},
	})
	assertIngressInSync(t, h)

	local = mustTransfer(t, c, "", hostPort(vip4, 9000))
	if e := h.ctOf(local); e.mark != newValue {
		t.Errorf("conntrack mark through R2 after: want the new em2's %#x, got %#x\n%s", newValue, e.mark, e.line)
	}
}

// 8. A pass on a host in sync writes nothing: no netlink change, no
// nftables transaction.
func TestIngressNoOpPassWritesNothing(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	h.ingressPass()

	ipm, nftm := startMonitor(t, h), startNftMonitor(t, h)
	var second result
	var nftGot []string
	ipGot := ipm.during(func() {
		nftGot = nftm.during(func() { second = h.ingressPass() })
	})
	if diff := cmp.Diff([]string{}, ipGot); diff != "" {
		t.Errorf("ip monitor during a pass on a synced host (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{}, nftGot); diff != "" {
		t.Errorf("nft monitor during a pass on a synced host (-want +got):\n%s", diff)
	}
	if second.stderr != "" {
		t.Errorf("a pass that changed nothing logged (want silence):\n%s", second.stderr)
	}

	// The nft monitor does see a pass that has the table to write: the
	// measurement can fail.
	if out, err := h.execCmd("nft", "delete", "table", "inet", "symroute").CombinedOutput(); err != nil {
		t.Fatalf("nft delete table inet symroute: %v\n%s", err, out)
	}
	nftGot = nftm.during(func() { h.ingressPass() })
	if !contains(nftGot, "add table inet symroute") {
		t.Errorf("nft monitor during the pass after the table was deleted: want \"add table inet symroute\", got:\n%s", strings.Join(nftGot, "\n"))
	}

	// A rule added to the table by hand is drift: --check says so, and
	// the next pass writes the table anew, without it.
	if out, err := h.execCmd("nft", "add", "rule", "inet", "symroute", "prerouting", "counter").CombinedOutput(); err != nil {
		t.Fatalf("nft add rule inet symroute prerouting counter: %v\n%s", err, out)
	}
	if r := h.symroute("--check", "--follow-ingress"); r.code != 3 || !strings.Contains(r.stdout, "nft -f -") {
		t.Errorf("--check --follow-ingress with a rule added by hand: want exit 3 and the table's rewrite, got %s", r)
	}
	h.ingressPass()
	if got := h.nftList("table", "inet", "symroute"); strings.Contains(got, "counter") {
		t.Errorf("the rule added by hand survived a pass:\n%s", got)
	}
	assertIngressInSync(t, h)
}

// 9. Without the option a pass takes it all back but the per-address
// rules; --flush, with or without the option, takes everything back.
// src_valid_mark goes back to 0 only where symroute set it, and other
// programs' nftables tables are never touched.
func TestIngressOffAndFlush(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	h.nft(otherMarks)
	// Someone else's: symroute must leave it on.
	h.sysctl("net.ipv4.conf.em1.src_valid_mark=1")
	t1, t2 := h.table("em1"), h.table("em2")
	dumpBefore, rulesetBefore := h.dump(), h.nftList("ruleset")
	foreign := func() []string {
		return []string{h.nftList("table", "ip", "dockerish"), h.nftList("table", "inet", "other")}
	}
	foreignBefore := foreign()
	svm := func() []string {
		return []string{"em1=" + h.srcValidMark("em1"), "em2=" + h.srcValidMark("em2")}
	}
	// The mark of the entry with only the other program's bit.
	const foreignOnly = uint32(0x10)

	// on turns the option on, with a connection through each router and
	// an entry that carries no value, and checks what a pass made.
	on := func(t *testing.T) map[string]uint32 {
		t.Helper()
		h.ingressPass()
		v := ingressValues(h, "em1", "em2")
		if diff := cmp.Diff(sorted(ingressRules(h, v)), h.rules("4")); diff != "" {
			t.Fatalf("ip -4 rule with the option (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"em1=1", "em2=1"}, svm()); diff != "" {
			t.Fatalf("src_valid_mark with the option (-want +got):\n%s", diff)
		}
		for _, r := range []string{"R1", "R2"} {
			it.via(vip4, r)
			local := mustTransfer(t, c, "", hostPort(vip4, 9000))
			if want, e := v[ingressLinkOf[r]]|0x10, h.ctOf(local); e.mark != want {
				t.Fatalf("conntrack mark through %s: want %#x, got %#x\n%s", r, want, e.mark, e.line)
			}
		}
		return v
	}
	noneLeft := func(t *testing.T, v map[string]uint32) {
		t.Helper()
		for link, val := range v {
			if left := h.ctWithValue(val); len(left) > 0 {
				t.Errorf("conntrack entries still carrying %s's value %#x:\n%s", link, val, strings.Join(left, "\n"))
			}
		}
	}
	foreignSame := func(t *testing.T) {
		t.Helper()
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("nft list table ip dockerish, inet other (-before +after):\n%s", diff)
		}
	}

	v := on(t)
	ctInsert(t, h, "172.31.2.2", vip4, 40003, foreignOnly)
	foreignSame(t)

	t.Run("pass without the option", func(t *testing.T) {
		h.pass()
		if got := h.nftList("table", "inet", "symroute"); got != "" {
			t.Errorf("table inet symroute is still there:\n%s", got)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule (per-address rules kept)", rulesOf(h, "4"), seedRules(t1, t2)},
			{"src_valid_mark (em1's was on before)", svm, []string{"em1=1", "em2=0"}},
		})
		noneLeft(t, v)
		if e := h.ctOf(netip.MustParseAddrPort("172.31.2.2:40003")); e.mark != foreignOnly {
			t.Errorf("the conntrack entry with only another program's bit: want mark %#x kept, got %#x\n%s", foreignOnly, e.mark, e.line)
		}
		foreignSame(t)
		assertInSync(t, h)
	})

	for _, flush := range [][]string{{"--flush"}, {"--flush", "--follow-ingress"}} {
		name := strings.Join(flush, " ")
		v := on(t)
		t.Run(name, func(t *testing.T) {
			if r := h.symroute(flush...); r.code != 0 {
				t.Fatalf("%s: want exit 0, got %s", name, r)
			}
			if diff := cmp.Diff(dumpBefore, h.dump()); diff != "" {
				t.Errorf("rules and routes (-before the first pass +after %s):\n%s", name, diff)
			}
			if diff := cmp.Diff(rulesetBefore, h.nftList("ruleset")); diff != "" {
				t.Errorf("nft list ruleset (-before the first pass +after %s):\n%s", name, diff)
			}
			if diff := cmp.Diff([]string{"em1=1", "em2=0"}, svm()); diff != "" {
				t.Errorf("src_valid_mark (em1's was on before) (-want +got):\n%s", diff)
			}
			noneLeft(t, v)
			foreignSame(t)
			if r := h.symroute(append(flush, "--dry-run")...); r.code != 0 || r.stdout != "" {
				t.Errorf("%s --dry-run after the flush: want exit 0 and no output, got %s", name, r)
			}
		})
	}
}

// 10. --dry-run --follow-ingress is a shell script: replayed by sh inside
// the namespace, it leaves the host in sync, and connections work.
func TestIngressDryRunReplays(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client

	check := h.symroute("--check", "--follow-ingress")
	if check.code != 3 {
		t.Fatalf("--check --follow-ingress on an unsynced host: want exit 3, got %s", check)
	}
	dry := h.symroute("--dry-run", "--follow-ingress")
	if dry.code != 0 {
		t.Fatalf("--dry-run --follow-ingress: want exit 0, got %s", dry)
	}
	if diff := cmp.Diff(dry.stdout, check.stdout); diff != "" {
		t.Errorf("--check's drift differs from --dry-run's plan (-dry-run +check):\n%s", diff)
	}
	for _, want := range []string{
		"nft -f - <<'SYMROUTE_NFT'\n",
		"\nSYMROUTE_NFT\n",
		"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=1'\n",
		"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'\n",
	} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("--dry-run --follow-ingress lacks %q:\n%s", want, dry.stdout)
		}
	}
	if r := shIn(t, h, dry.stdout); r.code != 0 {
		t.Fatalf("replaying --dry-run --follow-ingress with sh inside %s: %s\nplan:\n%s", h.Name, r, dry.stdout)
	}
	assertIngressInSync(t, h)
	if r := h.symroute("--dry-run", "--follow-ingress"); r.code != 0 || r.stdout != "" {
		t.Errorf("--dry-run --follow-ingress after the replay: want exit 0 and no output, got %s", r)
	}

	v := ingressValues(h, "em1", "em2")
	for _, tc := range []ingressCase{
		{"VIP via R2", vip4, 9000, "R2"},
		{"published port on em1's address via R2", "10.0.0.2", 8080, "R2"},
		{"em2's address via R1", "192.168.0.2", 9000, "R1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it.via(tc.dst, tc.router)
			local := mustTransfer(t, c, "", tc.addr())
			if want, e := v[ingressLinkOf[tc.router]], h.ctOf(local); e.mark != want {
				t.Errorf("conntrack mark: want %#x, got %#x\n%s", want, e.mark, e.line)
			}
		})
	}
}

// 11. A bad mask is refused before anything is touched, on a fresh host
// and on one where the option is on.
func TestIngressBadMask(t *testing.T) {
	t.Parallel()
	testns.RequirePrograms(t, "nftables", "nft")
	s := newSeed(t, false) // not in sync: a pass would change things
	h := s.host
	state := func() []string {
		return append(h.dump(), "nft: "+h.nftList("ruleset"),
			"em1 src_valid_mark="+h.srcValidMark("em1"), "em2 src_valid_mark="+h.srcValidMark("em2"))
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(conf, []byte("follow-ingress = true\ningress-mark-mask = 0x100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cases [][]string
	for _, m := range []string{"0", "0x100", "junk", "0377", "0x1ff000000"} {
		cases = append(cases,
			[]string{"--once", "--follow-ingress", "--ingress-mark-mask", m},
			[]string{"--flush", "--ingress-mark-mask", m})
	}
	cases = append(cases, []string{"--config", conf, "--once"})
	refused := func(t *testing.T) {
		before := state()
		for _, args := range cases {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := h.symroute(args...)
				if r.code != 2 {
					t.Errorf("want exit 2, got %s", r)
				}
				if !strings.Contains(r.stderr, "ingress-mark-mask") {
					t.Errorf("stderr should name ingress-mark-mask:\n%s", r.stderr)
				}
				if diff := cmp.Diff(before, state()); diff != "" {
					t.Errorf("rules, routes, nftables or src_valid_mark changed (-before +after):\n%s", diff)
				}
			})
		}
	}
	t.Run("fresh host", refused)
	before := state()
	h.ingressPass()
	// The same host does change with good input: the comparison can fail.
	if diff := cmp.Diff(before, state()); diff == "" {
		t.Fatal("a good pass changed nothing either: the comparison proves nothing")
	}
	t.Run("option on", refused)
}

// Beyond the list: a link that loses its address stops being steered (its
// value retired, its entries forgotten) while every other link keeps its
// value; with its address back it is steered again, by a value no other
// link holds.
func TestIngressValuesKept(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	h.ingressPass()
	v := ingressValues(h, "em1", "em2")
	t1, t2 := h.table("em1"), h.table("em2")
	it.via("192.168.0.2", "R1")
	local := mustTransfer(t, c, "", "192.168.0.2:9000")
	if e := h.ctOf(local); e.mark != v["em1"] {
		t.Fatalf("conntrack mark through R1: want %#x, got %#x\n%s", v["em1"], e.mark, e.line)
	}

	h.ip("addr", "del", "10.0.0.2/16", "dev", "em1")
	h.ingressPass()
	checkReadbacks(t, []readback{
		{"ip -4 rule without em1's address", rulesOf(h, "4"), []string{
			"0: from all lookup local",
			fwmarkRule(v["em2"], t2),
			"32765: from 192.168.0.2 lookup " + t2 + " proto 234",
			"32766: from all lookup main",
			"32767: from all lookup default",
		}},
	})
	if left := h.ctWithValue(v["em1"]); len(left) > 0 {
		t.Errorf("conntrack entries still carrying em1's retired value %#x:\n%s", v["em1"], strings.Join(left, "\n"))
	}
	assertIngressInSync(t, h)

	h.ip("addr", "add", "10.0.0.2/16", "dev", "em1")
	h.ip("route", "replace", "default", "via", "10.0.0.1", "dev", "em1", "metric", "105")
	h.ingressPass()
	marks := fwmarkRules(h)
	if marks[t2] != v["em2"] {
		t.Errorf("em2's value changed from %#x to %#x while em2 kept being steered", v["em2"], marks[t2])
	}
	if marks[t1] == 0 || marks[t1] == v["em2"] {
		t.Errorf("em1's value with its address back: want one of its own, got %#x (em2 holds %#x)", marks[t1], v["em2"])
	}
	local = mustTransfer(t, c, "", "192.168.0.2:9000")
	if e := h.ctOf(local); e.mark != marks[t1] {
		t.Errorf("conntrack mark through R1 after: want %#x, got %#x\n%s", marks[t1], e.mark, e.line)
	}
	assertIngressInSync(t, h)
}

// Beyond the list: another mask moves every link to values under it, and
// forgets the entries of the old ones.
func TestIngressMaskChanged(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	h.ingressPass()
	v := ingressValues(h, "em1", "em2")
	it.via(vip4, "R2")
	mustTransfer(t, c, "", hostPort(vip4, 9000))

	const mask = "0x00ff0000"
	h.ingressPass("--ingress-mark-mask", mask)
	for link, val := range v {
		if left := h.ctWithValue(val); len(left) > 0 {
			t.Errorf("conntrack entries still carrying %s's value %#x under the old mask:\n%s", link, val, strings.Join(left, "\n"))
		}
	}
	var fw []string
	for _, l := range h.rules("4") {
		if strings.Contains(l, "fwmark") {
			fw = append(fw, l)
		}
	}
	// The values under the new mask, by ifindex as ever.
	want := map[string]uint32{}
	for link, val := range v {
		want[link] = val >> 8
	}
	if diff := cmp.Diff(sorted([]string{
		fmt.Sprintf("32764: from all fwmark %#x/0xff0000 lookup %s proto 234", want["em1"], h.table("em1")),
		fmt.Sprintf("32764: from all fwmark %#x/0xff0000 lookup %s proto 234", want["em2"], h.table("em2")),
	}), fw); diff != "" {
		t.Errorf("fwmark rules under mask %s (-want +got):\n%s", mask, diff)
	}
	if r := h.symroute("--check", "--follow-ingress", "--ingress-mark-mask", mask); r.code != 0 || r.stdout != "" {
		t.Errorf("--check with the new mask: want exit 0 and no output, got %s", r)
	}
	local := mustTransfer(t, c, "", hostPort(vip4, 9000))
	if e := h.ctOf(local); e.mark != want["em2"] {
		t.Errorf("conntrack mark through R2 under mask %s: want %#x, got %#x\n%s", mask, want["em2"], e.mark, e.line)
	}
}

// Beyond the list: a retired value must be gone from conntrack once the
// pass that retired it is over, also while the link still carries traffic
// of its connections, or a later pass hands the value to another link and
// those replies follow that link's table.
//
// A UDP stream from CLIENT to the VIP through R2 keeps em2's entry alive;
// the host's rp_filter is 0: with strict rp_filter the pass's earlier
// src_valid_mark reset makes the host drop the stream's packets for a
// moment, which hides what this looks at. A packet that arrives after the
// entries are forgotten but while the table still remembers em2 makes an
// entry with the retired value again: the table must go (or stop naming
// the link) before the forgetting, not after.
func TestIngressRetiredValueForgottenUnderTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		retire  func(t *testing.T, it *ingressTopo)
		restore func(t *testing.T, it *ingressTopo)
	}{
		{"option turned off", func(t *testing.T, it *ingressTopo) { it.host.pass() }, nil},
		{"--flush", func(t *testing.T, it *ingressTopo) {
			if r := it.host.symroute("--flush"); r.code != 0 {
				t.Fatalf("--flush: want exit 0, got %s", r)
			}
		}, nil},
		{"em2's address removed", func(t *testing.T, it *ingressTopo) {
			it.host.ip("addr", "del", "192.168.0.2/24", "dev", "em2")
			it.host.ingressPass()
		}, func(t *testing.T, it *ingressTopo) {
			it.host.ip("addr", "add", "192.168.0.2/24", "dev", "em2")
			it.host.ip("route", "replace", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := newIngressTopo(t, 0)
			h := it.host
			it.via(vip4, "R2")
			udpStream(t, it.client, hostPort(vip4, 9999))
			// Each round is a fresh chance for a packet to fall between
			// the two steps.
			for round := 1; round <= 40; round++ {
				h.ingressPass()
				v := fwmarkRules(h)[h.table("em2")]
				eventually(t, "the stream's conntrack entry carries em2's value", func() error {
					if len(h.ctWithValue(v)) == 0 {
						return errorf("no entry with mark %#x", v)
					}
					return nil
				})
				tc.retire(t, it)
				if left := h.ctWithValue(v); len(left) > 0 {
					t.Fatalf("round %d: after the pass that retired em2's value %#x, conntrack still has:\n%s", round, v, strings.Join(left, "\n"))
				}
				if tc.restore != nil {
					tc.restore(t, it)
				}
			}
		})
	}
}

// Beyond the list: the plans that take the option back (--flush, a pass
// without it) replay under `sh -e` like every other plan, also when no
// connection carries a value: conntrack(8) exits 1 when it deletes nothing,
// and sh -e would stop there, half way.
func TestIngressTakeBackPlanReplaysInSh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"--flush --dry-run", []string{"--flush", "--dry-run"}},
		{"--dry-run without the option", []string{"--dry-run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testns.RequirePrograms(t, "nftables", "nft")
			testns.RequirePrograms(t, "conntrack", "conntrack")
			s := newSeed(t, false)
			h := s.host
			h.ingressPass()
			dry := h.symroute(tc.args...)
			if dry.code != 0 || !strings.Contains(dry.stdout, "nft delete table inet symroute\n") {
				t.Fatalf("%s with the option on: want exit 0 and a plan that deletes the table, got %s", tc.name, dry)
			}
			if r := shIn(t, h, dry.stdout); r.code != 0 {
				t.Fatalf("replaying %s with sh -e inside %s: %s\nplan:\n%s", tc.name, h.Name, r, dry.stdout)
			}
			if r := h.symroute(tc.args...); r.code != 0 || r.stdout != "" {
				t.Errorf("%s after the replay: want exit 0 and no output, got %s", tc.name, r)
			}
		})
	}
}
