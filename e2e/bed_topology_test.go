package e2e

// The test bed's network: the one topology the tests build (a few make a
// HOST and a bare PEER instead), with static addresses (newSeed) or served
// by DHCP (newDHCPNet, bed_dhcp_test.go), with or without CLIENT:
//
//	CLIENT 172.31.1.2 --- 172.31.1.1 down0 R1 up0 10.0.0.1/16    --- em1 HOST
//	       172.31.2.2 --- 172.31.2.1 down0 R2 up0 192.168.0.1/24 --- em2 HOST
//
// Kept in e2e: it is made of newNS and veth, which fail their test.

import (
	"fmt"
	"testing"

	"github.com/symroute/symroute/internal/testns"
)

// remote is on the loopback of both routers: a ping to it from an address
// of HOST gets an answer only when it leaves by that address's uplink, since
// the other router has no route back to the address.
const remote = "198.51.100.1"

// uplinkNets are em1's and em2's networks: the router's address, the pool
// its DHCP server hands out, and the network to CLIENT.
var uplinkNets = [2]struct{ link, gw, net, lo, hi, mask, toClient string }{
	{"em1", "10.0.0.1", "10.0.0.1/16", "10.0.0.100", "10.0.0.200", "255.255.0.0", "172.31.1"},
	{"em2", "192.168.0.1", "192.168.0.1/24", "192.168.0.100", "192.168.0.200", "255.255.255.0", "172.31.2"},
}

// seed is HOST with uplinks em1 (to R1) and em2 (to R2) and, if added, a
// CLIENT behind both routers.
type seed struct {
	t                    *testing.T
	host, r1, r2, client *ns
	// With DHCP (serveDHCP): each router's dnsmasq, its files, and whether
	// it sends the default route as classless static routes.
	dnsmasq   [2]*daemon
	dhcpDir   string
	classless bool
}

func (s *seed) routers() [2]*ns { return [2]*ns{s.r1, s.r2} }

// newUplinks makes HOST, R1 and R2 and links em1 and em2 to up0 of each
// router, which holds its uplink's router address and remote, and filters
// reverse paths strictly. em1 first, then em2: their ifindexes follow
// creation order, but the tests read them back rather than assume them.
func newUplinks(t *testing.T) *seed {
	t.Helper()
	testns.RequireRoot(t)
	s := &seed{t: t, host: newNS(t, "host")}
	s.r1, s.r2 = s.host.sibling("r1"), s.host.sibling("r2")
	for i, r := range s.routers() {
		veth(t, s.host, uplinkNets[i].link, "", r, "up0", uplinkNets[i].net)
		r.ip("addr", "add", remote+"/32", "dev", "lo")
		r.sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.up0.rp_filter=1")
	}
	return s
}

// newSeed builds the seed of the package doc: em1 10.0.0.2/16 and em2
// 192.168.0.2/24, main's defaults through both (metrics 105 and 106), and,
// withClient, CLIENT.
func newSeed(t *testing.T, withClient bool) *seed {
	t.Helper()
	s := newUplinks(t)
	s.host.ips(
		"addr add 10.0.0.2/16 dev em1",
		"addr add 192.168.0.2/24 dev em2",
		"route add default via 10.0.0.1 dev em1 metric 105",
		"route add default via 192.168.0.1 dev em2 metric 106",
	)
	if withClient {
		s.addClient()
	}
	return s
}

// newHostPeer makes a HOST and a bare PEER, for the tests that link them
// themselves.
func newHostPeer(t *testing.T) (h, peer *ns) {
	t.Helper()
	h = newNS(t, "host")
	return h, h.sibling("peer")
}

// newSeedHost builds the seed without CLIENT and returns HOST and em1's and
// em2's tables.
func newSeedHost(t *testing.T) (h *ns, t1, t2 string) {
	t.Helper()
	h = newSeed(t, false).host
	t1, t2 = h.tables()
	return h, t1, t2
}

// addClient adds CLIENT behind both routers, which then forward, their
// default route pointing at CLIENT: CLIENT reaches an address of HOST only
// if HOST answers from it through the uplink that owns it.
func (s *seed) addClient() *seed {
	s.t.Helper()
	s.client = s.host.sibling("client")
	for i, r := range s.routers() {
		net := uplinkNets[i].toClient
		r.sysctl("net.ipv4.ip_forward=1")
		veth(s.t, r, "down0", net+".1/24", s.client, fmt.Sprintf("r%d", i+1), net+".2/24")
		r.sysctl("net.ipv4.conf.down0.rp_filter=1")
		r.ip("route", "add", "default", "via", net+".2", "dev", "down0")
	}
	s.client.ips(
		"route add 10.0.0.0/16 via 172.31.1.1 dev r1",
		"route add 192.168.0.0/24 via 172.31.2.1 dev r2",
	)
	return s
}

// pingRemote pings remote from link's address on HOST: the answer comes
// only if the request left by link.
func (s *seed) pingRemote(t *testing.T, link string) {
	t.Helper()
	mustPing(t, s.host, s.host.addr4(link), remote)
}

// tables are em1's and em2's tables.
func (n *ns) tables() (t1, t2 string) {
	n.t.Helper()
	return n.table("em1"), n.table("em2")
}

// Expected readback of the seed's HOST after a pass.
var (
	seedTable1 = []string{ // em1's table
		"10.0.0.0/16 dev em1 proto kernel scope link src 10.0.0.2",
		"default via 10.0.0.1 dev em1 metric 105",
	}
	seedTable2 = []string{ // em2's table
		"192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2",
		"default via 192.168.0.1 dev em2 metric 106",
	}
	// Each table also throws the other link's subnet (README, "How it
	// decides"); main has no throw.
	seedThrow1  = "throw 192.168.0.0/24 proto 234" // in em1's table
	seedThrow2  = "throw 10.0.0.0/16 proto 234"    // in em2's table
	seedMirror1 = plus(seedTable1, seedThrow1)
	seedMirror2 = plus(seedTable2, seedThrow2)
	// seedIPv6 gives em1 and em2 an IPv6 address each, and
	// seedIPv6Default main a default through both (fe80::1 on each link):
	// the kernel merges them into one multipath route.
	seedIPv6        = []string{"-6 addr add 2001:db8:1::2/64 dev em1 nodad", "-6 addr add 2001:db8:2::2/64 dev em2 nodad"}
	seedIPv6Default = []string{"-6 route add default via fe80::1 dev em1 metric 1024", "-6 route append default via fe80::1 dev em2 metric 1024"}
	defaultRules6   = []string{
		"0: from all lookup local",
		"32766: from all lookup main",
	}
)

// seedRules are HOST's IPv4 rules after a pass, given em1's and em2's
// tables: an address rule and an oif rule for each link.
func seedRules(t1, t2 string) []string {
	return rulesWith(ruleLine("10.0.0.2", t1), ruleLine("192.168.0.2", t2), oifRuleLine("em1", t1), oifRuleLine("em2", t2))
}
