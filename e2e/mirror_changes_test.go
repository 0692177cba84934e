package e2e

// The mirror follows the kernel: addresses and links going, gateways and
// metrics changing, each pass writing exactly the change (watched with ip
// monitor) and a pass on a host in sync writing nothing.

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// 6. The mirror follows the kernel: addresses and links going away,
// gateways and metrics changing. Each case changes the seed after a first
// pass; a second pass must make HOST read back as want, watched by ip
// monitor where events says what that pass writes.
func TestFollowsChanges(t *testing.T) {
	t.Parallel()
	const bh = "blackhole 10.99.0.0/16"
	// A deviceless route is copied to every table, and the kernel does not
	// remove it with em2's address or link: the pass must.
	em2Gone := func(emptied string) func(h *ns, t1, t2 string) []readback {
		return func(h *ns, t1, t2 string) []readback {
			return []readback{
				{"ip -4 rule", rulesOf(h, "4"), rulesWith(ruleLine("10.0.0.2", t1), oifRuleLine("em1", t1))},
				{"table " + t1, tableOf(h, "4", t1), plus(seedTable1, bh)},
				{"table " + t2 + " (" + emptied + ")", tableOf(h, "4", t2), nil},
			}
		}
	}
	em2Default := func(def string) func(h *ns, t1, t2 string) []readback {
		return func(h *ns, t1, t2 string) []readback {
			return []readback{
				{"table " + t1, tableOf(h, "4", t1), seedMirror1},
				{"table " + t2, tableOf(h, "4", t2), []string{"192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2", def, seedThrow2}},
			}
		}
	}
	for _, tc := range []struct {
		name   string
		setup  []string                              // before the first pass
		first  func(t *testing.T, h *ns, t2 string)  // checked after it
		change []string                              // after it
		events func(t2 string) []string              // ip monitor during the second pass; nil: not watched
		want   func(h *ns, t1, t2 string) []readback // after the second pass
	}{
		{name: "address removed", setup: []string{"route add " + bh}, change: []string{"addr del 192.168.0.2/24 dev em2"},
			first: func(t *testing.T, h *ns, t2 string) {
				if diff := cmp.Diff(sorted(plus(seedMirror2, bh)), h.routes("4", t2)); diff != "" {
					t.Fatalf("table %s after the first pass (-want +got):\n%s", t2, diff)
				}
			},
			want: em2Gone("emptied")},
		{name: "link removed", setup: []string{"route add " + bh}, change: []string{"link del em2"},
			want: em2Gone("of the deleted link: emptied")},
		// Replaced in place: one new route, no deletion.
		{name: "gateway replaced", change: []string{"route replace default via 192.168.0.254 dev em2 metric 106"},
			events: func(t2 string) []string {
				return []string{"default via 192.168.0.254 dev em2 table " + t2 + " metric 106"}
			},
			want: em2Default("default via 192.168.0.254 dev em2 metric 106")},
		{name: "IPv6 gateway replaced",
			setup:  []string{"-6 addr add 2001:db8:2::2/64 dev em2 nodad", "-6 route add default via fe80::1 dev em2 metric 1024"},
			change: []string{"-6 route replace default via fe80::2 dev em2 metric 1024"},
			events: func(t2 string) []string {
				return []string{"default via fe80::2 dev em2 table " + t2 + " metric 1024 pref medium"}
			},
			want: func(h *ns, _, t2 string) []readback {
				return []readback{{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{
					"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium",
					linkLocal6("em2"),
					"default via fe80::2 dev em2 metric 1024 pref medium",
				}}}
			}},
		// A new metric is a new key: added before the old one goes.
		{name: "metric changed",
			change: []string{"route del default via 192.168.0.1 dev em2 metric 106", "route add default via 192.168.0.1 dev em2 metric 50"},
			events: func(t2 string) []string {
				return []string{
					"default via 192.168.0.1 dev em2 table " + t2 + " metric 50",
					"Deleted default via 192.168.0.1 dev em2 table " + t2 + " metric 106",
				}
			},
			want: em2Default("default via 192.168.0.1 dev em2 metric 50")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, t1, t2 := newSeedHost(t)
			h.ips(tc.setup...)
			h.pass()
			if tc.first != nil {
				tc.first(t, h, t2)
			}
			if tc.events == nil {
				h.ips(tc.change...)
				h.pass()
			} else {
				m := startMonitor(t, h)
				h.ips(tc.change...)
				got := m.during(func() { h.pass() })
				if diff := cmp.Diff(tc.events(t2), got); diff != "" {
					t.Errorf("ip monitor during the pass (-want +got):\n%s", diff)
				}
			}
			checkReadbacks(t, tc.want(h, t1, t2))
			assertInSync(t, h)
		})
	}
}

// 2. A pass on a host in sync makes no netlink write; one after a change
// writes exactly that change.
func TestNoOpPassWritesNothing(t *testing.T) {
	t.Parallel()
	h := newSeed(t, false).host
	t1 := h.table("em1")
	addShapes(h)
	h.pass()

	m := startMonitor(t, h)
	var second result
	got := m.during(func() { second = h.pass() })
	if diff := cmp.Diff([]string{}, got); diff != "" {
		t.Errorf("ip monitor during a pass on a synced host (-want +got):\n%s", diff)
	}
	if second.stderr != "" {
		t.Errorf("a pass that changed nothing logged (want silence):\n%s", second.stderr)
	}

	// The monitor does see a pass that has work to do: the same
	// measurement can fail.
	h.ip("-4", "route", "flush", "table", t1)
	got = m.during(func() { h.pass() })
	want := []string{ // in apply order: link routes first, the throws first of them
		"throw 192.168.0.0/24 table " + t1 + " proto 234",
		"10.0.0.0/16 dev em1 table " + t1 + " proto kernel scope link src 10.0.0.2",
		"blackhole 10.99.0.0/16 table " + t1,
		"default via 10.0.0.1 dev em1 table " + t1 + " metric 105",
		"10.20.0.0/16 via 10.0.0.1 dev em1 table " + t1 + " metric 7 mtu 1400 advmss 1360",
		"172.16.0.0/12 via 10.0.0.1 dev em1 table " + t1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ip monitor during the pass after `ip route flush table %s` (-want +got):\n%s", t1, diff)
	}
}

// addShapes adds to the seed's main table a route of every shape the
// mirror copies: null routes, multipath (IPv4 and IPv6), route metrics,
// onlink, preferred source, a protocol of its own.
func addShapes(h *ns) {
	h.t.Helper()
	h.ips(
		"route add blackhole 10.99.0.0/16",
		"route add 172.16.0.0/12 nexthop via 10.0.0.1 dev em1 nexthop via 192.168.0.1 dev em2",
		"route add 10.20.0.0/16 via 10.0.0.1 dev em1 metric 7 mtu 1400 advmss 1360",
		"route add 10.21.0.0/16 via 192.168.0.9 dev em2 onlink",
		"route add 10.22.0.0/16 via 192.168.0.1 dev em2 src 192.168.0.2 proto static",
	)
	h.ips(seedIPv6...)
	h.ips(seedIPv6Default...)
	h.ip("-6", "route", "add", "unreachable", "2001:db8:dead::/48")
}
