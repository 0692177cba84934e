package pass

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/lease"
	"github.com/symroute/symroute/sync/plan"
)

// What systemd-networkd 252 wrote for em2 with [DHCPv4] UseGateway=no, the
// server sending option 121 too (measured).
const networkdLease = `# This is private data. Do not parse.
ADDRESS=192.168.0.124
NETMASK=255.255.255.0
ROUTER=192.168.0.253
SERVER_ADDRESS=192.168.0.1
T1=60
LIFETIME=120
CLASSLESS_ROUTES=0.0.0.0/0,192.168.0.1 10.9.0.0/16,192.168.0.7
CLIENTID=ffd51fdd9700020000ab110033bdebf95e192c
`

// What NetworkManager 1.42 keeps of em2 with ipv4.never-default (measured).
const nmDevice = `[device]
managed=true
connection-uuid=f56e0f85-51aa-3a05-99ea-3cffe180e158
route-metric-default-effective=101
next-server=192.168.0.1

[dhcp4]
dhcp4.dhcp_lease_time=120
dhcp4.expiry=1796430548
dhcp4.ip_address=192.168.0.123
dhcp4.rfc3442_classless_static_routes=0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7
dhcp4.routers=192.168.0.253
dhcp4.subnet_mask=255.255.255.0
`

func TestParseNetworkdLease(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // router, "" for no lease
	}{
		{"classless default first", networkdLease, "192.168.0.1"},
		{"router", "ADDRESS=10.0.0.120\nROUTER=10.0.0.1 10.0.0.2\n", "10.0.0.1"},
		{"no router", "ADDRESS=10.0.0.120\nNETMASK=255.255.0.0\n", ""},
		{"no address", "ROUTER=10.0.0.1\n", ""},
		{"classless without default", "ADDRESS=10.0.0.120\nROUTER=10.0.0.1\nCLASSLESS_ROUTES=10.9.0.0/16,10.0.0.7\n", ""},
		{"bad router", "ADDRESS=10.0.0.120\nROUTER=10.0.0.1 $(reboot)\n", ""},
		{"multicast router", "ADDRESS=10.0.0.120\nROUTER=224.0.0.1\n", ""},
		{"IPv6 address", "ADDRESS=fe80::1\nROUTER=10.0.0.1\n", ""},
		{"commented", "#ADDRESS=10.0.0.120\n#ROUTER=10.0.0.1\n", ""},
	} {
		l, ok := parseNetworkdLease([]byte(c.in))
		got := ""
		if ok {
			got = l.router.String()
		}
		if got != c.want {
			t.Errorf("%s: router %q, want %q", c.name, got, c.want)
		}
	}
}

// Every source gives a link's router while its lease's address is on the
// link; the stacks' own state wins over a hook's record of the same link;
// an address elsewhere, or a record planted for an unknown link, gives
// nothing.
func TestReadRouters(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeUnder(t, root, p, s, 0o644) }
	write("run/systemd/netif/leases/2", networkdLease)                           // em2: live
	write("run/systemd/netif/leases/9", networkdLease)                           // a link of another namespace
	write("run/systemd/netif/leases/3", "ADDRESS=10.3.0.5\nROUTER=10.3.0.1\n")   // em3's address is gone
	write("run/systemd/netif/leases/lo", "ADDRESS=127.0.0.1\nROUTER=10.3.0.1\n") // not an ifindex
	write("run/NetworkManager/devices/4", nmDevice)                              // em4: live
	write("run/NetworkManager/devices/5", "[device]\nmanaged=true\n")            // no lease
	write("run/NetworkManager/devices/6", nmDeviceEm6)                           // em6: a record too
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/netif/leases/7"), 0o755); err != nil {
		t.Fatal(err) // a directory is no lease, and no reason to fail
	}
	st := &plan.State{
		Links: []plan.Link{{Index: 2, Name: "em2"}, {Index: 3, Name: "em3"}, {Index: 4, Name: "em4"}, {Index: 6, Name: "em6"},
			{Index: 7, Name: "em7"}, {Index: 8, Name: "em8"}, {Index: 10, Name: "em10"}},
		Addrs: []plan.Addr{
			{Link: 2, Prefix: pfx("192.168.0.124/24")}, {Link: 3, Prefix: pfx("10.3.0.6/24")}, {Link: 4, Prefix: pfx("192.168.0.123/24")},
			{Link: 6, Prefix: pfx("172.16.6.5/24")}, {Link: 7, Prefix: pfx("172.16.7.5/24")}, {Link: 10, Prefix: pfx("172.16.10.5/24")},
		},
	}
	o := Options{Root: root, LeaseDir: filepath.Join(root, "leases")}
	now := time.Now()
	for _, r := range []lease.Record{
		{Iface: "em6", Router: netip.MustParseAddr("172.16.6.99"), Expiry: now.Add(time.Hour), Stack: "dhcpcd"}, // the device state wins
		// NetworkManager's, expired but its address still on em7: a
		// renewal no hook saw.
		{Iface: "em7", Router: netip.MustParseAddr("172.16.7.1"), Expiry: now.Add(-time.Hour), Addr: netip.MustParseAddr("172.16.7.5"), Stack: "NetworkManager"},
		// dhcpcd's, its address gone from em8.
		{Iface: "em8", Router: netip.MustParseAddr("172.16.8.1"), Expiry: now.Add(time.Hour), Addr: netip.MustParseAddr("172.16.8.5"), Stack: "dhcpcd"},
		{Iface: "em10", Router: netip.MustParseAddr("172.16.10.1"), Expiry: now.Add(time.Hour)}, // dhclient's, by expiry
		{Iface: "em11", Router: netip.MustParseAddr("172.16.11.1"), Expiry: now.Add(time.Hour)}, // no such link
	} {
		if err := lease.Write(o.LeaseDir, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := readRouters(st, o, readNMDevices(root)); err != nil {
		t.Fatal(err)
	}
	lr := func(link int, gw, stack string) plan.Router {
		return plan.Router{Link: link, Gw: netip.MustParseAddr(gw), Source: plan.RouterLease, Stack: stack}
	}
	want := []plan.Router{
		lr(2, "192.168.0.1", "systemd-networkd"),
		lr(4, "192.168.0.1", "NetworkManager"),
		lr(6, "172.16.6.1", "NetworkManager"),
		lr(7, "172.16.7.1", "NetworkManager"),
		lr(10, "172.16.10.1", "dhclient"),
	}
	byLink := cmpopts.SortSlices(func(a, b plan.Router) bool { return a.Link < b.Link })
	if diff := cmp.Diff(want, st.Routers, cmpopts.EquateComparable(netip.Addr{}), byLink); diff != "" {
		t.Errorf("Routers (-want +got):\n%s", diff)
	}
}

// writeUnder writes s to the file p under root, making its directories.
func writeUnder(t *testing.T, root, p, s string, mode os.FileMode) {
	t.Helper()
	f := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

const nmDeviceEm6 = "[device]\nmanaged=true\n[dhcp4]\ndhcp4.ip_address=172.16.6.5\ndhcp4.routers=172.16.6.1\n"
