package e2e

// The DHCP hook tests' bed (hooks_dhcp_*_test.go): a dhclient run on both
// uplinks, with Debian's dhclient-script or a RHEL one, and what HOST must
// read back once the hooks are done. The uplinks, their dnsmasq and the
// private root the clients run in are bed_dhcp_test.go's.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// dhcpLogBegin and dhcpLogEnd are the tests' own hooks around ours, for
// the DHCP clients.
var (
	dhcpLogBegin = hookLog("begin", "$reason", "$interface")
	dhcpLogEnd   = hookLog("end", "$reason", "$interface")
)

// dhclientRun is ISC dhclient run on em1 and em2 of a DHCP net, in a
// private root.
type dhclientRun struct {
	t    *testing.T
	net  *seed
	root *dhcpRoot
	// metric: dhclient is given IF_METRIC, so both defaults reach main.
	metric bool
	// classless: the servers send the default as option 121.
	classless bool
	// script is the dhclient-script dhclient runs (-sf), "" for its own.
	script string
	procs  map[string]*daemon
	seen   map[string]int // hook log events already looked at, per interface
	lat    []string
}

func newDhclientRun(t *testing.T, classless bool) *dhclientRun {
	t.Helper()
	requireRootWith(t, "", "dhclient", "dnsmasq", "unshare", "run-parts")
	return &dhclientRun{t: t, net: newDHCPNet(t, classless), root: newDhcpRoot(t, syncBin), classless: classless,
		procs: map[string]*daemon{}, seen: map[string]int{}}
}

// argv is dhclient's command line with mode (-d, -r) for iface.
func (c *dhclientRun) argv(mode, iface string, extra ...string) []string {
	argv := []string{"dhclient", "-4", mode}
	if c.script != "" {
		argv = append(argv, "-sf", c.script)
	}
	d := c.root.dir
	argv = append(argv, "-cf", filepath.Join(d, "dhclient.conf"), "-lf", filepath.Join(d, iface+".leases"), "-pf", filepath.Join(d, iface+".pid"))
	return append(append(argv, extra...), iface)
}

// start runs dhclient on iface (in the foreground, so the test owns it)
// and waits for its hooks to be done with the lease.
func (c *dhclientRun) start(t *testing.T, iface string, metric int) (begin, end dhcpEvent) {
	t.Helper()
	var extra []string
	if c.metric {
		extra = []string{"-e", "IF_METRIC=" + strconv.Itoa(metric)}
	}
	c.procs[iface] = startDaemon(c.t, "dhclient-"+iface, c.root.command(c.net.host, c.argv("-d", iface, extra...)...))
	return c.wait(t, iface, "BOUND", "REBOOT")
}

func (c *dhclientRun) wait(t *testing.T, iface string, reasons ...string) (begin, end dhcpEvent) {
	t.Helper()
	begin, end = c.root.waitEvent(t, c.seen, iface, reasons...)
	took := end.at.Sub(begin.at)
	c.lat = append(c.lat, fmt.Sprintf("%s %s: hooks done %v after dhclient-script began them", iface, end.reason, took.Round(time.Millisecond)))
	return begin, end
}

// release is `dhclient -r`: it stops the running dhclient and releases the
// lease, running dhclient-script with RELEASE.
func (c *dhclientRun) release(t *testing.T, iface string) {
	t.Helper()
	if res := c.root.run(t, c.net.host, nil, c.argv("-r", iface)...); res.code != 0 {
		t.Fatalf("dhclient -r %s: %s", iface, res)
	}
	c.wait(t, iface, "RELEASE")
	c.procs[iface].stop()
}

// dhWant is what HOST must read back: the rule of each bound address and
// each table's default router ("" for none).
type dhWant struct {
	addrs   map[string]string // link -> address ("" if unbound)
	routers map[string]string // link -> router in its table ("" for none)
}

// bothBound is dhWant with em1 and em2 bound, em2's table's default via
// router2.
func bothBound(a1, a2, router2 string) dhWant {
	return dhWant{
		addrs:   map[string]string{"em1": a1, "em2": a2},
		routers: map[string]string{"em1": "10.0.0.1", "em2": router2},
	}
}

// converged says whether h holds w: exactly the rules of its addresses and
// of the sockets bound to a link with one at our priority, and each of
// em1's and em2's tables the default it wants.
func converged(h *ns, w dhWant) error {
	var rules []string
	for _, link := range []string{"em1", "em2"} {
		if a := w.addrs[link]; a != "" {
			rules = append(rules, ruleLine(a, h.table(link)), oifRuleLine(link, h.table(link)))
		}
	}
	if diff := cmp.Diff(sorted(rules), ourRules(h)); diff != "" {
		return fmt.Errorf("rules at 32765 (-want +got):\n%s", diff)
	}
	for _, link := range []string{"em1", "em2"} {
		want := ""
		if r := w.routers[link]; r != "" {
			want = "default via " + r + " dev " + link
		}
		routes := h.routes("4", h.table(link))
		if got := defaultOf(routes, link); got != want {
			return fmt.Errorf("table %s (%s): default %q, want %q; the table:\n%v", h.table(link), link, got, want, routes)
		}
	}
	return nil
}

func (c *dhclientRun) waitConverged(t *testing.T, what string, w dhWant) {
	t.Helper()
	waitFor(t, what, dhcpHookTimeout, func() error { return converged(c.net.host, w) })
}

// assertEm2Released checks what em2's release leaves: em1 alone mirrored,
// no lease record of em2's, em1's address answered.
func (c *dhclientRun) assertEm2Released(t *testing.T, a1 string) {
	t.Helper()
	c.waitConverged(t, "after em2's release", dhWant{
		addrs:   map[string]string{"em1": a1},
		routers: map[string]string{"em1": "10.0.0.1"},
	})
	if rec := c.root.leaseRecord("em2"); rec != "" {
		t.Errorf("em2's lease record outlived the release:\n%s", rec)
	}
	mustPing(t, c.net.host, a1, remote)
}

var leaseRouterLine = regexp.MustCompile(`(?m)^router=(\S+)$`)
var leaseExpiryLine = regexp.MustCompile(`(?m)^expiry=(\d+)$`)

// record is iface's lease record's router and expiry.
func (c *dhclientRun) record(iface string) (router string, expiry int64) {
	rec := c.root.leaseRecord(iface)
	if m := leaseRouterLine.FindStringSubmatch(rec); m != nil {
		router = m[1]
	}
	if m := leaseExpiryLine.FindStringSubmatch(rec); m != nil {
		expiry, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return router, expiry
}

// ourRules are h's IPv4 rules at our priority.
func ourRules(h *ns) []string {
	out := []string{}
	for _, r := range h.rules("4") {
		if strings.HasPrefix(r, "32765:") {
			out = append(out, r)
		}
	}
	return out
}

// defaultOf is the "default via GW dev LINK" of a table's listing ("" if
// none), without metric or protocol, which the source decides.
func defaultOf(routes []string, link string) string {
	for _, r := range routes {
		f := strings.Fields(r)
		if len(f) >= 5 && f[0] == "default" && f[1] == "via" && f[3] == "dev" && f[4] == link {
			return strings.Join(f[:5], " ")
		}
	}
	return ""
}
