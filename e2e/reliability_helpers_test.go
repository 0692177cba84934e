package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Helpers of the reliability tests (reliability_test.go): seeds and sizes
// from the environment, a seeded generator of link, address and route
// events, a batch route writer, a background pass that can be killed, the
// make-before-break checker over `ip monitor` lines, and an independent
// computation of a link's IPv4 table from main.

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

// ipBatch adds lines (ip commands without "ip") through `ip -n NS -batch`:
// one process for thousands of routes.
func (n *ns) ipBatch(lines []string) {
	n.t.Helper()
	f := filepath.Join(n.t.TempDir(), "batch")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		n.t.Fatal(err)
	}
	n.ip("-batch", f)
}

// --- a pass in the background, to kill -------------------------------------

// bgPass is a symroute-sync started in the background in a namespace.
type bgPass struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	started        time.Time
	done           chan struct{}
}

// startSymroute starts `symroute-sync --config EMPTY --lock-file LOCK ARGS`
// inside n, as n.symroute runs it but without waiting: `ip netns exec`
// execs the binary in place, so the process started is the pass itself and
// a signal to it reaches no one else. It is killed and reaped when t ends.
func (n *ns) startSymroute(lock string, args ...string) *bgPass {
	n.t.Helper()
	conf := filepath.Join(n.t.TempDir(), "symroute.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		n.t.Fatal(err)
	}
	p := &bgPass{done: make(chan struct{})}
	p.cmd = n.execCmd(syncBin, append([]string{"--config", conf, "--lock-file", lock}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		n.t.Fatalf("start %s: %v", strings.Join(p.cmd.Args, " "), err)
	}
	p.started = time.Now()
	go func() {
		p.cmd.Wait() // ProcessState says how it ended
		close(p.done)
	}()
	n.t.Cleanup(func() {
		// Only this process, by its pid; an error means it is gone.
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for p to end and returns how.
func (p *bgPass) wait() result {
	<-p.done
	r := result{stdout: p.stdout.String(), stderr: p.stderr.String()}
	if p.cmd.ProcessState != nil {
		r.code = p.cmd.ProcessState.ExitCode()
	}
	return r
}

// killAfter sends SIGKILL to p once d has passed since it started, unless
// it ended first, reaps it, and reports whether the signal killed it.
func (p *bgPass) killAfter(d time.Duration) (killed bool) {
	select {
	case <-p.done:
		return false
	case <-time.After(d - time.Since(p.started)):
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// --- churn ------------------------------------------------------------------

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
func (l *churnLink) gw4() string  { return fmt.Sprintf("10.%d.0.1", l.slot) }

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

// --- the mirror, computed again ---------------------------------------------

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
	return sorted(out)
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

// --- make before break ------------------------------------------------------

// mbbState is symroute's part of a namespace at one moment: its rules
// (protocol 234, per address; the fwmark rules of --follow-ingress print
// the same for both families and are not followed) and the routes of
// tables above the table base, by the kernel's key.
type mbbState struct {
	rules  map[string]mbbRule  // by text
	routes map[string]mbbRoute // by key
	count  map[string]int      // routes by destination (mbbRoute.dest)
}

type mbbRule struct{ fam, src, table string }

// mbbRoute is one route: its family, table and destination, and the
// kernel's key (those and the metric). Make before break is judged by
// destination: a table that held a route for a destination before the
// pass and holds one after must hold one at every moment between.
type mbbRoute struct{ fam, table, dst, key string }

func (r mbbRoute) dest() string { return r.fam + " " + r.table + " " + r.dst }

// mbbChange is what one event changed: a rule (its text) or a route.
type mbbChange struct {
	del   bool
	rule  string
	r     mbbRule
	route mbbRoute
}

func newMBBState() *mbbState {
	return &mbbState{rules: map[string]mbbRule{}, routes: map[string]mbbRoute{}, count: map[string]int{}}
}

var routeTypes = map[string]bool{"unicast": true, "local": true, "broadcast": true, "multicast": true,
	"blackhole": true, "unreachable": true, "prohibit": true, "throw": true, "nat": true, "anycast": true}

var ruleRe = regexp.MustCompile(`^(\d+): from (\S+) lookup (\d+) proto 234$`)

// apply applies one normalized `ip monitor` (or `ip rule`/`ip route show
// table all`) line, and says what it changed if the state follows it.
func (s *mbbState) apply(line string) (mbbChange, bool) {
	del := strings.HasPrefix(line, "Deleted ")
	line = strings.TrimPrefix(line, "Deleted ")
	if m := ruleRe.FindStringSubmatch(line); m != nil {
		if m[2] == "all" {
			return mbbChange{}, false
		}
		fam := "4"
		if strings.Contains(m[2], ":") {
			fam = "6"
		}
		r := mbbRule{fam: fam, src: m[2], table: m[3]}
		if del {
			delete(s.rules, line)
		} else {
			s.rules[line] = r
		}
		return mbbChange{del: del, rule: line, r: r}, true
	}
	f := strings.Fields(line)
	if len(f) > 0 && routeTypes[f[0]] {
		f = f[1:]
	}
	table := fieldAfter(line, "table")
	if len(f) == 0 || table == "" {
		return mbbChange{}, false
	}
	if n, err := strconv.Atoi(table); err != nil || n <= 1000 {
		return mbbChange{}, false
	}
	fam := "4"
	if strings.Contains(f[0], ":") || strings.Contains(line, " pref ") || strings.HasSuffix(line, " pref") {
		fam = "6"
	}
	metric := fieldAfter(line, "metric")
	if metric == "" {
		metric = "0"
	}
	r := mbbRoute{fam: fam, table: table, dst: f[0]}
	r.key = r.dest() + " metric " + metric
	_, had := s.routes[r.key]
	switch {
	case del && had:
		delete(s.routes, r.key)
		s.count[r.dest()]--
	case !del && !had:
		s.routes[r.key] = r
		s.count[r.dest()]++
	}
	// A replace keeps its key: nothing to count.
	return mbbChange{del: del, route: r}, true
}

func (s *mbbState) clone() *mbbState {
	c := newMBBState()
	for k, v := range s.rules {
		c.rules[k] = v
	}
	for k, v := range s.routes {
		c.routes[k] = v
	}
	for k, v := range s.count {
		c.count[k] = v
	}
	return c
}

func mbbStateOf(lines []string) *mbbState {
	s := newMBBState()
	for _, l := range lines {
		s.apply(l)
	}
	return s
}

// checkMakeBeforeBreak replays events (normalized `ip -o monitor route
// rule` lines, in the kernel's order) from before and returns every moment
// where one of our rules looks up a table missing a destination the rule
// needs:
//
//   - a rule there before the pass needs what its table held before and
//     still holds after (the routes a pass removes may go, and the routes
//     it adds may come late);
//   - a rule the pass adds needs everything its table holds after: routes
//     are added before rules;
//   - a source address with a rule before and after has one at every
//     moment: its new rule is added before its old one goes.
//
// Only a route's deletion, a rule's addition and a rule's deletion can
// break one of these, so only they are checked. It also fails if
// replaying the events does not arrive at after: then the monitor missed
// something and its silence proves nothing.
func checkMakeBeforeBreak(before, after *mbbState, events []string) []string {
	var bad []string
	held := func(s *mbbState, d string) bool { return s.count[d] > 0 }
	wanted := map[string][]string{} // "FAM TABLE" -> destinations after
	for d, n := range after.count {
		if n > 0 {
			f := strings.Fields(d)
			wanted[f[0]+" "+f[1]] = append(wanted[f[0]+" "+f[1]], d)
		}
	}
	hasSrc := func(s *mbbState, src string) bool {
		for _, r := range s.rules {
			if r.src == src {
				return true
			}
		}
		return false
	}
	cur := before.clone()
	for i, ev := range events {
		ch, ok := cur.apply(ev)
		switch {
		case !ok:
		case ch.rule == "" && ch.del:
			d := ch.route.dest()
			if held(cur, d) || !held(after, d) {
				continue
			}
			for text, r := range cur.rules {
				if _, old := before.rules[text]; r.fam == ch.route.fam && r.table == ch.route.table && (!old || held(before, d)) {
					bad = append(bad, fmt.Sprintf("event %d %q: rule %q looks up table %s, which now has no route to %s (held before the pass and wanted after)",
						i, ev, text, r.table, ch.route.dst))
				}
			}
		case ch.rule != "" && !ch.del:
			_, old := before.rules[ch.rule]
			var missing []string
			for _, d := range wanted[ch.r.fam+" "+ch.r.table] {
				if !held(cur, d) && (!old || held(before, d)) {
					missing = append(missing, strings.Fields(d)[2])
				}
			}
			if len(missing) > 0 {
				sort.Strings(missing)
				bad = append(bad, fmt.Sprintf("event %d %q: the rule looks up table %s, which has no route yet to %s (wanted after the pass)",
					i, ev, ch.r.table, strings.Join(missing, ", ")))
			}
		case ch.rule != "" && ch.del:
			if hasSrc(before, ch.r.src) && hasSrc(after, ch.r.src) && !hasSrc(cur, ch.r.src) {
				bad = append(bad, fmt.Sprintf("event %d %q: no rule left for %s, which has one before and after the pass", i, ev, ch.r.src))
			}
		}
	}
	var missed []string
	for k := range after.routes {
		if _, ok := cur.routes[k]; !ok {
			missed = append(missed, "route "+k+" is there after the pass, but no event added it")
		}
	}
	for k := range cur.routes {
		if _, ok := after.routes[k]; !ok {
			missed = append(missed, "route "+k+" is gone after the pass, but no event deleted it")
		}
	}
	for k := range after.rules {
		if _, ok := cur.rules[k]; !ok {
			missed = append(missed, "rule "+k+" is there after the pass, but no event added it")
		}
	}
	for k := range cur.rules {
		if _, ok := after.rules[k]; !ok {
			missed = append(missed, "rule "+k+" is gone after the pass, but no event deleted it")
		}
	}
	sort.Strings(missed)
	return append(bad, missed...)
}

// mbbSnapshot reads symroute's rules and tables in n (both families).
func (n *ns) mbbSnapshot() *mbbState {
	n.t.Helper()
	var lines []string
	for _, q := range [][]string{
		{"-4", "rule", "show"}, {"-6", "rule", "show"},
		{"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
	} {
		lines = append(lines, normalize(n.ip(q...))...)
	}
	return mbbStateOf(lines)
}

// --- an rtnetlink monitor that keeps up -------------------------------------

// monitorLost is the line a netlink monitor records when the kernel
// dropped events for it (ENOBUFS).
const monitorLost = "!!! monitor: the kernel dropped events (ENOBUFS)"

// startRouteMonitor is startMonitor's `ip -o monitor route rule`, read
// straight from an rtnetlink socket in n, with the same marker. ip(8)'s
// receive buffer (SO_RCVBUF, which net.core.rmem_max caps) overflows when
// a pass writes thousands of routes at once (6,000 events did here): ip
// prints "No buffer space available" and goes on without the events it
// lost. This socket's buffer is forced to 64 MiB (SO_RCVBUFFORCE, root
// only, no sysctl changed), and a loss, should one happen anyway, is
// recorded as monitorLost. Each event is rendered as ip renders it, as far
// as checkMakeBeforeBreak reads (links by index).
func startRouteMonitor(t *testing.T, n *ns) *monitor {
	t.Helper()
	m := &monitor{t: t, n: n, what: "rtnetlink monitor", clean: func(l []string) []string { return normalize(strings.Join(l, "\n")) }}
	m.marker = func(seq int) (made, removed func(string) bool) {
		src := fmt.Sprintf("10.254.%d.%d", seq/250, seq%250+1)
		key := "from " + src + " lookup 7777"
		n.ip("rule", "add", "priority", "7777", "from", src, "lookup", "7777")
		n.ip("rule", "del", "priority", "7777", "from", src, "lookup", "7777")
		return func(l string) bool { return strings.Contains(l, key) && !strings.HasPrefix(l, "Deleted") },
			func(l string) bool { return strings.Contains(l, key) && strings.HasPrefix(l, "Deleted") }
	}
	fd := -1
	err := inNS(n.Name, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		for _, g := range []int{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE} {
			if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
				return err
			}
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		// Wakes the reader to see it is told to stop.
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Fatalf("rtnetlink monitor in %s: %v", n.Name, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<20)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nr, _, err := unix.Recvfrom(fd, buf, 0)
			var lines []string
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
				continue
			case err != nil:
				lines = []string{monitorLost + ": " + err.Error()}
			default:
				msgs, err := syscall.ParseNetlinkMessage(buf[:nr])
				if err != nil {
					lines = []string{monitorLost + ": " + err.Error()}
				}
				for _, msg := range msgs {
					if l := rtnlText(msg); l != "" {
						lines = append(lines, l)
					}
				}
			}
			now := time.Now()
			m.mu.Lock()
			for _, l := range lines {
				m.lines = append(m.lines, tsLine{now, l})
			}
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		unix.Close(fd)
	})
	return m
}

var routeTypeNames = map[uint8]string{unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
	unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat"}

// rtnlAttrs splits netlink attributes (type -> value; nested ones raw).
func rtnlAttrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		out[binary.NativeEndian.Uint16(b[2:])&0x3fff] = b[4:l]
		b = b[min((l+3)&^3, len(b)):]
	}
	return out
}

// prefixText is an address with its length, the length left out for a
// host (as ip prints them); "all"/"default" for none.
func prefixText(addr []byte, bits int, none string) string {
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return none
	}
	if bits == a.BitLen() {
		return a.String()
	}
	return netip.PrefixFrom(a, bits).String()
}

// rtnlText renders a route or rule notification the way `ip -o monitor`
// does, as far as checkMakeBeforeBreak reads it: deletion, type,
// destination, table and metric (and pref, which marks IPv6) of a route;
// priority, source, table and protocol of a rule.
func rtnlText(msg syscall.NetlinkMessage) string {
	if len(msg.Data) < unix.SizeofRtMsg {
		return ""
	}
	// struct rtmsg and struct fib_rule_hdr share their layout: family,
	// dst_len, src_len, tos, table, three bytes, flags.
	d := msg.Data
	fam, dstLen, srcLen, table, typ := d[0], int(d[1]), int(d[2]), uint32(d[4]), d[7]
	a := rtnlAttrs(d[unix.SizeofRtMsg:])
	if v := a[unix.RTA_TABLE]; len(v) == 4 { // FRA_TABLE too
		table = binary.NativeEndian.Uint32(v)
	}
	var b strings.Builder
	switch msg.Header.Type {
	case unix.RTM_DELROUTE, unix.RTM_DELRULE:
		b.WriteString("Deleted ")
	}
	switch msg.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if n, ok := routeTypeNames[typ]; ok {
			b.WriteString(n + " ")
		}
		b.WriteString(prefixText(a[unix.RTA_DST], dstLen, "default"))
		if gw := a[unix.RTA_GATEWAY]; gw != nil {
			b.WriteString(" via " + prefixText(gw, 8*len(gw), "?"))
		}
		if oif := a[unix.RTA_OIF]; len(oif) == 4 {
			fmt.Fprintf(&b, " dev #%d", binary.NativeEndian.Uint32(oif))
		}
		fmt.Fprintf(&b, " table %d", table)
		if v := a[unix.RTA_PRIORITY]; len(v) == 4 {
			fmt.Fprintf(&b, " metric %d", binary.NativeEndian.Uint32(v))
		}
		if fam == unix.AF_INET6 {
			b.WriteString(" pref")
			if v := a[unix.RTA_PREF]; len(v) == 1 {
				b.WriteString(map[uint8]string{0: " medium", 1: " high", 3: " low"}[v[0]])
			}
		}
	case unix.RTM_NEWRULE, unix.RTM_DELRULE:
		prio := uint32(0)
		if v := a[unix.FRA_PRIORITY]; len(v) == 4 {
			prio = binary.NativeEndian.Uint32(v)
		}
		fmt.Fprintf(&b, "%d: from %s", prio, prefixText(a[unix.FRA_SRC], srcLen, "all"))
		if v := a[unix.FRA_FWMARK]; len(v) == 4 {
			fmt.Fprintf(&b, " fwmark %#x", binary.NativeEndian.Uint32(v))
		}
		fmt.Fprintf(&b, " lookup %d", table)
		if v := a[unix.FRA_PROTOCOL]; len(v) == 1 && v[0] != 0 {
			fmt.Fprintf(&b, " proto %d", v[0])
		}
	default:
		return ""
	}
	return b.String()
}
