package e2e

// --follow-ingress (README, "Replies by ingress link"): replies of a
// connection to this host leave by the link its request came in on, also
// when per-address rules cannot say so (a VIP on lo, an uplink's address
// reached through the other uplink, a published container port), and only
// those: forwarded traffic, connections the host opens and packets another
// program marked are left alone. The bed is ingress_bed_test.go.

import (
	"fmt"
	"testing"
)

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
			v := it.on()
			checkReadbacks(t, []readback{
				{"ip -4 rule", rulesOf(h, "4"), ingressRules(h, v)},
				{"ip -4 route show table " + h.table("em1"), tableOf(h, "4", h.table("em1")), plus(seedMirror1, bridgeRoute4)},
				{"ip -4 route show table " + h.table("em2"), tableOf(h, "4", h.table("em2")), plus(seedMirror2, bridgeRoute4)},
				{"src_valid_mark", func() []string {
					return []string{"em1=" + h.srcValidMark("em1"), "em2=" + h.srcValidMark("em2")}
				}, []string{"em1=1", "em2=1"}},
			})
			checkIngressTable(t, h, v)
			assertInSync(t, h, "--follow-ingress")

			// One CLIENT route per destination: the cases run in turn.
			for _, tc := range ingressCases {
				t.Run(tc.name, func(t *testing.T) { it.assertMarked(t, tc, v[ingressLinkOf[tc.router]]) })
			}
		})
	}
}

// 3. Traffic the host only forwards is not steered: CLIENT reaches R1's
// 10.0.0.1 through R2 and HOST, which forwards it out of em1. Had its
// request been remembered as em2's, its packets would be routed by em2's
// table, back to R2.
func TestIngressForwardedUntouched(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	serveTCP(t, it.r1, "tcp4", "10.0.0.1:9000")
	// The return path is the request's, so CLIENT's and the routers'
	// strict rp_filter let both through.
	it.r1.ip("route", "add", "172.31.2.0/24", "via", "10.0.0.2")
	h.ip("route", "add", "172.31.2.0/24", "via", "192.168.0.1", "dev", "em2")
	it.via("10.0.0.1", "R2")
	v := it.on()

	if e := it.exchange(t, "10.0.0.1:9000"); e.mark != 0 {
		t.Errorf("HOST's conntrack entry of a forwarded connection: want mark 0, got %#x\n%s", e.mark, e.line)
	}
	// The same path to the host itself is remembered: the reading above
	// can see a mark.
	if e := it.exchange(t, "192.168.0.2:9000"); e.mark != v["em2"] {
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

	v := it.on()
	t1, t2 := h.tables()
	checkReadbacks(t, []readback{
		{"ip -6 rule", rulesOf(h, "6"), []string{
			"0: from all lookup local",
			forwardRule(v["em1"], "em1"),
			forwardRule(v["em2"], "em2"),
			fwmarkRule(v["em1"], t1),
			fwmarkRule(v["em2"], t2),
			ruleLine("2001:db8:1::2", t1),
			ruleLine("2001:db8:2::2", t2),
			oifRuleLine("em1", t1),
			oifRuleLine("em2", t2),
			"32766: from all lookup main",
		}},
		{"ip -4 rule", rulesOf(h, "4"), ingressRules(h, v)},
	})
	assertInSync(t, h, "--follow-ingress")
	for _, router := range []string{"R1", "R2"} {
		t.Run("with the option via "+router, func(t *testing.T) {
			it.assertMarked(t, ingressCase{"", vip6, 9000, router}, v[ingressLinkOf[router]])
		})
	}
}

// 6. Only the mask's bits of the conntrack mark are ever changed, and a
// packet another program marked is not remembered.
func TestIngressForeignMarks(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	h.nft(otherMarks)
	serveTCP(t, h, "tcp4", "0.0.0.0:9001")
	v := it.on()

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
		t.Run(tc.name, func(t *testing.T) { it.assertMarked(t, tc.ingressCase, tc.want) })
	}
}
