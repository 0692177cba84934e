package e2e

// The test bed's read-backs: what the kernel says inside a namespace (rules,
// routes, addresses, nftables, sysctls), normalised into lines the tests
// compare with cmp.Diff. Every read names its namespace. The address reader
// is testbed.Addrs4, which bench can use too; the rest parses what only
// these tests compare. (conntrack, which only --follow-ingress marks, is
// read in ingress_bed_test.go.)

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testbed"
)

var protoName = regexp.MustCompile(`\bproto symroute\b`)

// normalize turns ip(8) output into comparable lines: continuation lines
// (a multipath route's nexthops) joined to their route, whitespace
// collapsed, volatile "expires N" dropped, and the rule protocol shown as
// its number whether or not rt_protos names it.
func normalize(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] += " " + l
			continue
		}
		lines = append(lines, l)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		var keep []string
		for j := 0; j < len(f); j++ {
			if f[j] == "expires" && j+1 < len(f) {
				j++
				continue
			}
			keep = append(keep, f[j])
		}
		lines[i] = protoName.ReplaceAllString(strings.Join(keep, " "), "proto 234")
	}
	return lines
}

// sorted is a sorted copy of l, never nil.
func sorted(l []string) []string {
	l = append([]string{}, l...)
	sort.Strings(l)
	return l
}

func plus(a []string, b ...string) []string { return append(append([]string{}, a...), b...) }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// fieldAfter is the word after key in line ("" if none).
func fieldAfter(line, key string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

// throwOf is the throw that link's table holds for main's route r (as ip
// prints it, normalized) when r is another managed link's connected subnet
// (no gateway, through managed links, down or not: a multipath route's
// every nexthop), or a route through links not managed, all down; "" if
// none. Never a default.
func throwOf(r, link string, managed func(dev string) bool) string {
	f := strings.Fields(r)
	if len(f) == 0 || f[0] == "default" {
		return ""
	}
	// A plain route is one nexthop; a multipath route's start with
	// "nexthop".
	hops := strings.Split(r, " nexthop ")
	if len(hops) > 1 {
		hops = hops[1:]
	}
	connected, down := true, true
	for _, h := range hops {
		dev := fieldAfter(h, "dev")
		if dev == "" || dev == link {
			return ""
		}
		connected = connected && managed(dev) && fieldAfter(h, "via") == ""
		down = down && !managed(dev) && (strings.Contains(h+" ", " linkdown ") || strings.Contains(h+" ", " dead "))
	}
	if !connected && !down {
		return ""
	}
	th := "throw " + f[0] + " proto 234"
	if m := fieldAfter(r, "metric"); m != "" {
		th += " metric " + m
	}
	return th
}

// ruleLine is the rule a pass makes for addr at the default priority, as
// `ip rule` prints it.
func ruleLine(addr, table string) string {
	return "32765: from " + addr + " lookup " + table + " proto 234"
}

// oifRuleLine is the rule a pass makes for sockets bound to link at the
// default priority, in each family the link has an address in.
func oifRuleLine(link, table string) string {
	return "32765: from all oif " + link + " lookup " + table + " proto 234"
}

// linkLocal6 is the copy of main's fe80::/64 route of link that link's
// IPv6 table holds beside its oif rule, as `ip -6 route` prints it.
func linkLocal6(link string) string {
	return "fe80::/64 dev " + link + " proto kernel metric 256 pref medium"
}

// rulesWith is a namespace's IPv4 rules with ours added to the kernel's
// own, sorted.
func rulesWith(ours ...string) []string {
	return sorted(append([]string{"0: from all lookup local", "32766: from all lookup main", "32767: from all lookup default"}, ours...))
}

// rules is `ip -4 rule` or `ip -6 rule` ("4"/"6"), sorted.
func (n *ns) rules(fam string) []string {
	n.t.Helper()
	return sorted(normalize(n.ip("-"+fam, "rule", "show")))
}

// routes is `ip -4|-6 route show table T`, sorted.
// A table that was never written, or was emptied, does not exist for the
// kernel: ip says so and exits 2, which reads back as no routes.
func (n *ns) routes(fam, table string) []string {
	n.t.Helper()
	out, err := n.ipErr("-"+fam, "route", "show", "table", table)
	if err != nil {
		if strings.Contains(err.Error(), "FIB table does not exist") {
			return []string{}
		}
		n.t.Fatal(err)
	}
	return sorted(normalize(out))
}

// dump is every rule and every route of every table, both families, each
// line labelled with its source: what "nothing changed" is compared on.
func (n *ns) dump() []string {
	n.t.Helper()
	var all []string
	for _, q := range [][]string{
		{"-4", "rule", "show"}, {"-6", "rule", "show"},
		{"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
	} {
		label := strings.Join(q, " ") + ": "
		for _, l := range sorted(normalize(n.ip(q...))) {
			all = append(all, label+l)
		}
	}
	return all
}

// addrs4 is link's global IPv4 addresses (testbed.Addrs4).
func (n *ns) addrs4(link string) ([]string, error) { return testbed.Addrs4(n.Name, link) }

// addr4 is link's first global IPv4 address, "" if it has none.
func (n *ns) addr4(link string) string {
	n.t.Helper()
	a, err := n.addrs4(link)
	if err != nil {
		n.t.Fatal(err)
	}
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// unmirrored is nil once no rule of ours looks up link's table and the
// table is empty.
func unmirrored(n *ns, link string) error {
	table := n.table(link)
	for _, r := range n.rules("4") {
		if strings.HasSuffix(r, " lookup "+table+" proto 234") {
			return fmt.Errorf("rule %q is still there", r)
		}
	}
	if rt := n.routes("4", table); len(rt) > 0 {
		return fmt.Errorf("table %s still holds %q", table, rt)
	}
	return nil
}

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

// waitRules waits until n's IPv4 rules are want.
func waitRules(t *testing.T, n *ns, what string, want []string) {
	t.Helper()
	eventually(t, what, func() error {
		if diff := cmp.Diff(want, n.rules("4")); diff != "" {
			return fmt.Errorf("(-want +got):\n%s", diff)
		}
		return nil
	})
}

// --- nftables, sysctls ---------------------------------------------------------

// nftList runs `nft list ARGS...` inside n and returns its output; a table
// that does not exist reads back as "".
func (n *ns) nftList(args ...string) string {
	n.t.Helper()
	r := runResult(n.t, n.execCmd("nft", append([]string{"list"}, args...)...))
	switch {
	case r.code == 0:
		return r.stdout
	case strings.Contains(r.stderr, "No such file or directory"):
		return ""
	}
	n.t.Fatalf("ip netns exec %s nft list %s: %s", n.Name, strings.Join(args, " "), r)
	return ""
}

// srcValidMark reads net.ipv4.conf.LINK.src_valid_mark inside n.
func (n *ns) srcValidMark(link string) string {
	n.t.Helper()
	out, err := n.execCmd("sysctl", "-n", "net.ipv4.conf."+link+".src_valid_mark").Output()
	if err != nil {
		n.t.Fatalf("ip netns exec %s sysctl -n net.ipv4.conf.%s.src_valid_mark: %v", n.Name, link, err)
	}
	return strings.TrimSpace(string(out))
}
