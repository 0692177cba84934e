package report

import (
	"net/netip"
	"testing"

	"github.com/symroute/symroute/sync/fakekernel"
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

// seedHost is fakekernel's seed host, after passes with o where synced
// (plans applied until one is empty, as a pass does), then changed by edit
// (nil: none) as the kernel holds it, read as a pass reads it, and its
// mirror under o.
func seedHost(t *testing.T, o plan.Options, synced bool, edit func(st *plan.State)) (*plan.State, *plan.Mirror) {
	t.Helper()
	k := &fakekernel.Kernel{State: fakekernel.SeedHost()}
	read := func() *plan.State {
		st, err := k.Snapshot(plan.ReadOptions{TableBase: o.TableBase})
		if err != nil {
			t.Fatal(err)
		}
		// What the pass reads from other programs' files.
		st.Host.Networkd, st.Host.NMRouting = k.State.Host.Networkd, k.State.Host.NMRouting
		return st
	}
	st := read()
	for round := 0; synced; round++ {
		p := plan.Compute(st, o)
		if len(p.Ops) == 0 {
			break
		}
		if round == 4 {
			t.Fatalf("the seed host not in sync after 4 rounds: %d changes left", len(p.Ops))
		}
		for _, err := range k.Apply(p.Ops) {
			if err != nil {
				t.Fatal(err)
			}
		}
		st = read()
	}
	if edit != nil {
		edit(&k.State)
		st = read()
	}
	return st, plan.Desire(st, o)
}

// defaultIn is a default route in table t, as a VPN keeps in its own table
// (wg-quick's 51820, a Tailscale exit node's 52).
func defaultIn(t uint32) plan.Route {
	return plan.Route{Family: plan.FamilyV4, Table: t, Dst: pfx("0.0.0.0/0"), Type: plan.RouteUnicast, Protocol: 3,
		Scope: plan.ScopeLink, Link: 2}
}
