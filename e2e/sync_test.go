package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readback is one named kernel readback and what it must be.
type readback struct {
	name string
	got  func() []string
	want []string
}

// checkReadbacks compares each readback in a subtest of its own. The
// readbacks run in t itself: they fail t, not a subtest, if ip fails.
func checkReadbacks(t *testing.T, rbs []readback) {
	t.Helper()
	for _, rb := range rbs {
		rb, got := rb, rb.got()
		t.Run(rb.name, func(t *testing.T) {
			if diff := cmp.Diff(sorted(rb.want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", rb.name, diff)
			}
		})
	}
}

func rulesOf(n *ns, fam string) func() []string { return func() []string { return n.rules(fam) } }

func tableOf(n *ns, fam, table string) func() []string {
	return func() []string { return n.routes(fam, table) }
}

func plus(a []string, b ...string) []string { return append(append([]string{}, a...), b...) }

// assertInSync runs --check, which must exit 0 and print nothing.
func assertInSync(t *testing.T, n *ns) {
	t.Helper()
	if r := n.symroute("--check"); r.code != 0 || r.stdout != "" {
		t.Errorf("--check after the pass: want exit 0 and no output, got %s", r)
	}
}

// 1. The point of it all: a reply from em2's address leaves by em2.
func TestSymmetricReplies(t *testing.T) {
	t.Parallel()
	s := newSeed(t, true)
	h := s.host
	t1, t2 := h.table("em1"), h.table("em2")

	mustPing(t, s.client, "", "10.0.0.2")
	// The reply from 192.168.0.2 follows main's lowest default, out of
	// em1, and R1's strict rp_filter drops it.
	mustNotPing(t, s.client, "", "192.168.0.2")

	h.pass()

	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		{"ip -6 rule", rulesOf(h, "6"), defaultRules6},
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), seedTable1},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), seedTable2},
		// Only link-local IPv6 addresses: no IPv6 rule, so no copy of
		// fe80::/64 either.
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), nil},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), nil},
		{"ip -4 route show table main", tableOf(h, "4", "main"), plus(seedTable1, seedTable2...)},
	})
	mustPing(t, s.client, "", "10.0.0.2")
	mustPing(t, s.client, "", "192.168.0.2")
	assertInSync(t, h)
}

// 2. A pass on a host in sync makes no netlink write; one after a change
// writes exactly that change.
func TestNoOpPassWritesNothing(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
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
	want := []string{ // in apply order: link routes first
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
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
		"-6 route add default via fe80::1 dev em1 metric 1024",
		"-6 route append default via fe80::1 dev em2 metric 1024",
		"-6 route add unreachable 2001:db8:dead::/48",
	)
}

// 3. --dry-run prints what --check reports, and sh replays it.
func TestDryRunReplaysInSh(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	addShapes(h)

	check := h.symroute("--check")
	if check.code != 3 {
		t.Fatalf("--check on an unsynced host: want exit 3, got %s", check)
	}
	dry := h.symroute("--dry-run")
	if dry.code != 0 || dry.stdout == "" {
		t.Fatalf("--dry-run on an unsynced host: want exit 0 and a plan, got %s", dry)
	}
	if diff := cmp.Diff(dry.stdout, check.stdout); diff != "" {
		t.Errorf("--check's drift differs from --dry-run's plan (-dry-run +check):\n%s", diff)
	}
	for _, l := range strings.Split(strings.TrimSpace(dry.stdout), "\n") {
		if !strings.HasPrefix(l, "ip -4 ") && !strings.HasPrefix(l, "ip -6 ") {
			t.Errorf("--dry-run line is not an `ip -4|-6` command: %q", l)
		}
	}

	sh := h.execCmd("sh", "-e", "-x")
	sh.Stdin = strings.NewReader(dry.stdout)
	if r := runResult(t, sh); r.code != 0 {
		t.Fatalf("replaying --dry-run with sh inside %s: %s\nplan:\n%s", h.Name, r, dry.stdout)
	}

	if r := h.symroute("--check"); r.code != 0 || r.stdout != "" {
		t.Errorf("--check after replaying --dry-run: want exit 0 and no output, got %s\nplan was:\n%s", r, dry.stdout)
	}
	if r := h.symroute("--dry-run"); r.code != 0 || r.stdout != "" {
		t.Errorf("--dry-run on a synced host: want exit 0 and no output, got %s", r)
	}
}

// 4. Rules and tables of other programs survive a pass and a flush, and a
// flush puts back exactly the state before the first pass.
func TestForeignStateUntouched(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	h.ips(
		// Someone's policy routing at a priority of their own.
		"rule add from 10.123.0.0/16 lookup 1500 priority 200",
		"route add 10.123.0.0/16 via 10.0.0.1 dev em1 table 1500",
		// A table inside symroute's range that no link or rule explains.
		"route add 10.50.0.0/16 via 192.168.0.1 dev em2 table 1050",
		"-6 route add 2001:db8:50::/48 dev em1 table 1050",
		// wg-quick's full-tunnel rules and table.
		"rule add not fwmark 51820 table 51820",
		"rule add table main suppress_prefixlength 0",
		"route add default dev em1 table 51820",
		// An IPv6 address, so IPv6 rules and tables exist to flush too.
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
	)
	foreign := func() []string {
		var out []string
		for _, fam := range []string{"4", "6"} {
			for _, l := range h.rules(fam) {
				if !strings.HasSuffix(l, " proto 234") {
					out = append(out, "-"+fam+" rule: "+l)
				}
			}
			for _, tb := range []string{"1500", "1050", "51820"} {
				for _, l := range h.routes(fam, tb) {
					out = append(out, "-"+fam+" table "+tb+": "+l)
				}
			}
		}
		return out
	}
	before, foreignBefore := h.dump(), foreign()

	h.pass()
	t1 := h.table("em1")
	t.Run("pass mirrored", func(t *testing.T) {
		if diff := cmp.Diff(sorted(seedTable1), h.routes("4", t1)); diff != "" {
			t.Errorf("table %s (-want +got):\n%s", t1, diff)
		}
	})
	t.Run("foreign after pass", func(t *testing.T) {
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("foreign rules and tables after a pass (-before +after):\n%s", diff)
		}
	})
	assertInSync(t, h)

	if r := h.symroute("--flush", "--dry-run"); r.code != 0 || r.stdout == "" {
		t.Errorf("--flush --dry-run on a synced host: want exit 0 and a plan, got %s", r)
	}
	if r := h.symroute("--flush"); r.code != 0 {
		t.Fatalf("--flush: want exit 0, got %s", r)
	}
	t.Run("foreign after flush", func(t *testing.T) {
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("foreign rules and tables after --flush (-before +after):\n%s", diff)
		}
	})
	t.Run("flush restores the state before the first pass", func(t *testing.T) {
		if diff := cmp.Diff(before, h.dump()); diff != "" {
			t.Errorf("full dump (-before first pass +after flush):\n%s", diff)
		}
	})
	if r := h.symroute("--flush", "--dry-run"); r.code != 0 || r.stdout != "" {
		t.Errorf("--flush --dry-run after a flush: want exit 0 and no output, got %s", r)
	}
}

// 5. A table another program uses is never written; the rest goes on and
// the exit status says the pass was partial.
func TestClash(t *testing.T) {
	t.Parallel()

	t.Run("foreign rule looks up em2's table", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		h.ips(
			"route add 10.77.0.0/16 via 192.168.0.1 dev em2 table "+t2,
			"rule add from 10.77.0.0/16 lookup "+t2+" priority 300",
		)
		r := h.symroute("--once")
		if r.code != 1 {
			t.Errorf("pass with a clash: want exit 1, got %s", r)
		}
		if !strings.Contains(r.stderr, "em2") || !strings.Contains(r.stderr, t2) {
			t.Errorf("pass with a clash: stderr should name em2 and table %s:\n%s", t2, r.stderr)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				"300: from 10.77.0.0/16 lookup " + t2,
				"32765: from 10.0.0.2 lookup " + t1 + " proto 234",
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1 + " (em1, mirrored)", tableOf(h, "4", t1), seedTable1},
			{"table " + t2 + " (em2, clashing, untouched)", tableOf(h, "4", t2), []string{"10.77.0.0/16 via 192.168.0.1 dev em2"}},
		})
	})

	t.Run("rt_tables names em1's table", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		h.ip("route", "add", "10.88.0.0/16", "via", "10.0.0.1", "dev", "em1", "table", t1)

		// iproute2's directory, as the binary looks for it.
		var target string
		for _, d := range []string{"/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"} {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				target = d
				break
			}
		}
		if target == "" {
			t.Fatal("no iproute2 directory to bind-mount a private rt_tables over")
		}
		etc, dir := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(etc, "rt_tables"), []byte(t1+"\tstaging\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "symroute.conf")
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		// A private mount namespace: / made rprivate before the bind
		// mount, so it can never propagate to the host.
		script := `mount --make-rprivate / && mount --bind "$1" "$2" && shift 2 && exec ip netns exec "$@"`
		cmd := exec.Command("unshare", "-m", "sh", "-c", script, "sh", etc, target,
			h.Name, syncBin, "--config", conf, "--lock-file", filepath.Join(dir, "sync.lock"), "--once")
		r := runResult(t, cmd)
		if r.code != 1 {
			t.Errorf("pass with em1's table named in rt_tables: want exit 1, got %s", r)
		}
		if !strings.Contains(r.stderr, "staging") {
			t.Errorf("stderr should give the name that clashes (staging):\n%s", r.stderr)
		}
		if b, err := os.ReadFile(filepath.Join(target, "rt_tables")); err == nil && strings.Contains(string(b), "staging") {
			t.Fatalf("the private rt_tables is visible on the host at %s", target)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				"32765: from 192.168.0.2 lookup " + t2 + " proto 234",
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1 + " (em1, named, untouched)", tableOf(h, "4", t1), []string{"10.88.0.0/16 via 10.0.0.1 dev em1"}},
			{"table " + t2 + " (em2, mirrored)", tableOf(h, "4", t2), seedTable2},
		})
	})
}

// 6. The mirror follows the kernel: addresses and links going away,
// gateways and metrics changing.
func TestFollowsChanges(t *testing.T) {
	t.Parallel()
	const bh = "blackhole 10.99.0.0/16"

	t.Run("address removed", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		// A deviceless route is copied to every table, and the kernel
		// does not remove it with em2's address: the pass must.
		h.ip("route", "add", "blackhole", "10.99.0.0/16")
		h.pass()
		if diff := cmp.Diff(sorted(plus(seedTable2, bh)), h.routes("4", t2)); diff != "" {
			t.Fatalf("table %s after the first pass (-want +got):\n%s", t2, diff)
		}
		h.ip("addr", "del", "192.168.0.2/24", "dev", "em2")
		h.pass()
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				"32765: from 10.0.0.2 lookup " + t1 + " proto 234",
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1, tableOf(h, "4", t1), plus(seedTable1, bh)},
			{"table " + t2 + " (emptied)", tableOf(h, "4", t2), nil},
		})
		assertInSync(t, h)
	})

	t.Run("link removed", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		h.ip("route", "add", "blackhole", "10.99.0.0/16")
		h.pass()
		h.ip("link", "del", "em2")
		h.pass()
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), []string{
				"0: from all lookup local",
				"32765: from 10.0.0.2 lookup " + t1 + " proto 234",
				"32766: from all lookup main",
				"32767: from all lookup default",
			}},
			{"table " + t1, tableOf(h, "4", t1), plus(seedTable1, bh)},
			{"table " + t2 + " (of the deleted link: emptied)", tableOf(h, "4", t2), nil},
		})
		assertInSync(t, h)
	})

	t.Run("gateway replaced", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		h.pass()
		m := startMonitor(t, h)
		h.ip("route", "replace", "default", "via", "192.168.0.254", "dev", "em2", "metric", "106")
		got := m.during(func() { h.pass() })
		// Replaced in place: one new route, no deletion.
		want := []string{"default via 192.168.0.254 dev em2 table " + t2 + " metric 106"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ip monitor during the pass (-want +got):\n%s", diff)
		}
		checkReadbacks(t, []readback{
			{"table " + t1, tableOf(h, "4", t1), seedTable1},
			{"table " + t2, tableOf(h, "4", t2), []string{
				"192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2",
				"default via 192.168.0.254 dev em2 metric 106",
			}},
		})
		assertInSync(t, h)
	})

	t.Run("IPv6 gateway replaced", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t2 := h.table("em2")
		h.ips(
			"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
			"-6 route add default via fe80::1 dev em2 metric 1024",
		)
		h.pass()
		m := startMonitor(t, h)
		h.ip("-6", "route", "replace", "default", "via", "fe80::2", "dev", "em2", "metric", "1024")
		got := m.during(func() { h.pass() })
		want := []string{"default via fe80::2 dev em2 table " + t2 + " metric 1024 pref medium"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ip monitor during the pass (-want +got):\n%s", diff)
		}
		checkReadbacks(t, []readback{
			{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{
				"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium",
				"default via fe80::2 dev em2 metric 1024 pref medium",
			}},
		})
		assertInSync(t, h)
	})

	t.Run("metric changed", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		t1, t2 := h.table("em1"), h.table("em2")
		h.pass()
		m := startMonitor(t, h)
		h.ips(
			"route del default via 192.168.0.1 dev em2 metric 106",
			"route add default via 192.168.0.1 dev em2 metric 50",
		)
		got := m.during(func() { h.pass() })
		// A new metric is a new key: added before the old one goes.
		want := []string{
			"default via 192.168.0.1 dev em2 table " + t2 + " metric 50",
			"Deleted default via 192.168.0.1 dev em2 table " + t2 + " metric 106",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ip monitor during the pass (-want +got):\n%s", diff)
		}
		checkReadbacks(t, []readback{
			{"table " + t1, tableOf(h, "4", t1), seedTable1},
			{"table " + t2, tableOf(h, "4", t2), []string{
				"192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2",
				"default via 192.168.0.1 dev em2 metric 50",
			}},
		})
		assertInSync(t, h)
	})
}

// 7. IPv6: each table gets its share of main's multipath default.
func TestIPv6(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	t1, t2 := h.table("em1"), h.table("em2")
	h.ips(
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
		"-6 route add default via fe80::1 dev em1 metric 1024",
		"-6 route append default via fe80::1 dev em2 metric 1024",
	)
	wantMain := "default metric 1024 pref medium nexthop via fe80::1 dev em1 weight 1 nexthop via fe80::1 dev em2 weight 1"
	if main := h.routes("6", "main"); !contains(main, wantMain) {
		t.Fatalf("setup: the kernel did not merge the IPv6 defaults into %q; main is:\n%s", wantMain, strings.Join(main, "\n"))
	}
	h.pass()
	checkReadbacks(t, []readback{
		{"ip -6 rule", rulesOf(h, "6"), []string{
			"0: from all lookup local",
			"32765: from 2001:db8:1::2 lookup " + t1 + " proto 234",
			"32765: from 2001:db8:2::2 lookup " + t2 + " proto 234",
			"32766: from all lookup main",
		}},
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		// fe80::/64 stays out: link-local destinations are not copied.
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), []string{
			"2001:db8:1::/64 dev em1 proto kernel metric 256 pref medium",
			"default via fe80::1 dev em1 metric 1024 pref medium",
		}},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{
			"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium",
			"default via fe80::1 dev em2 metric 1024 pref medium",
		}},
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), seedTable1},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), seedTable2},
	})
	assertInSync(t, h)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// 8. An IPv4 multipath route gives each table its own nexthop.
func TestIPv4Multipath(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	t1, t2 := h.table("em1"), h.table("em2")
	h.ip("route", "add", "172.16.0.0/12", "nexthop", "via", "10.0.0.1", "dev", "em1", "nexthop", "via", "192.168.0.1", "dev", "em2")
	h.pass()
	checkReadbacks(t, []readback{
		{"table " + t1, tableOf(h, "4", t1), plus(seedTable1, "172.16.0.0/12 via 10.0.0.1 dev em1")},
		{"table " + t2, tableOf(h, "4", t2), plus(seedTable2, "172.16.0.0/12 via 192.168.0.1 dev em2")},
	})
	assertInSync(t, h)
}

// 9. Null routes in main hold for every source address.
func TestNullRoutesInEveryTable(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	t1, t2 := h.table("em1"), h.table("em2")
	h.ips(
		"-6 addr add 2001:db8:1::2/64 dev em1 nodad",
		"-6 addr add 2001:db8:2::2/64 dev em2 nodad",
		"route add blackhole 10.99.0.0/16",
		"-6 route add unreachable 2001:db8:dead::/48",
	)
	h.pass()
	const unreach = "unreachable 2001:db8:dead::/48 dev lo metric 1024 pref medium"
	checkReadbacks(t, []readback{
		{"ip -4 route show table " + t1, tableOf(h, "4", t1), plus(seedTable1, "blackhole 10.99.0.0/16")},
		{"ip -4 route show table " + t2, tableOf(h, "4", t2), plus(seedTable2, "blackhole 10.99.0.0/16")},
		{"ip -6 route show table " + t1, tableOf(h, "6", t1), []string{"2001:db8:1::/64 dev em1 proto kernel metric 256 pref medium", unreach}},
		{"ip -6 route show table " + t2, tableOf(h, "6", t2), []string{"2001:db8:2::/64 dev em2 proto kernel metric 256 pref medium", unreach}},
	})
	assertInSync(t, h)
}

// 10. An excluded container bridge gets no table, and its route goes into
// every managed table, so the host reaches containers from every address.
func TestContainerBridge(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	c := newNS(t, s.tag, "container")
	t1, t2 := h.table("em1"), h.table("em2")
	h.ips(
		"link add docker0 type bridge",
		"addr add 172.17.0.1/16 dev docker0",
		"link set docker0 up",
	)
	veth(t, h, "vethc0", "", c, "eth0", "172.17.0.2/16")
	h.ip("link", "set", "vethc0", "master", "docker0")
	c.ip("route", "add", "default", "via", "172.17.0.1", "dev", "eth0")
	const bridgeRoute = "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"
	eventually(t, "docker0's route is up in main", func() error {
		if main := h.routes("4", "main"); !contains(main, bridgeRoute) {
			return errorf("main is %q", main)
		}
		return nil
	})
	tDocker, tVeth := h.table("docker0"), h.table("vethc0")

	h.pass()
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), seedRules(t1, t2)},
		{"table " + t1, tableOf(h, "4", t1), plus(seedTable1, bridgeRoute)},
		{"table " + t2, tableOf(h, "4", t2), plus(seedTable2, bridgeRoute)},
		{"table " + tDocker + " (docker0)", tableOf(h, "4", tDocker), nil},
		{"table " + tVeth + " (vethc0)", tableOf(h, "4", tVeth), nil},
		{"ip -6 table " + tDocker + " (docker0)", tableOf(h, "6", tDocker), nil},
	})
	assertInSync(t, h)

	for _, src := range []string{"192.168.0.2", "10.0.0.2"} {
		// The policy route is the one in use.
		if out := h.ip("route", "get", "172.17.0.2", "from", src); !strings.Contains(out, "dev docker0") {
			t.Errorf("ip route get 172.17.0.2 from %s: want dev docker0, got %q", src, out)
		}
		mustPing(t, h, src, "172.17.0.2")
	}
}

// 11. A route through a link whose carrier is down is skipped, not an
// error, and mirrored once the link comes up.
func TestLinkdownSkipped(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false)
	h := s.host
	r3 := newNS(t, s.tag, "r3")
	t1, t2 := h.table("em1"), h.table("em2")
	h.ip("link", "add", "em3", "type", "veth", "peer", "name", "up0", "netns", r3.Name)
	h.ips("addr add 10.3.0.2/24 dev em3", "link set em3 up")
	h.ip("route", "add", "10.33.0.0/16", "via", "10.3.0.1", "dev", "em3")
	t3 := h.table("em3")
	eventually(t, "em3's routes flagged linkdown in main", func() error {
		main := h.routes("4", "main")
		if !contains(main, "10.3.0.0/24 dev em3 proto kernel scope link src 10.3.0.2 linkdown") ||
			!contains(main, "10.33.0.0/16 via 10.3.0.1 dev em3 linkdown") {
			return errorf("main is %q", main)
		}
		return nil
	})

	r := h.symroute("--once")
	if r.code != 0 {
		t.Fatalf("pass with a linkdown route: want exit 0, got %s", r)
	}
	rules := plus(seedRules(t1, t2), "32765: from 10.3.0.2 lookup "+t3+" proto 234")
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), rules},
		{"table " + t3 + " (em3, down)", tableOf(h, "4", t3), nil},
		{"table " + t1, tableOf(h, "4", t1), seedTable1},
		{"table " + t2, tableOf(h, "4", t2), seedTable2},
	})
	assertInSync(t, h)

	r3.ip("link", "set", "up0", "up")
	eventually(t, "em3's routes up in main", func() error {
		for _, l := range h.routes("4", "main") {
			if strings.Contains(l, "linkdown") {
				return errorf("still %q", l)
			}
		}
		return nil
	})
	h.pass()
	checkReadbacks(t, []readback{
		{"ip -4 rule (em3 up)", rulesOf(h, "4"), rules},
		{"table " + t3 + " (em3 up)", tableOf(h, "4", t3), []string{
			"10.3.0.0/24 dev em3 proto kernel scope link src 10.3.0.2",
			"10.33.0.0/16 via 10.3.0.1 dev em3",
		}},
	})
}

// 12. Bad input: exit 2 before anything is touched.
func TestBadInputTouchesNothing(t *testing.T) {
	t.Parallel()
	s := newSeed(t, false) // not in sync: a pass would change things
	h := s.host
	before := h.dump()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"table base that could hit reserved tables", []string{"--once", "--table-base", "100"}, "table-base"},
		{"priority 0", []string{"--once", "--priority", "0"}, "priority"},
		{"missing named config", []string{"--once", "--config", "/nonexistent"}, "/nonexistent"},
		{"unknown route metric", []string{"--once", "--set-route-metric", "bogus=1"}, "bogus"},
		{"flush with a bad table base", []string{"--flush", "--table-base", "100"}, "table-base"},
		{"no mode", []string{"--priority", "100"}, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.symroute(tc.args...)
			if r.code != 2 {
				t.Errorf("want exit 2, got %s", r)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr should name %q:\n%s", tc.stderr, r.stderr)
			}
			if diff := cmp.Diff(before, h.dump()); diff != "" {
				t.Errorf("rules and routes changed (-before +after):\n%s", diff)
			}
		})
	}
	// The same host does change with good input: the comparison can fail.
	h.pass()
	if diff := cmp.Diff(before, h.dump()); diff == "" {
		t.Error("a good pass changed nothing either: the comparison proves nothing")
	}
}

// Beyond the list: a table one of our rules looks up is ours, and "when the
// pass removes the last of our rules for a table, it also clears what we
// put there" (README, "How it decides") — also when that table is below the table base,
// as after raising --table-base, or for a legacy symrouted rule (always at
// 1000+ifindex) on a host run with another base.
func TestOldTablesClearedWhenBaseRaised(t *testing.T) {
	t.Parallel()

	t.Run("base raised from 1000 to 2000", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		i1, i2 := h.ifindex("em1"), h.ifindex("em2")
		old1, old2 := strconv.Itoa(1000+i1), strconv.Itoa(1000+i2)
		new1, new2 := strconv.Itoa(2000+i1), strconv.Itoa(2000+i2)
		h.pass()
		if r := h.symroute("--once", "--table-base", "2000"); r.code != 0 {
			t.Fatalf("pass with --table-base 2000: want exit 0, got %s", r)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), seedRules(new1, new2)},
			{"table " + new1, tableOf(h, "4", new1), seedTable1},
			{"table " + new2, tableOf(h, "4", new2), seedTable2},
			{"old table " + old1 + " (its rule removed: cleared)", tableOf(h, "4", old1), nil},
			{"old table " + old2 + " (its rule removed: cleared)", tableOf(h, "4", old2), nil},
		})
	})

	t.Run("legacy rule under base 2000", func(t *testing.T) {
		t.Parallel()
		s := newSeed(t, false)
		h := s.host
		i1, i2 := h.ifindex("em1"), h.ifindex("em2")
		legacy1 := strconv.Itoa(1000 + i1)
		new1, new2 := strconv.Itoa(2000+i1), strconv.Itoa(2000+i2)
		// What the original symrouted left: no protocol, 1000+ifindex.
		h.ips(
			"rule add from 10.0.0.2 table "+legacy1+" priority 32765",
			"route add 10.0.0.0/16 dev em1 proto kernel scope link src 10.0.0.2 table "+legacy1,
			"route add default via 10.0.0.1 dev em1 metric 105 table "+legacy1,
		)
		if r := h.symroute("--once", "--table-base", "2000"); r.code != 0 {
			t.Fatalf("pass with --table-base 2000: want exit 0, got %s", r)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule", rulesOf(h, "4"), seedRules(new1, new2)},
			{"table " + new1, tableOf(h, "4", new1), seedTable1},
			{"legacy table " + legacy1 + " (its rule replaced: cleared)", tableOf(h, "4", legacy1), nil},
		})
	})
}
