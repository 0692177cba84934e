package report

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/symroute/symroute/sync/fakekernel"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// gwRoute is a DHCP client's route: "proto dhcp metric M via GW".
func gwRoute(table uint32, dst, gw string, link int, metric uint32) plan.Route {
	return plan.Route{Family: plan.FamilyV4, Table: table, Dst: pfx(dst), Type: plan.RouteUnicast, Protocol: 16,
		Gw: ip(gw), Link: link, Priority: metric}
}

// linkRoute is the kernel's route of a connected subnet.
func linkRoute(table uint32, dst string, link int, src string) plan.Route {
	return plan.Route{Family: plan.FamilyV4, Table: table, Dst: pfx(dst), Type: plan.RouteUnicast, Protocol: 2,
		Scope: plan.ScopeLink, Link: link, Src: ip(src)}
}

// seedHost is fakekernel's seed host, after a pass with o where synced,
// as the fake kernel then holds it, edited by edit (nil: as is), and its
// mirror under o.
func seedHost(t *testing.T, o plan.Options, synced bool, edit func(st *plan.State)) (*plan.State, *plan.Mirror) {
	t.Helper()
	k := &fakekernel.Kernel{State: fakekernel.SeedHost()}
	dir := t.TempDir()
	if synced {
		po := pass.Options{Plan: o, LockFile: filepath.Join(dir, "sync.lock"), Iproute2Dirs: []string{dir}, Root: dir,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := pass.Once(k, po); err != nil {
			t.Fatal(err)
		}
	}
	st, err := k.Snapshot(plan.ReadOptions{TableBase: o.TableBase})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(st)
		plan.Compact(st)
	}
	return st, plan.Desire(st, o)
}
