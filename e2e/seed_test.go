package e2e

import "testing"

// seed is the topology of the package doc: HOST with uplinks em1 (to R1)
// and em2 (to R2), and, if asked, a CLIENT behind both routers.
type seed struct {
	host, r1, r2, client *ns
	tag                  string
}

// newSeed builds the seed. withClient adds CLIENT and makes R1 and R2
// forwarding routers with strict reverse-path filtering whose default route
// points at CLIENT.
func newSeed(t *testing.T, withClient bool) *seed {
	t.Helper()
	requireRoot(t)
	s := &seed{tag: randomTag()}
	s.host = newNS(t, s.tag, "host")
	s.r1 = newNS(t, s.tag, "r1")
	s.r2 = newNS(t, s.tag, "r2")
	// em1 first, then em2: their ifindexes follow creation order, but the
	// tests read them back rather than assume them.
	veth(t, s.host, "em1", "10.0.0.2/16", s.r1, "up0", "10.0.0.1/16")
	veth(t, s.host, "em2", "192.168.0.2/24", s.r2, "up0", "192.168.0.1/24")
	s.host.ips(
		"route add default via 10.0.0.1 dev em1 metric 105",
		"route add default via 192.168.0.1 dev em2 metric 106",
	)
	if !withClient {
		return s
	}
	s.client = newNS(t, s.tag, "client")
	for i, r := range []*ns{s.r1, s.r2} {
		net := []string{"172.31.1", "172.31.2"}[i]
		dev := []string{"r1", "r2"}[i]
		r.sysctl("net.ipv4.ip_forward=1",
			"net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1",
			"net.ipv4.conf.up0.rp_filter=1")
		veth(t, r, "down0", net+".1/24", s.client, dev, net+".2/24")
		r.sysctl("net.ipv4.conf.down0.rp_filter=1")
		r.ip("route", "add", "default", "via", net+".2", "dev", "down0")
	}
	s.client.ips(
		"route add 10.0.0.0/16 via 172.31.1.1 dev r1",
		"route add 192.168.0.0/24 via 172.31.2.1 dev r2",
	)
	return s
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
)

// seedRules are HOST's IPv4 rules after a pass, given em1's and em2's
// tables.
func seedRules(t1, t2 string) []string {
	return sorted([]string{
		"0: from all lookup local",
		"32765: from 10.0.0.2 lookup " + t1 + " proto 234",
		"32765: from 192.168.0.2 lookup " + t2 + " proto 234",
		"32766: from all lookup main",
		"32767: from all lookup default",
	})
}

var defaultRules6 = []string{
	"0: from all lookup local",
	"32766: from all lookup main",
}
