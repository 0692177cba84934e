package e2e

// A way out for every link (README, "Links without a gateway"): where main
// holds no default through an uplink, its table gets one of symroute's
// from --gateway (and, in the stacks' tests, from a lease or a router
// advertisement), so replies from its addresses leave by it; main's own
// default always wins; a link left without one is warned of. The bed is
// ingress_bed_test.go's, with em2's defaults taken out of main.

import (
	"path/filepath"
	"strings"
	"testing"
)

// noWayOutBed is the ingress bed (CLIENT behind strict routers, a TCP
// server on HOST's addresses) with IPv6, less main's defaults through em2.
func noWayOutBed(t *testing.T) *ingressTopo {
	t.Helper()
	it := newIngressTopo(t, 0)
	it.addIPv6()
	it.host.ips(
		"route del default via 192.168.0.1 dev em2",
		"-6 route del default via 2001:db8:2::1 dev em2",
	)
	it.via("192.168.0.2", "R2")
	it.via("2001:db8:2::2", "R2")
	return it
}

const (
	// vip6Route is main's route of the IPv6 VIP on lo, which every table
	// gets (lo is no link symroute manages).
	vip6Route = vip6 + " dev lo proto kernel metric 256 pref medium"
	wayOut4   = "default via 192.168.0.1 dev em2 proto 234"
	wayOut6   = "default via 2001:db8:2::1 dev em2 proto 234 metric 1 pref medium"
)

func TestGatewayStatic(t *testing.T) {
	t.Parallel()
	it := noWayOutBed(t)
	h, c := it.host, it.client
	t2 := h.table("em2")
	gw := []string{"--gateway", "em2=192.168.0.1", "--gateway", "em2=2001:db8:2::1"}

	// Without a way out, em2's replies leave by em1 and the strict
	// routers drop them; a pass says so.
	r := h.pass()
	for _, fam := range []string{"IPv4", "IPv6"} {
		if !strings.Contains(r.stderr, "link em2 has no way out in "+fam) {
			t.Errorf("a pass with em2 without a default in %s: no warning of it:\n%s", fam, r.stderr)
		}
	}
	mustNotTransfer(t, c, "192.168.0.2:9000")
	mustNotTransfer(t, c, "[2001:db8:2::2]:9000")

	if r := h.symroute(append([]string{"--once"}, gw...)...); r.code != 0 || strings.Contains(r.stderr, "no way out") {
		t.Fatalf("a pass with --gateway: want exit 0 and no warning of a way out, got %s", r)
	}
	checkReadbacks(t, []readback{
		{"em2's IPv4 table", tableOf(h, "4", t2), plus(seedMirror2[:1], seedThrow2, wayOut4, bridgeRoute4)},
		{"em2's IPv6 table", tableOf(h, "6", t2), []string{"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium", wayOut6, linkLocal6("em2"),
			"throw 2001:db8:1::/64 dev lo proto 234 metric 256 pref medium", vip6Route}},
	})
	mustTransfer(t, c, "", "192.168.0.2:9000")
	mustTransfer(t, c, "", "[2001:db8:2::2]:9000")
	assertNoPlan(t, h, append([]string{"--check"}, gw...)...)
	assertNoPlan(t, h, append([]string{"--dry-run"}, gw...)...)

	// main's own default through em2 wins: symroute's goes, main's is
	// copied.
	h.ip("route", "add", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")
	if r := h.symroute(append([]string{"--once"}, gw...)...); r.code != 0 {
		t.Fatalf("a pass with main's default back: %s", r)
	}
	if got := h.routes("4", t2); contains(got, wayOut4) || !contains(got, "default via 192.168.0.1 dev em2 metric 106") {
		t.Errorf("em2's table with main's default through em2 and --gateway: want main's copied, not symroute's:\n%s", strings.Join(got, "\n"))
	}
	h.ip("route", "del", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")

	// The option dropped: symroute's defaults go with it.
	h.pass()
	if got := plus(h.routes("4", t2), h.routes("6", t2)...); contains(got, wayOut4) || contains(got, wayOut6) {
		t.Errorf("em2's tables after a pass without --gateway still hold symroute's defaults:\n%s", strings.Join(got, "\n"))
	}
	// A link with no router on purpose, said so in the config file: no
	// default and no warning.
	conf := filepath.Join(t.TempDir(), "symroute.conf")
	writeFile(t, conf, "gateway = em2=none\n", 0o600)
	if r := h.symroute("--once", "--config", conf); r.code != 0 || r.stderr != "" {
		t.Errorf("a pass with gateway = em2=none: want exit 0 and silence, got %s", r)
	}
	if got := plus(h.routes("4", t2), h.routes("6", t2)...); contains(got, wayOut4) || contains(got, wayOut6) {
		t.Errorf("em2's tables with gateway = em2=none hold symroute's defaults:\n%s", strings.Join(got, "\n"))
	}
	if r := h.symroute(append([]string{"--once"}, gw...)...); r.code != 0 {
		t.Fatal(r)
	}
	if r := h.symroute("--flush"); r.code != 0 || len(h.routes("4", t2))+len(h.routes("6", t2)) != 0 {
		t.Errorf("--flush: want exit 0 and em2's tables empty, got %s\n%v %v", r, h.routes("4", t2), h.routes("6", t2))
	}
}

// The first host of a link's subnet, for every link a glob matches, where
// main has no default through it (Azure's convention); an IPv6 link-local
// router given by hand.
func TestGatewayFirstHostAndLinkLocal(t *testing.T) {
	t.Parallel()
	it := noWayOutBed(t)
	h, c := it.host, it.client
	t1, t2 := h.tables()
	ll := linkLocal(t, it.r2, "up0")
	if r := h.symroute("--once", "--gateway", "em*=first-host", "--gateway", "em2="+ll); r.code != 0 {
		t.Fatalf("a pass with first-host: %s", r)
	}
	checkReadbacks(t, []readback{
		{"em1's IPv4 table (main's default)", tableOf(h, "4", t1), plus(seedMirror1, bridgeRoute4)},
		{"em2's IPv4 table", tableOf(h, "4", t2), plus(seedMirror2[:1], seedThrow2, wayOut4, bridgeRoute4)},
	})
	if got := h.routes("6", t2); !contains(got, "default via "+ll+" dev em2 proto 234 metric 1 pref medium") {
		t.Errorf("em2's IPv6 table: no default via its router's link-local %s:\n%s", ll, strings.Join(got, "\n"))
	}
	mustTransfer(t, c, "", "192.168.0.2:9000")
	mustTransfer(t, c, "", "[2001:db8:2::2]:9000")
}
