package e2e

// The churn of TestReliabilityChurn: seeds and sizes from the environment,
// a seeded generator of link, address and route events whose choices depend
// only on its seed, the wait for the kernel to settle after it, and a
// second computation of the mirror, independent of symroute's planner.

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envSeed is the seed of a seeded test: $name if set (to replay a failure),
// otherwise the clock, so that every run explores a new sequence. It is
// logged either way.
func envSeed(t *testing.T, name string) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv(name); s != "" {
		v, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay: %s=%d)", seed, name, seed)
	return seed
}

// envInt is $name as a positive number, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// churnLink is one uplink the churn drives: emSLOT in HOST (or vethSLOT
// while renamed, which symroute's default excludes leave unmanaged), pSLOT
// its veth peer in PEER. A slot's subnets never change (10.SLOT.0.0/24
// with the peer side as gateway 10.SLOT.0.1, 2001:db8:SLOT::/64 with
// fe80::1), so a link re-created under its name gets the same addresses
// and a new ifindex.
type churnLink struct {
	slot       int
	up, peerUp bool
	renamed    bool
	addrs      []string // "-4 10.1.0.2/24" or "-6 2001:db8:1::2/64"
}

func (l *churnLink) name() string {
	if l.renamed {
		return "veth" + strconv.Itoa(l.slot)
	}
	return "em" + strconv.Itoa(l.slot)
}

func (l *churnLink) peer() string { return "p" + strconv.Itoa(l.slot) }

func (l *churnLink) gw4() string { return fmt.Sprintf("10.%d.0.1", l.slot) }

// churnRoute is a route the churn believes it put in main, and how to
// delete it. The kernel removes routes on its own (a link going down or
// away, an address deleted): a stale belief costs one failed delete.
type churnRoute struct {
	key string // family, destination and metric: the kernel's key
	del []string
}

// churn is a seeded random sequence of network events on HOST (and its
// peer's ends in PEER). What it chooses depends only on the seed and on its
// own model of what it did, never on timing, so a seed replays the same
// commands. Commands the kernel refuses (a route through a link that just
// went away, an address already there) are part of the churn: they are
// counted, not errors.
type churn struct {
	t       *testing.T
	h, peer *ns
	rng     *rand.Rand
	slots   int                // link names em1..emSLOTS
	links   map[int]*churnLink // by slot, the links that exist
	routes  []churnRoute
	defs    map[int]int // slot -> metric of its IPv4 default in main
	log     []string    // every command run, for a failure's report
	refused int
}

func newChurn(t *testing.T, h, peer *ns, seed int64, slots int) *churn {
	return &churn{t: t, h: h, peer: peer, rng: rand.New(rand.NewSource(seed)), slots: slots,
		links: map[int]*churnLink{}, defs: map[int]int{}}
}

// run runs one ip command in n, logs it, and reports whether it worked.
func (c *churn) run(n *ns, args ...string) bool {
	_, err := n.ipErr(args...)
	where := "HOST"
	if n == c.peer {
		where = "PEER"
	}
	line := where + ": ip " + strings.Join(args, " ")
	if err != nil {
		c.refused++
		line += "   # refused: " + lastLine(err.Error())
	}
	c.log = append(c.log, line)
	return err == nil
}

// must runs a command that cannot fail on a correct model (links made and
// removed by the churn itself).
func (c *churn) must(n *ns, args ...string) {
	c.t.Helper()
	if !c.run(n, args...) {
		c.t.Fatalf("churn: %s", c.log[len(c.log)-1])
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// present returns the slots of existing links in order (map order must
// not reach the random choices).
func (c *churn) present() []int {
	var out []int
	for s := range c.links {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

func (c *churn) pick(l []int) int { return l[c.rng.Intn(len(l))] }

func (c *churn) anyLink() *churnLink {
	p := c.present()
	if len(p) == 0 {
		return nil
	}
	return c.links[c.pick(p)]
}

// addLink makes emSLOT (veth to PEER) with, most of the time, an IPv4
// address, an IPv6 address and a default route, and both ends up.
func (c *churn) addLink(slot int) {
	l := &churnLink{slot: slot, up: c.rng.Intn(10) > 0, peerUp: c.rng.Intn(8) > 0}
	c.must(c.h, "link", "add", l.name(), "type", "veth", "peer", "name", l.peer(), "netns", c.peer.Name)
	c.links[slot] = l
	if c.rng.Intn(10) > 0 {
		c.addAddr(l, "-4", fmt.Sprintf("10.%d.0.2/24", slot))
	}
	if c.rng.Intn(2) == 0 {
		c.addAddr(l, "-6", fmt.Sprintf("2001:db8:%d::2/64", slot))
	}
	if l.peerUp {
		c.must(c.peer, "link", "set", l.peer(), "up")
	}
	if l.up {
		c.must(c.h, "link", "set", l.name(), "up")
	}
	if c.rng.Intn(2) == 0 {
		c.setDefault(l, 100+slot)
	}
}

func (c *churn) delLink(l *churnLink) {
	c.must(c.h, "link", "del", l.name())
	delete(c.links, l.slot)
	delete(c.defs, l.slot)
}

func (c *churn) addAddr(l *churnLink, fam, addr string) {
	args := []string{fam, "addr", "add", addr, "dev", l.name()}
	if fam == "-6" {
		args = append(args, "nodad")
	}
	if c.run(c.h, args...) {
		l.addrs = append(l.addrs, fam+" "+addr)
	}
}

func (c *churn) setDefault(l *churnLink, metric int) {
	m := strconv.Itoa(metric)
	// As a DHCP client renews with a new metric: the new default first.
	if c.run(c.h, "route", "add", "default", "via", l.gw4(), "dev", l.name(), "metric", m) {
		if old, ok := c.defs[l.slot]; ok && old != metric {
			c.run(c.h, "route", "del", "default", "via", l.gw4(), "dev", l.name(), "metric", strconv.Itoa(old))
		}
		c.defs[l.slot] = metric
	}
}

// addRoute adds (or, with replace, replaces) a main route and remembers it.
func (c *churn) addRoute(verb, key string, args []string, del []string) {
	if !c.run(c.h, append([]string{args[0], "route", verb}, args[1:]...)...) {
		return
	}
	for _, r := range c.routes {
		if r.key == key {
			return
		}
	}
	c.routes = append(c.routes, churnRoute{key: key, del: del})
}

// routable returns the links a gateway route can go through (up, with an
// IPv4 address of the churn's), or all links when none is: the kernel
// refuses the rest, which is worth a try now and then but not most of the
// time.
func (c *churn) routable() []int {
	var out []int
	for _, s := range c.present() {
		l := c.links[s]
		for _, a := range l.addrs {
			if l.up && strings.HasPrefix(a, "-4 ") {
				out = append(out, s)
				break
			}
		}
	}
	if len(out) == 0 {
		return c.present()
	}
	return out
}

func (c *churn) twoLinks() (*churnLink, *churnLink, bool) {
	p := c.routable()
	if len(p) < 2 {
		return nil, nil, false
	}
	i := c.rng.Intn(len(p))
	j := (i + 1 + c.rng.Intn(len(p)-1)) % len(p)
	return c.links[p[i]], c.links[p[j]], true
}

// step runs one random event. The mix: links come, go, are re-created
// under their name (new ifindex), go down and up, lose and regain carrier
// (routes flagged linkdown), are renamed out of symroute's management and
// back; addresses of both families come and go; main's routes are added,
// deleted and replaced (gateway routes with metrics and route metrics,
// multipath across two links, null routes), and defaults change metric.
func (c *churn) step() {
	r := c.rng.Intn(100)
	l := c.anyLink()
	switch {
	case r < 6: // link added
		var free []int
		for s := 1; s <= c.slots; s++ {
			if c.links[s] == nil {
				free = append(free, s)
			}
		}
		if len(free) > 0 {
			c.addLink(c.pick(free))
		}
	case r < 9: // link deleted
		if l != nil && len(c.links) > 1 {
			c.delLink(l)
		}
	case r < 13: // link re-created under its name
		if l != nil {
			c.delLink(l)
			c.addLink(l.slot)
		}
	case r < 19: // link down or up
		if l != nil {
			l.up = !l.up
			c.must(c.h, "link", "set", l.name(), map[bool]string{true: "up", false: "down"}[l.up])
		}
	case r < 24: // carrier lost or back (the peer's end)
		if l != nil {
			l.peerUp = !l.peerUp
			c.must(c.peer, "link", "set", l.peer(), map[bool]string{true: "up", false: "down"}[l.peerUp])
		}
	case r < 34: // IPv4 address added or deleted
		if l == nil {
			break
		}
		if c.rng.Intn(2) == 0 || len(l.addrs) == 0 {
			host := 2
			if c.rng.Intn(3) > 0 {
				host = 3 + c.rng.Intn(6)
			}
			c.addAddr(l, "-4", fmt.Sprintf("10.%d.0.%d/24", l.slot, host))
		} else {
			c.delAddr(l)
		}
	case r < 42: // IPv6 address added or deleted
		if l == nil {
			break
		}
		if c.rng.Intn(2) == 0 || len(l.addrs) == 0 {
			c.addAddr(l, "-6", fmt.Sprintf("2001:db8:%d::%x/64", l.slot, 2+c.rng.Intn(6)))
		} else {
			c.delAddr(l)
		}
	case r < 56: // IPv4 gateway route added or replaced
		if l == nil {
			break
		}
		l = c.links[c.pick(c.routable())]
		dst := fmt.Sprintf("172.20.%d.0/24", c.rng.Intn(24))
		metric := strconv.Itoa([]int{0, 10, 20}[c.rng.Intn(3)])
		args := []string{"-4", dst, "via", l.gw4(), "dev", l.name(), "metric", metric}
		switch c.rng.Intn(4) {
		case 0:
			args = append(args, "mtu", "1400")
		case 1:
			args = append(args, "proto", "static")
		}
		verb := "add"
		if c.rng.Intn(3) == 0 {
			verb = "replace"
		}
		c.addRoute(verb, "4 "+dst+" "+metric, args, []string{"-4", "route", "del", dst, "metric", metric})
	case r < 63: // IPv4 multipath added or replaced
		a, b, ok := c.twoLinks()
		if !ok {
			break
		}
		dst := fmt.Sprintf("172.30.%d.0/24", c.rng.Intn(12))
		metric := strconv.Itoa([]int{0, 5}[c.rng.Intn(2)])
		args := []string{"-4", dst, "metric", metric,
			"nexthop", "via", a.gw4(), "dev", a.name(), "nexthop", "via", b.gw4(), "dev", b.name()}
		verb := []string{"add", "replace"}[c.rng.Intn(2)]
		c.addRoute(verb, "4 "+dst+" "+metric, args, []string{"-4", "route", "del", dst, "metric", metric})
	case r < 67: // null routes (no device: copied into every table)
		if c.rng.Intn(2) == 0 {
			dst := fmt.Sprintf("10.99.%d.0/24", c.rng.Intn(8))
			c.addRoute("add", "4 "+dst+" 7", []string{"-4", "blackhole", dst, "metric", "7"},
				[]string{"-4", "route", "del", "blackhole", dst, "metric", "7"})
		} else {
			dst := fmt.Sprintf("2001:db8:dead:%x::/64", c.rng.Intn(8))
			c.addRoute("add", "6 "+dst+" 1024", []string{"-6", "unreachable", dst},
				[]string{"-6", "route", "del", "unreachable", dst})
		}
	case r < 74: // IPv6 routes: through one link, or multipath over two
		dst := fmt.Sprintf("2001:db8:f:%x::/64", c.rng.Intn(12))
		metric := strconv.Itoa([]int{1024, 100}[c.rng.Intn(2)])
		key := "6 " + dst + " " + metric
		del := []string{"-6", "route", "del", dst, "metric", metric}
		if a, b, ok := c.twoLinks(); ok && c.rng.Intn(3) == 0 {
			c.addRoute("add", key, []string{"-6", dst, "metric", metric,
				"nexthop", "via", "fe80::1", "dev", a.name(), "nexthop", "via", "fe80::1", "dev", b.name()}, del)
		} else if l != nil {
			verb := []string{"add", "replace"}[c.rng.Intn(2)]
			c.addRoute(verb, key, []string{"-6", dst, "via", "fe80::1", "dev", l.name(), "metric", metric}, del)
		}
	case r < 90: // a route deleted
		if len(c.routes) == 0 {
			break
		}
		i := c.rng.Intn(len(c.routes))
		c.run(c.h, c.routes[i].del...)
		c.routes = append(c.routes[:i], c.routes[i+1:]...)
	case r < 94: // renamed from emSLOT to vethSLOT or back: no longer managed, or managed again
		if l == nil {
			break
		}
		// A link is renamed down.
		if l.up {
			c.must(c.h, "link", "set", l.name(), "down")
		}
		old := l.name()
		l.renamed = !l.renamed
		c.must(c.h, "link", "set", old, "name", l.name())
		if l.up {
			c.must(c.h, "link", "set", l.name(), "up")
		}
	default: // a default route changes metric (a DHCP renewal)
		if l != nil {
			c.setDefault(l, 100+c.rng.Intn(40))
		}
	}
}

func (c *churn) delAddr(l *churnLink) {
	i := c.rng.Intn(len(l.addrs))
	f := strings.Fields(l.addrs[i])
	c.run(c.h, f[0], "addr", "del", f[1], "dev", l.name())
	l.addrs = append(l.addrs[:i], l.addrs[i+1:]...)
}

// carrier says whether l has a carrier: a veth has one while both its
// ends are up.
func (l *churnLink) carrier() bool { return l.up && l.peerUp }

// operstates are the operational states `ip link` shows for l once
// linkwatch, which carries carrier changes to routes asynchronously, has
// caught up. Without a carrier a veth is DOWN or LOWERLAYERDOWN, depending
// on whether its peer's ifindex happens to equal its own.
func (l *churnLink) operstates() []string {
	switch {
	case !l.up:
		return []string{"DOWN"}
	case !l.peerUp:
		return []string{"DOWN", "LOWERLAYERDOWN"}
	}
	return []string{"UP"}
}

// settled reports whether the kernel has finished reacting to the churn:
// every link's operational state and the linkdown flags of main's routes
// through it agree with its carrier. A final pass run before that would
// race the kernel, not the churn.
func (c *churn) settled() error {
	for _, s := range c.present() {
		l := c.links[s]
		out, err := c.h.ipErr("-o", "link", "show", "dev", l.name())
		if err != nil {
			return err
		}
		state := fieldAfter(out, "state")
		ok := false
		for _, want := range l.operstates() {
			ok = ok || state == want
		}
		if !ok {
			return fmt.Errorf("%s: want state %s, got %q", l.name(), strings.Join(l.operstates(), " or "), strings.TrimSpace(out))
		}
		for _, fam := range []string{"-4", "-6"} {
			out, err := c.h.ipErr(fam, "route", "show", "dev", l.name())
			if err != nil {
				return err
			}
			for _, r := range normalize(out) {
				if down := strings.Contains(r, " linkdown"); down == l.carrier() {
					return fmt.Errorf("%s has carrier %v but main has %q", l.name(), l.carrier(), r)
				}
			}
		}
	}
	return nil
}

// checkMirrorInSubstance checks the mirror against a second computation,
// independent of symroute's planner (which --check shares): IPv4 tables
// exactly, as mirrorOfMain derives them from main; every per-address rule
// and every oif rule (both families: one per link with a global address in
// the family) exactly, from the global addresses; and no route left in
// a table above the base that is neither a live link's nor foreign (the
// tables of links the churn deleted must be empty). IPv6 tables are left
// to --check.
func checkMirrorInSubstance(t *testing.T, h *ns) {
	t.Helper()
	tableOf := map[string]string{} // link -> table
	managed := map[string]bool{}
	maxIndex := 0
	for _, l := range strings.Split(strings.TrimSpace(h.ip("-o", "link", "show")), "\n") {
		m := linkLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("ip -o link: cannot parse %q", l)
		}
		i, _ := strconv.Atoi(m[1])
		maxIndex = max(maxIndex, i)
		tableOf[m[2]] = strconv.Itoa(1000 + i)
		// The churn's links are em* or veth*, which the default
		// excludes leave alone.
		managed[m[2]] = m[2] != "lo" && !strings.HasPrefix(m[2], "veth")
	}
	if maxIndex >= 900 {
		t.Fatalf("the churn reached ifindex %d: table %s is no longer foreign; lower SYMROUTE_CHURN_EVENTS", maxIndex, foreignLoneTable)
	}

	hasV4 := map[string]bool{}
	oifDone := map[string]bool{} // family and link
	var wantRules []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(strings.TrimSpace(h.ip(fam, "-o", "addr", "show", "scope", "global")), "\n") {
			f := strings.Fields(l) // IDX: NAME inet ADDR/LEN ...
			if len(f) < 4 {
				continue
			}
			name, _, _ := strings.Cut(f[1], "@")
			addr, _, _ := strings.Cut(f[3], "/")
			if !managed[name] {
				continue
			}
			hasV4[name] = hasV4[name] || fam == "-4"
			wantRules = append(wantRules, "32765: from "+addr+" lookup "+tableOf[name]+" proto 234")
			if !oifDone[fam+name] {
				oifDone[fam+name] = true
				wantRules = append(wantRules, "32765: from all oif "+name+" lookup "+tableOf[name]+" proto 234")
			}
		}
	}
	var gotRules []string
	for _, fam := range []string{"4", "6"} {
		for _, l := range h.rules(fam) {
			if strings.HasPrefix(l, "32765: from ") && (!strings.HasPrefix(l, "32765: from all ") || strings.HasPrefix(l, "32765: from all oif ")) {
				gotRules = append(gotRules, l)
			}
		}
	}
	if diff := cmp.Diff(sorted(wantRules), sorted(gotRules)); diff != "" {
		t.Errorf("per-address and oif rules (-from the addresses +ip rule):\n%s", diff)
	}

	main4 := normalize(h.ip("-4", "route", "show", "table", "main"))
	var links []string
	for l := range tableOf {
		links = append(links, l)
	}
	sort.Strings(links)
	for _, l := range links {
		want := []string{}
		if managed[l] && hasV4[l] {
			want = mirrorOfMain(main4, l, managed)
		}
		var got []string
		for _, r := range h.routes("4", tableOf[l]) {
			got = append(got, asRead(r))
		}
		if diff := cmp.Diff(want, sorted(got)); diff != "" {
			t.Errorf("ip -4 route show table %s (%s) (-computed from main +got):\n%s\nmain:\n%s",
				tableOf[l], l, diff, strings.Join(main4, "\n"))
		}
	}

	live := map[string]bool{foreignLoneTable: true, foreignRuleTable: true}
	for _, tb := range tableOf {
		live[tb] = true
	}
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range normalize(h.ip(fam, "route", "show", "table", "all")) {
			tb := fieldAfter(l, "table")
			if n, err := strconv.Atoi(tb); err == nil && n > 1000 && !live[tb] {
				t.Errorf("ip %s route: %q is in table %s, which is no live link's: left behind", fam, l, tb)
			}
		}
	}
}

// mirrorOfMain is what a link's IPv4 table must hold, computed from main's
// normalized `ip -4 route show` lines independently of symroute's
// planner, as README "How it decides" says: main's routes through the link,
// routes with no device (null routes) and routes through links symroute
// does not manage, minus routes flagged linkdown; from a multipath route
// the link's own live nexthops and those through unmanaged links, one
// nexthop making a plain route. The churn makes no route metrics on a
// multipath route, which keeps the text of a copy exact: ip prints a plain
// route as DST via GW dev LINK, then the multipath route's own attributes,
// then the nexthop's flags.
func mirrorOfMain(main []string, link string, managed map[string]bool) []string {
	mine := func(dev string) bool { return dev == "" || dev == link || !managed[dev] }
	var out []string
	for _, l := range main {
		head, nhs, multi := liveNexthops(l)
		if !multi {
			if !strings.Contains(l, " linkdown") && mine(fieldAfter(l, "dev")) {
				out = append(out, l)
			}
			continue
		}
		var kept []string
		for _, nh := range nhs {
			if mine(fieldAfter(nh, "dev")) {
				kept = append(kept, nh)
			}
		}
		if len(kept) > 0 {
			out = append(out, multipathText(head, kept))
		}
	}
	return sorted(append(out, throwsOfMain(main, link, managed, out)...))
}

// throwsOfMain are the throws of link's table: the other managed links'
// connected subnets, but those connected on link too and those of a key a
// copy in the table has (copies).
func throwsOfMain(main []string, link string, managed map[string]bool, copies []string) []string {
	key := func(r string) string { // destination and metric, whatever the route's type
		f := strings.Fields(r)
		if len(f) > 1 && (f[0] == "blackhole" || f[0] == "unreachable" || f[0] == "prohibit" || f[0] == "throw") {
			f = f[1:]
		}
		return f[0] + " metric " + fieldAfter(r, "metric")
	}
	taken := map[string]bool{}
	for _, c := range copies {
		taken[key(c)] = true
	}
	here := map[string]bool{}
	for _, l := range main {
		if fieldAfter(l, "via") == "" && fieldAfter(l, "dev") == link {
			here[strings.Fields(l)[0]] = true
		}
	}
	var out []string
	for _, l := range main {
		th := throwOf(l, link, func(dev string) bool { return managed[dev] })
		if th != "" && !here[strings.Fields(l)[0]] && !taken[key(l)] {
			taken[key(l)] = true
			out = append(out, th)
		}
	}
	return out
}

// liveNexthops splits a normalized multipath route line into its head
// (destination and attributes) and its nexthops ("via GW dev LINK weight W
// [flags]"), less those flagged dead or linkdown; multi is false for a
// plain route, or a multipath route with none live (ip flags it linkdown).
func liveNexthops(line string) (head string, nhs []string, multi bool) {
	head, rest, multi := strings.Cut(line, " nexthop ")
	if !multi {
		return line, nil, false
	}
	for _, nh := range strings.Split(rest, " nexthop ") {
		if !strings.Contains(nh, " dead") && !strings.Contains(nh, " linkdown") {
			nhs = append(nhs, nh)
		}
	}
	if len(nhs) == 0 {
		return line, nil, false
	}
	return head, nhs, true
}

// multipathText is a route of nexthops as ip prints it: multipath, or with
// one nexthop a plain route without its weight.
func multipathText(head string, nhs []string) string {
	if len(nhs) > 1 {
		return head + " nexthop " + strings.Join(nhs, " nexthop ")
	}
	f := strings.Fields(nhs[0]) // via GW dev LINK weight W [flags]
	dst, attrs, _ := strings.Cut(head, " ")
	plain := []string{dst, f[0], f[1], f[2], f[3]}
	if attrs != "" {
		plain = append(plain, attrs)
	}
	for i := 4; i < len(f); i++ {
		if f[i] == "weight" {
			i++
			continue
		}
		plain = append(plain, f[i])
	}
	return strings.Join(plain, " ")
}

// asRead is a table's route as symroute reads it back: a multipath copy
// made while all its nexthops were up keeps, in the table, the nexthops
// that went down since (the kernel flags them as in main). symroute drops
// them when reading, as it does from main, and finds such a copy equal to
// what it wants, so whether a table holds them depends on when passes ran;
// the comparison drops them on both sides.
func asRead(line string) string {
	head, nhs, multi := liveNexthops(line)
	if !multi {
		return line
	}
	return multipathText(head, nhs)
}
