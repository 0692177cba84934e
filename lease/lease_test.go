package lease

import (
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
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
	writeFile(t, filepath.Join(dir, "em4"), "router=$(reboot)\nexpiry=9999999999\n")
	writeFile(t, filepath.Join(dir, "em5"), "router=fe80::1\nexpiry=9999999999\n")
	writeFile(t, filepath.Join(dir, "em6"), "router=255.255.255.255\nexpiry=9999999999\n")
	writeFile(t, filepath.Join(dir, "em7"), "router=127.0.0.1\nexpiry=9999999999\n")
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

// A record tied to its lease's address outlives its expiry (the caller
// checks the address), and names its stack; one of an unknown stack, or
// with an address no lease holds, is not a record.
func TestRecordTiedToAddress(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	nm := Record{Iface: "em2", Router: netip.MustParseAddr("192.168.0.1"), Expiry: now.Add(-time.Hour),
		Addr: netip.MustParseAddr("192.168.0.123"), Stack: "NetworkManager"}
	dc := Record{Iface: "em3", Router: netip.MustParseAddr("10.3.0.1"), Expiry: now.Add(time.Hour), Stack: "dhcpcd"}
	for _, r := range []Record{nm, dc} {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "em4"), "router=10.4.0.1\nexpiry=9999999999\nstack=$(reboot)\n")
	writeFile(t, filepath.Join(dir, "em5"), "router=10.5.0.1\nexpiry=1\naddr=224.0.0.1\n")
	writeFile(t, filepath.Join(dir, "em6"), "router=10.6.0.1\nexpiry=1\naddr=fe80::1\n")
	got, err := Read(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Record{nm, dc}, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if s := (Record{}).StackOf(); s != "dhclient" {
		t.Errorf("a record without a stack is %q's, want dhclient's", s)
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
		{Iface: "em1", Router: netip.MustParseAddr("10.0.0.1"), Expiry: exp, Stack: "dhcpcd\nrouter=1.2.3.4"},
		{Iface: "em1", Router: netip.MustParseAddr("10.0.0.1"), Expiry: exp, Addr: netip.MustParseAddr("fe80::1")},
	} {
		if err := Write(dir, r); err == nil {
			t.Errorf("Write(%+v) accepted", r)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("files left: %v", ents)
	}
}

func TestReadMissingDir(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "none"), time.Now())
	if err != nil || got != nil {
		t.Errorf("Read(missing) = %v, %v", got, err)
	}
}

// Records are readable by all (--check run without root reads them), and a
// link or a FIFO planted in the directory is neither followed nor waited
// on.
func TestRecordsReadableLinksNotFollowed(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	live := Record{Iface: "em2", Router: netip.MustParseAddr("192.168.0.1"), Expiry: now.Add(time.Hour)}
	if err := Write(dir, live); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "em2")); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("record: %v, %v; want mode 0644", st, err)
	}
	elsewhere := filepath.Join(t.TempDir(), "em3")
	writeFile(t, elsewhere, "router=10.3.0.1\nexpiry=9999999999\n")
	if err := os.Symlink(elsewhere, filepath.Join(dir, "em3")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "em4"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan []Record, 1)
	go func() {
		got, err := Read(dir, now)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	select {
	case got := <-done:
		if diff := cmp.Diff([]Record{live}, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
