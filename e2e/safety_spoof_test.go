package e2e

// Never weaker than plain Linux (README, "Guarantees"): a source in the
// connected subnet of one uplink, forged by someone on another uplink, is
// dropped by the host's strict reverse-path filter as it is without
// symroute, for every local address and with --follow-ingress too; and a
// port forward to a host on one uplink's subnet, arriving on another,
// reaches it through its own link. The bed is ingress_bed_test.go's, with
// the attacker at a router: each router forges an address of the other
// uplink's subnet on its loopback and reaches HOST through its own uplink.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// spoofer is a router of the bed forging a source of the other uplink's
// subnet; real is its own address on HOST's uplink, a true neighbour.
type spoofer struct {
	router       string
	forged, real string
}

var spoofers = []spoofer{
	{"R1", "192.168.0.50", "10.0.0.1"}, // on em1, forging em2's subnet
	{"R2", "10.0.0.50", "192.168.0.1"}, // on em2, forging em1's subnet
	// On em1, forging the subnet of docker0, which symroute does not
	// manage and whose carrier is down (its one container's link is).
	{"R1", "172.17.0.5", "10.0.0.1"},
}

// spoofModes are the host as plain Linux (no pass: what symroute must not
// be weaker than), after a pass, and after a pass with --follow-ingress.
var spoofModes = []struct {
	name string
	pass func(h *ns)
}{
	{"plain Linux", func(h *ns) {}},
	{"per-address rules", func(h *ns) { h.pass() }},
	{"follow-ingress", func(h *ns) { h.ingressPass() }},
}

// Spoofed datagrams and TCP handshakes to each local address of HOST (em1's,
// em2's and the VIP on lo) are dropped by its rp_filter=1; a real neighbour
// on the same path reaches the same sinks.
func TestSpoofedSourcesDropped(t *testing.T) {
	t.Parallel()
	eachSpoofMode(t, func(t *testing.T, it *ingressTopo, pass func(h *ns)) {
		h := it.host
		routers := it.forge(pass)
		for _, dst := range []string{"10.0.0.2", "192.168.0.2", vip4} {
			udp := udpSink(t, h, hostPort(dst, 9100))
			tcp := tcpSink(t, h, hostPort(dst, 9101))
			for _, s := range spoofers {
				dst, s, r := dst, s, routers[s.router]
				t.Run(s.router+" forging "+s.forged+" to "+dst, func(t *testing.T) {
					t.Parallel()
					assertSpoofDropped(t, r, s, dst, udp, tcp)
				})
			}
		}
	})
}

// The same forged sources, to a Service VIP that is on no interface and
// that HOST DNATs to a pod behind cni0 (--follow-ingress marks such
// connections by the uplink they arrive on, issue 19): dropped by HOST's
// rp_filter=1 before they reach the pod, as without symroute, while a true
// neighbour's reach it.
func TestSpoofedSourcesToDNATDropped(t *testing.T) {
	t.Parallel()
	eachSpoofMode(t, func(t *testing.T, it *ingressTopo, pass func(h *ns)) {
		it.withPod(t, "")
		// No masquerade: the pod sees the sources as sent.
		it.host.nft(`table ip spoofdnat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr ` + serviceVIP + ` udp dport 9100 dnat to ` + podAddr + `:9100
		ip daddr ` + serviceVIP + ` tcp dport 9101 dnat to ` + podAddr + `:9101
	}
}
`)
		udp := udpSink(t, it.pod, hostPort("0.0.0.0", 9100))
		tcp := tcpSink(t, it.pod, hostPort("0.0.0.0", 9101))
		routers := it.forge(pass)
		for _, s := range spoofers {
			s, r := s, routers[s.router]
			t.Run(s.router+" forging "+s.forged, func(t *testing.T) {
				t.Parallel()
				assertSpoofDropped(t, r, s, serviceVIP, udp, tcp)
			})
		}
	})
}

// forge puts each spoofer's forged source on its router's lo, takes
// docker0's one port down (its subnet is then no link's: symroute must
// still drop it), and runs pass on HOST; it returns the routers by name.
func (it *ingressTopo) forge(pass func(h *ns)) map[string]*ns {
	t, h := it.t, it.host
	t.Helper()
	routers := map[string]*ns{"R1": it.r1, "R2": it.r2}
	for _, s := range spoofers {
		routers[s.router].ip("addr", "add", s.forged+"/32", "dev", "lo")
	}
	it.ctr.ip("link", "set", "eth0", "down")
	eventually(t, "docker0's route flagged linkdown in main", func() error {
		if main := h.routes("4", "main"); !contains(main, bridgeRoute4+" linkdown") {
			return fmt.Errorf("main is %q", main)
		}
		return nil
	})
	pass(h)
	return routers
}

// eachSpoofMode runs fn on a fresh bed with strict rp_filter, once per
// mode, in parallel.
func eachSpoofMode(t *testing.T, fn func(t *testing.T, it *ingressTopo, pass func(h *ns))) {
	eachMode(t, 1, fn)
}

// eachMode runs fn on a fresh bed with HOST's rp_filter at rp, once per
// mode, in parallel.
func eachMode(t *testing.T, rp int, fn func(t *testing.T, it *ingressTopo, pass func(h *ns))) {
	for _, mode := range spoofModes {
		mode := mode
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newIngressTopo(t, rp), mode.pass)
		})
	}
}

// assertSpoofDropped sends from r forged datagrams, then a real one on the
// same path (which must arrive, so the forged ones had their chance), and
// tries a forged and a real handshake.
func assertSpoofDropped(t *testing.T, r *ns, s spoofer, dst string, udp, tcp *sink) {
	t.Helper()
	sendUDP(t, r, s.forged, hostPort(dst, 9100), 3)
	sendUDP(t, r, s.real, hostPort(dst, 9100), 1)
	if !udp.waitFor(s.real) {
		t.Errorf("a datagram from %s's own address %s to %s never arrived: the host drops a true neighbour", s.router, s.real, dst)
	} else if n := udp.count(s.forged); n != 0 {
		t.Errorf("%d datagrams forged from %s arriving through %s reached %s: strict rp_filter let them in", n, s.forged, s.router, dst)
	}
	if err := handshake(r, s.forged, hostPort(dst, 9101), 2*time.Second); err == nil || tcp.count(s.forged) != 0 {
		t.Errorf("a TCP handshake forged from %s through %s to %s completed (%d accepted at the host)", s.forged, s.router, dst, tcp.count(s.forged))
	}
	if err := handshake(r, s.real, hostPort(dst, 9101), 5*time.Second); err != nil {
		t.Errorf("a TCP handshake from %s's own address to %s: %v", s.router, dst, err)
	}
}

// portForward is HOST's forward of em1's port 8081 to target's port 80, and
// a counter of what leaves em1 for target (it must be nothing).
func portForward(target string) string {
	return `table ip forward {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iif "em1" tcp dport 8081 dnat to ` + target + `:80
	}
	chain post {
		type filter hook postrouting priority filter; policy accept;
		oif "em1" ip daddr ` + target + ` counter
	}
}
`
}

// assertForward makes R2 the host target (holding it on dev, answering
// from it by HOST), HOST's forward of em1's port 8081 to it, and a pass;
// then 300 kB each way must pass through the forward, and nothing for the
// target may leave by em1.
func assertForward(t *testing.T, it *ingressTopo, pass func(h *ns), target, prefix, dev string) {
	t.Helper()
	h, r2 := it.host, it.r2
	r2.ips(
		"addr add "+target+prefix+" dev "+dev,
		"rule add from "+target+" lookup 77",
		"route add default via 192.168.0.2 dev up0 table 77",
	)
	serveTCP(t, r2, "tcp4", hostPort(target, 80))
	h.nft(portForward(target))
	pass(h)
	it.via("10.0.0.2", "R1")
	if x := transfer(it.client.Name, "", "10.0.0.2:8081", transferSize, transferTimeout); x.err != nil {
		t.Errorf("the forward of em1's port 8081 to %s: %v", target, x.err)
	}
	if out := h.nftList("table", "ip", "forward"); !strings.Contains(out, "counter packets 0 bytes 0") {
		t.Errorf("packets for %s left by em1, the uplink they came in on:\n%s", target, out)
	}
}

// A port forward from em1 to a host on em2's subnet (R2 holds 192.168.0.77)
// carries 300 kB each way with and without --follow-ingress, and nothing
// for that host leaves by em1.
func TestPortForwardToAnotherLink(t *testing.T) {
	t.Parallel()
	eachSpoofMode(t, func(t *testing.T, it *ingressTopo, pass func(h *ns)) {
		assertForward(t, it, pass, "192.168.0.77", "/24", "up0")
	})
}

// The same to a host main reaches through em2's router (R2 holds
// 192.168.50.10 on its loopback). HOST's rp_filter is loose: with the
// option, the host's replies arrive on em2 with em1's mark, which a strict
// check of em2 would look up in em1's table (README, "Replies by ingress
// link").
func TestPortForwardBehindAnotherRouter(t *testing.T) {
	t.Parallel()
	eachMode(t, 2, func(t *testing.T, it *ingressTopo, pass func(h *ns)) {
		it.host.ip("route", "add", "192.168.50.0/24", "via", "192.168.0.1", "dev", "em2")
		assertForward(t, it, pass, "192.168.50.10", "/32", "lo")
	})
}
