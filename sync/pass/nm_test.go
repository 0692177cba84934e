package pass

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/sync/plan"
)

func TestReadNMRouting(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeUnder(t, root, p, s, 0o600) }
	if got := ReadNMRouting(root); got != nil {
		t.Fatalf("without NetworkManager: %+v", got)
	}
	write("run/NetworkManager/devices/2", "[device]\nmanaged=true\nconnection-uuid=aaaa\n")
	write("run/NetworkManager/devices/3", "[device]\nmanaged=true\nconnection-uuid=bbbb\n")
	write("run/NetworkManager/devices/4", "[device]\nmanaged=true\nconnection-uuid=cccc\n")
	write("run/NetworkManager/devices/5", "[device]\nmanaged=false\n")
	write("etc/NetworkManager/system-connections/em1.nmconnection", "[connection]\nid=em1\nuuid=aaaa\n[ipv4]\nmethod=auto\nroute-table=0\n")
	// The same UUID in /etc loses to /run's (a --temporary change); cccc
	// is only in /usr/lib; one others may read is not NetworkManager's.
	write("etc/NetworkManager/system-connections/old-em2.nmconnection", "[connection]\nid=stale\nuuid=bbbb\n[ipv4]\nroute-table=7\n")
	write("run/NetworkManager/system-connections/em2.nmconnection", "[connection]\nid=uplink two\nuuid=bbbb\n[ipv4]\nroute-table=100\n"+
		"routing-rule1=priority 5 from 0.0.0.0/0 table 100\n[ipv6]\nrouting-rule1=priority 5 from ::/0 table 100\nrouting-rule2=priority 6 from ::/0 table 100\n")
	write("etc/NetworkManager/system-connections/em1-open.nmconnection", "[connection]\nid=open\nuuid=aaaa\n[ipv4]\nroute-table=9\n")
	if err := os.Chmod(filepath.Join(root, "etc/NetworkManager/system-connections/em1-open.nmconnection"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("usr/lib/NetworkManager/system-connections/em3.nmconnection", "[connection]\nid=em3\nuuid=cccc\n[ipv6]\nroute-table=300\n")
	want := []plan.NMRouting{
		{Link: 3, Connection: "uplink two", Table4: 100, Rules4: 1, Rules6: 2},
		{Link: 4, Connection: "em3", Table6: 300},
	}
	if diff := cmp.Diff(want, ReadNMRouting(root)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
