package lease

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead reads a record of any content, under any name. No panic; what
// it returns is an IPv4 router named by a valid interface, of a known
// stack, live (unexpired, or tied to an IPv4 address).
func FuzzRead(f *testing.F) {
	for _, s := range []struct{ name, content string }{
		{"em1", "router=10.0.0.1\nexpiry=2000000000\n"},
		{"em2", "router=$(reboot)\nexpiry=9999999999\n"},
		{"em3", "router=fe80::1\nexpiry=9999999999\n"},
		{"em4", "expiry=-1\nrouter=10.0.0.1"},
		{".lease-x", "router=10.0.0.1\nexpiry=2000000000\n"},
		{"em5", "router=10.0.0.1\nrouter=10.0.0.2\nexpiry=99999999999999999999\n"},
		{"em6", "router=255.255.255.255\nexpiry=2000000000\n"},
		{"em7", "router=0.0.0.0\nexpiry=2000000000\n"},
		{"em8", "router=192.168.0.1\nexpiry=1\naddr=192.168.0.123\nstack=NetworkManager\n"},
		{"em9", "router=192.168.0.1\nexpiry=2000000000\nstack=dhcpcd\nstack=x\n"},
		{"em10", "router=192.168.0.1\nexpiry=1\naddr=192.168.0.255.1\n"},
	} {
		f.Add(s.name, s.content)
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, name, content string) {
		dir := t.TempDir()
		if !ValidIface(name) {
			name = "em0"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Skip(err) // a name the file system refuses
		}
		recs, err := Read(dir, now)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, r := range recs {
			live := now.Before(r.Expiry) || UsableRouter(r.Addr)
			if !ValidIface(r.Iface) || !UsableRouter(r.Router) || !live || !knownStack(r.Stack) || r.Addr.IsValid() && !UsableRouter(r.Addr) {
				t.Fatalf("Read returned %+v", r)
			}
		}
	})
}

// FuzzWrite writes a record for any interface name: it lands in its
// directory, or nowhere.
func FuzzWrite(f *testing.F) {
	for _, n := range []string{"em1", "../x", "a/b", ".", "..", "", "x\x00y", "waytoolonginterfacename"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, iface string) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "leases")
		r := Record{Iface: iface, Router: mustAddr("10.0.0.1"), Expiry: time.Now().Add(time.Hour)}
		if err := Write(dir, r); err != nil {
			return
		}
		if ents, err := os.ReadDir(parent); err != nil || len(ents) != 1 {
			t.Fatalf("Write(%q) wrote outside its directory: %v", iface, ents)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Name() != iface {
			t.Fatalf("Write(%q) left %v", iface, ents)
		}
	})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
