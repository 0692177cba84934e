package e2e

// --follow-ingress's state: the values it gives links (kept, retired,
// moved under another mask, forgotten from conntrack when retired, even
// under traffic), a pass that has nothing to do writing nothing, the option
// taken back (a pass without it, --flush) and its plans (--dry-run replayed
// by sh, a bad mask refused).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// 7. A link deleted and made again (same name, new ifindex) is a new link:
// the old value's conntrack entries are forgotten, its rule and table go,
// and the new link gets a value of its own.
func TestIngressLinkRecreated(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	v := it.on()
	oldIndex, oldTable, t1 := h.ifindex("em2"), h.table("em2"), h.table("em1")

	it.via(vip4, "R2")
	if e := it.exchange(t, hostPort(vip4, 9000)); e.mark != v["em2"] {
		t.Fatalf("conntrack mark through R2 before: want %#x, got %#x\n%s", v["em2"], e.mark, e.line)
	}
	// Entries with em2's value (one with another program's bit too, one
	// IPv6: forgetting goes by mark, in both families), and one of em1's,
	// which must stay.
	ctInsert(h, "172.31.2.2", vip4, 40001, v["em2"]|0x10)
	ctInsert(h, "2001:db8:31:2::2", vip6, 40001, v["em2"])
	ctInsert(h, "172.31.1.2", vip4, 40002, v["em1"])

	h.ip("link", "del", "em2") // and R2's end with it
	veth(t, h, "em2", "192.168.0.2/24", it.r2, "up0", "192.168.0.1/24")
	it.r2.sysctl("net.ipv4.conf.up0.rp_filter=1")
	it.r2.ips(
		"route add "+vip4+"/32 via 192.168.0.2",
		"route add 10.0.0.0/16 via 192.168.0.2",
	)
	h.ip("route", "add", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")
	h.sysctl("net.ipv4.conf.em2.rp_filter=1")
	newIndex, newTable := h.ifindex("em2"), h.table("em2")
	if newIndex == oldIndex {
		t.Fatalf("setup: em2 made again kept ifindex %d", oldIndex)
	}

	h.ingressPass()
	if left := h.ctWithValue(v["em2"]); len(left) > 0 {
		t.Errorf("conntrack entries still carrying the old em2's value %#x:\n%s", v["em2"], strings.Join(left, "\n"))
	}
	if e := h.ctOf(netip.MustParseAddrPort("172.31.1.2:40002")); e.mark != v["em1"] {
		t.Errorf("em1's conntrack entry: want mark %#x kept, got %#x\n%s", v["em1"], e.mark, e.line)
	}
	marks := fwmarkRules(h)
	newValue := marks[newTable]
	switch {
	case newValue == 0:
		t.Errorf("no fwmark rule looks up the new em2's table %s; rules:\n%s", newTable, strings.Join(h.rules("4"), "\n"))
	case newValue == v["em2"] || newValue == v["em1"]:
		t.Errorf("the new em2 got value %#x, already the old em2's or em1's", newValue)
	}
	checkReadbacks(t, []readback{
		{"ip -4 rule", rulesOf(h, "4"), sorted(plus(seedRules(t1, newTable), plus(steerRules(v["em1"], "em1", t1), steerRules(newValue, "em2", newTable)...)...))},
		{"old em2's table " + oldTable, tableOf(h, "4", oldTable), nil},
		{"new em2's table " + newTable, tableOf(h, "4", newTable), plus(seedMirror2, bridgeRoute4)},
		{"src_valid_mark of the new em2", func() []string { return []string{h.srcValidMark("em2")} }, []string{"1"}},
	})
	assertInSync(t, h, "--follow-ingress")

	if e := it.exchange(t, hostPort(vip4, 9000)); e.mark != newValue {
		t.Errorf("conntrack mark through R2 after: want the new em2's %#x, got %#x\n%s", newValue, e.mark, e.line)
	}
}

// 8. A pass on a host in sync writes nothing: no netlink change, no
// nftables transaction.
func TestIngressNoOpPassWritesNothing(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	h.ingressPass()

	ipm, nftm := startMonitor(t, h), startNftMonitor(t, h)
	var second result
	var nftGot []string
	ipGot := ipm.during(func() {
		nftGot = nftm.during(func() { second = h.ingressPass() })
	})
	if diff := cmp.Diff([]string{}, ipGot); diff != "" {
		t.Errorf("ip monitor during a pass on a synced host (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{}, nftGot); diff != "" {
		t.Errorf("nft monitor during a pass on a synced host (-want +got):\n%s", diff)
	}
	if second.stderr != "" {
		t.Errorf("a pass that changed nothing logged (want silence):\n%s", second.stderr)
	}

	// The nft monitor does see a pass that has the table to write: the
	// measurement can fail.
	h.run("", "nft", "delete", "table", "inet", "symroute")
	nftGot = nftm.during(func() { h.ingressPass() })
	if !contains(nftGot, "add table inet symroute") {
		t.Errorf("nft monitor during the pass after the table was deleted: want \"add table inet symroute\", got:\n%s", strings.Join(nftGot, "\n"))
	}

	// A rule added to the table by hand is drift: --check says so, and
	// the next pass writes the table anew, without it.
	h.run("", "nft", "add", "rule", "inet", "symroute", "prerouting", "counter")
	if r := h.symroute("--check", "--follow-ingress"); r.code != 3 || !strings.Contains(r.stdout, "nft -f -") {
		t.Errorf("--check --follow-ingress with a rule added by hand: want exit 3 and the table's rewrite, got %s", r)
	}
	h.ingressPass()
	if got := h.nftList("table", "inet", "symroute"); strings.Contains(got, "counter") {
		t.Errorf("the rule added by hand survived a pass:\n%s", got)
	}
	assertInSync(t, h, "--follow-ingress")
}

// 9. Without the option a pass takes it all back but the per-address
// rules; --flush, with or without the option, takes everything back.
// src_valid_mark goes back to 0 only where symroute set it, and other
// programs' nftables tables are never touched.
func TestIngressOffAndFlush(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	h.nft(otherMarks)
	// Someone else's: symroute must leave it on.
	h.sysctl("net.ipv4.conf.em1.src_valid_mark=1")
	t1, t2 := h.tables()
	dumpBefore, rulesetBefore := h.dump(), h.nftList("ruleset")
	foreign := func() []string {
		return []string{h.nftList("table", "ip", "dockerish"), h.nftList("table", "inet", "other")}
	}
	foreignBefore := foreign()
	svm := func() []string {
		return []string{"em1=" + h.srcValidMark("em1"), "em2=" + h.srcValidMark("em2")}
	}
	// The mark of the entry with only the other program's bit.
	const foreignOnly = uint32(0x10)

	// on turns the option on, with a connection through each router and
	// an entry that carries no value, and checks what a pass made.
	on := func(t *testing.T) map[string]uint32 {
		t.Helper()
		v := it.on()
		if diff := cmp.Diff(sorted(ingressRules(h, v)), h.rules("4")); diff != "" {
			t.Fatalf("ip -4 rule with the option (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"em1=1", "em2=1"}, svm()); diff != "" {
			t.Fatalf("src_valid_mark with the option (-want +got):\n%s", diff)
		}
		for _, r := range []string{"R1", "R2"} {
			it.via(vip4, r)
			if want, e := v[ingressLinkOf[r]]|0x10, it.exchange(t, hostPort(vip4, 9000)); e.mark != want {
				t.Fatalf("conntrack mark through %s: want %#x, got %#x\n%s", r, want, e.mark, e.line)
			}
		}
		return v
	}
	noneLeft := func(t *testing.T, v map[string]uint32) {
		t.Helper()
		for link, val := range v {
			if left := h.ctWithValue(val); len(left) > 0 {
				t.Errorf("conntrack entries still carrying %s's value %#x:\n%s", link, val, strings.Join(left, "\n"))
			}
		}
	}
	foreignSame := func(t *testing.T) {
		t.Helper()
		if diff := cmp.Diff(foreignBefore, foreign()); diff != "" {
			t.Errorf("nft list table ip dockerish, inet other (-before +after):\n%s", diff)
		}
	}

	v := on(t)
	ctInsert(h, "172.31.2.2", vip4, 40003, foreignOnly)
	foreignSame(t)

	t.Run("pass without the option", func(t *testing.T) {
		h.pass()
		if got := h.nftList("table", "inet", "symroute"); got != "" {
			t.Errorf("table inet symroute is still there:\n%s", got)
		}
		checkReadbacks(t, []readback{
			{"ip -4 rule (per-address rules kept)", rulesOf(h, "4"), seedRules(t1, t2)},
			{"src_valid_mark (em1's was on before)", svm, []string{"em1=1", "em2=0"}},
		})
		noneLeft(t, v)
		if e := h.ctOf(netip.MustParseAddrPort("172.31.2.2:40003")); e.mark != foreignOnly {
			t.Errorf("the conntrack entry with only another program's bit: want mark %#x kept, got %#x\n%s", foreignOnly, e.mark, e.line)
		}
		foreignSame(t)
		assertInSync(t, h)
	})

	for _, flush := range [][]string{{"--flush"}, {"--flush", "--follow-ingress"}} {
		name := strings.Join(flush, " ")
		v := on(t)
		t.Run(name, func(t *testing.T) {
			if r := h.symroute(flush...); r.code != 0 {
				t.Fatalf("%s: want exit 0, got %s", name, r)
			}
			if diff := cmp.Diff(dumpBefore, h.dump()); diff != "" {
				t.Errorf("rules and routes (-before the first pass +after %s):\n%s", name, diff)
			}
			if diff := cmp.Diff(rulesetBefore, h.nftList("ruleset")); diff != "" {
				t.Errorf("nft list ruleset (-before the first pass +after %s):\n%s", name, diff)
			}
			if diff := cmp.Diff([]string{"em1=1", "em2=0"}, svm()); diff != "" {
				t.Errorf("src_valid_mark (em1's was on before) (-want +got):\n%s", diff)
			}
			noneLeft(t, v)
			foreignSame(t)
			assertNoPlan(t, h, append(flush, "--dry-run")...)
		})
	}
}

// 10. --dry-run --follow-ingress is a shell script: replayed by sh inside
// the namespace, it leaves the host in sync, and connections work.
func TestIngressDryRunReplays(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host

	check := h.symroute("--check", "--follow-ingress")
	if check.code != 3 {
		t.Fatalf("--check --follow-ingress on an unsynced host: want exit 3, got %s", check)
	}
	dry := h.symroute("--dry-run", "--follow-ingress")
	if dry.code != 0 {
		t.Fatalf("--dry-run --follow-ingress: want exit 0, got %s", dry)
	}
	if diff := cmp.Diff(dry.stdout, check.stdout); diff != "" {
		t.Errorf("--check's drift differs from --dry-run's plan (-dry-run +check):\n%s", diff)
	}
	for _, want := range []string{
		"nft -f - <<'SYMROUTE_NFT'\n",
		"\nSYMROUTE_NFT\n",
		"sysctl -qw 'net/ipv4/conf/em1/src_valid_mark=1'\n",
		"sysctl -qw 'net/ipv4/conf/em2/src_valid_mark=1'\n",
	} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("--dry-run --follow-ingress lacks %q:\n%s", want, dry.stdout)
		}
	}
	if r := shIn(t, h, dry.stdout); r.code != 0 {
		t.Fatalf("replaying --dry-run --follow-ingress with sh inside %s: %s\nplan:\n%s", h.Name, r, dry.stdout)
	}
	assertInSync(t, h, "--follow-ingress")
	assertNoPlan(t, h, "--dry-run", "--follow-ingress")

	v := ingressValues(h, "em1", "em2")
	for _, tc := range []ingressCase{
		{"VIP via R2", vip4, 9000, "R2"},
		{"published port on em1's address via R2", "10.0.0.2", 8080, "R2"},
		{"em2's address via R1", "192.168.0.2", 9000, "R1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it.assertMarked(t, tc, v[ingressLinkOf[tc.router]])
		})
	}
}

// 11. A bad mask is refused before anything is touched, on a fresh host
// and on one where the option is on.
func TestIngressBadMask(t *testing.T) {
	t.Parallel()
	testns.RequirePrograms(t, "nftables", "nft")
	s := newSeed(t, false) // not in sync: a pass would change things
	h := s.host
	state := func() []string {
		return append(h.dump(), "nft: "+h.nftList("ruleset"),
			"em1 src_valid_mark="+h.srcValidMark("em1"), "em2 src_valid_mark="+h.srcValidMark("em2"))
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(conf, []byte("follow-ingress = true\ningress-mark-mask = 0x100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cases [][]string
	for _, m := range []string{"0", "0x100", "junk", "0377", "0x1ff000000"} {
		cases = append(cases,
			[]string{"--once", "--follow-ingress", "--ingress-mark-mask", m},
			[]string{"--flush", "--ingress-mark-mask", m})
	}
	cases = append(cases, []string{"--config", conf, "--once"})
	refused := func(t *testing.T) {
		before := state()
		for _, args := range cases {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := h.symroute(args...)
				if r.code != 2 {
					t.Errorf("want exit 2, got %s", r)
				}
				if !strings.Contains(r.stderr, "ingress-mark-mask") {
					t.Errorf("stderr should name ingress-mark-mask:\n%s", r.stderr)
				}
				if diff := cmp.Diff(before, state()); diff != "" {
					t.Errorf("rules, routes, nftables or src_valid_mark changed (-before +after):\n%s", diff)
				}
			})
		}
	}
	t.Run("fresh host", refused)
	before := state()
	h.ingressPass()
	// The same host does change with good input: the comparison can fail.
	if diff := cmp.Diff(before, state()); diff == "" {
		t.Fatal("a good pass changed nothing either: the comparison proves nothing")
	}
	t.Run("option on", refused)
}

// Beyond the list: a link that loses its address stops being steered (its
// value retired, its entries forgotten) while every other link keeps its
// value; with its address back it is steered again, by a value no other
// link holds.
func TestIngressValuesKept(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h := it.host
	v := it.on()
	t1, t2 := h.tables()
	it.via("192.168.0.2", "R1")
	if e := it.exchange(t, "192.168.0.2:9000"); e.mark != v["em1"] {
		t.Fatalf("conntrack mark through R1: want %#x, got %#x\n%s", v["em1"], e.mark, e.line)
	}

	h.ip("addr", "del", "10.0.0.2/16", "dev", "em1")
	h.ingressPass()
	checkReadbacks(t, []readback{
		{"ip -4 rule without em1's address", rulesOf(h, "4"), []string{
			"0: from all lookup local",
			forwardRule(v["em2"], "em2"),
			fwmarkRule(v["em2"], t2),
			ruleLine("192.168.0.2", t2),
			oifRuleLine("em2", t2),
			"32766: from all lookup main",
			"32767: from all lookup default",
		}},
	})
	if left := h.ctWithValue(v["em1"]); len(left) > 0 {
		t.Errorf("conntrack entries still carrying em1's retired value %#x:\n%s", v["em1"], strings.Join(left, "\n"))
	}
	assertInSync(t, h, "--follow-ingress")

	h.ip("addr", "add", "10.0.0.2/16", "dev", "em1")
	h.ip("route", "replace", "default", "via", "10.0.0.1", "dev", "em1", "metric", "105")
	h.ingressPass()
	marks := fwmarkRules(h)
	if marks[t2] != v["em2"] {
		t.Errorf("em2's value changed from %#x to %#x while em2 kept being steered", v["em2"], marks[t2])
	}
	if marks[t1] == 0 || marks[t1] == v["em2"] {
		t.Errorf("em1's value with its address back: want one of its own, got %#x (em2 holds %#x)", marks[t1], v["em2"])
	}
	if e := it.exchange(t, "192.168.0.2:9000"); e.mark != marks[t1] {
		t.Errorf("conntrack mark through R1 after: want %#x, got %#x\n%s", marks[t1], e.mark, e.line)
	}
	assertInSync(t, h, "--follow-ingress")
}

// Beyond the list: another mask moves every link to values under it, and
// forgets nothing by the old one, whose bits may be another program's now.
func TestIngressMaskChanged(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	h, c := it.host, it.client
	v := it.on()
	it.via(vip4, "R2")
	mustTransfer(t, c, "", hostPort(vip4, 9000))

	const mask = "0x00ff0000"
	h.ingressPass("--ingress-mark-mask", mask)
	// The old mask's bits may be another program's now: nothing is
	// forgotten by them, and no rule routes by them any more.
	if left := h.ctWithValue(v["em2"]); len(left) == 0 {
		t.Errorf("the connection's entry carrying em2's value %#x under the old mask was forgotten", v["em2"])
	}
	var fw []string
	for _, l := range h.rules("4") {
		if strings.Contains(l, "fwmark") {
			fw = append(fw, l)
		}
	}
	// The values under the new mask, by ifindex as ever.
	want := map[string]uint32{}
	for link, val := range v {
		want[link] = val >> 8
	}
	if diff := cmp.Diff(sorted([]string{
		fmt.Sprintf("32763: from all fwmark %#x/0xff0000 iif em1 lookup main suppress_prefixlength 0 proto 234", want["em1"]),
		fmt.Sprintf("32763: from all fwmark %#x/0xff0000 iif em2 lookup main suppress_prefixlength 0 proto 234", want["em2"]),
		fmt.Sprintf("32764: from all fwmark %#x/0xff0000 lookup %s proto 234", want["em1"], h.table("em1")),
		fmt.Sprintf("32764: from all fwmark %#x/0xff0000 lookup %s proto 234", want["em2"], h.table("em2")),
	}), fw); diff != "" {
		t.Errorf("fwmark rules under mask %s (-want +got):\n%s", mask, diff)
	}
	assertNoPlan(t, h, "--check", "--follow-ingress", "--ingress-mark-mask", mask)
	if e := it.exchange(t, hostPort(vip4, 9000)); e.mark != want["em2"] {
		t.Errorf("conntrack mark through R2 under mask %s: want %#x, got %#x\n%s", mask, want["em2"], e.mark, e.line)
	}
}

// Beyond the list: a retired value must be gone from conntrack once the
// pass that retired it is over, also while the link still carries traffic
// of its connections, or a later pass hands the value to another link and
// those replies follow that link's table.
//
// A UDP stream from CLIENT to the VIP through R2 keeps em2's entry alive;
// the host's rp_filter is 0: with strict rp_filter the pass's earlier
// src_valid_mark reset makes the host drop the stream's packets for a
// moment, which hides what this looks at. A packet that arrives after the
// entries are forgotten but while the table still remembers em2 makes an
// entry with the retired value again: the table must go (or stop naming
// the link) before the forgetting, not after.
func TestIngressRetiredValueForgottenUnderTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		retire  func(t *testing.T, it *ingressTopo)
		restore func(t *testing.T, it *ingressTopo)
	}{
		{"option turned off", func(t *testing.T, it *ingressTopo) { it.host.pass() }, nil},
		{"--flush", func(t *testing.T, it *ingressTopo) {
			if r := it.host.symroute("--flush"); r.code != 0 {
				t.Fatalf("--flush: want exit 0, got %s", r)
			}
		}, nil},
		{"em2's address removed", func(t *testing.T, it *ingressTopo) {
			it.host.ip("addr", "del", "192.168.0.2/24", "dev", "em2")
			it.host.ingressPass()
		}, func(t *testing.T, it *ingressTopo) {
			it.host.ip("addr", "add", "192.168.0.2/24", "dev", "em2")
			it.host.ip("route", "replace", "default", "via", "192.168.0.1", "dev", "em2", "metric", "106")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := newIngressTopo(t, 0)
			h := it.host
			it.via(vip4, "R2")
			udpStream(t, it.client, hostPort(vip4, 9999))
			// Each round is a fresh chance for a packet to fall between
			// the two steps.
			for round := 1; round <= 40; round++ {
				h.ingressPass()
				v := fwmarkRules(h)[h.table("em2")]
				eventually(t, "the stream's conntrack entry carries em2's value", func() error {
					if len(h.ctWithValue(v)) == 0 {
						return fmt.Errorf("no entry with mark %#x", v)
					}
					return nil
				})
				tc.retire(t, it)
				if left := h.ctWithValue(v); len(left) > 0 {
					t.Fatalf("round %d: after the pass that retired em2's value %#x, conntrack still has:\n%s", round, v, strings.Join(left, "\n"))
				}
				if tc.restore != nil {
					tc.restore(t, it)
				}
			}
		})
	}
}

// Beyond the list: the plans that take the option back (--flush, a pass
// without it) replay under `sh -e` like every other plan, also when no
// connection carries a value: conntrack(8) exits 1 when it deletes nothing,
// and sh -e would stop there, half way.
func TestIngressTakeBackPlanReplaysInSh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"--flush --dry-run", []string{"--flush", "--dry-run"}},
		{"--dry-run without the option", []string{"--dry-run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testns.RequirePrograms(t, "nftables", "nft")
			testns.RequirePrograms(t, "conntrack", "conntrack")
			h := newSeed(t, false).host
			h.ingressPass()
			dry := h.symroute(tc.args...)
			if dry.code != 0 || !strings.Contains(dry.stdout, "nft delete table inet symroute\n") {
				t.Fatalf("%s with the option on: want exit 0 and a plan that deletes the table, got %s", tc.name, dry)
			}
			if r := shIn(t, h, dry.stdout); r.code != 0 {
				t.Fatalf("replaying %s with sh -e inside %s: %s\nplan:\n%s", tc.name, h.Name, r, dry.stdout)
			}
			assertNoPlan(t, h, tc.args...)
		})
	}
}
