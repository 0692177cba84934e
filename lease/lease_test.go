package lease

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestWriteReadRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "leases")
	now := time.Unix(1_800_000_000, 0)
	live := Record{Iface: "em2", Router: netip.MustParseAddr("192.168.0.1"), Expiry: now.Add(time.Hour)}
	old := Record{Iface: "em3", Router: netip.MustParseAddr("10.3.0.1"), Expiry: now.Add(-time.Second)}
	for _, r := range []Record{live, old} {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	// Junk a hook could never have written is ignored, not trusted.
	os.WriteFile(filepath.Join(dir, "em4"), []byte("router=$(reboot)\nexpiry=9999999999\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "em5"), []byte("router=fe80::1\nexpiry=9999999999\n"), 0o644)
	got, err := Read(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Record{live}, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if err := Remove(dir, "em2"); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir, "em2"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if got, _ := Read(dir, now); len(got) != 0 {
		t.Errorf("after Remove: %v", got)
	}
}

func TestWriteRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	exp := time.Now().Add(time.Hour)
	for _, r := range []Record{
		{Iface: "../etc", Router: netip.MustParseAddr("10.0.0.1"), Expiry: exp},
		{Iface: "a b", Router: netip.MustParseAddr("10.0.0.1"), Expiry: exp},
		{Iface: "waytoolonginterfacename", Router: netip.MustParseAddr("10.0.0.1"), Expiry: exp},
		{Iface: "em1", Router: netip.MustParseAddr("0.0.0.0"), Expiry: exp},
		{Iface: "em1", Router: netip.MustParseAddr("224.0.0.1"), Expiry: exp},
		{Iface: "em1", Expiry: exp},
	} {
		if err := Write(dir, r); err == nil {
			t.Errorf("Write(%+v) accepted", r)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left: %v", ents)
	}
}

func TestReadMissingDir(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "none"), time.Now())
	if err != nil || got != nil {
		t.Errorf("Read(missing) = %v, %v", got, err)
	}
}
