package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testns"
)

// TestHookDhclient runs ISC dhclient with Debian's own dhclient-script and
// our exit hook, installed byte for byte in the private exit-hooks.d, on
// two uplinks: with IF_METRIC (both default routes reach main) and stock
// (the second fails with "File exists": the table gets its default from the
// lease router the hook records), and stock with the server sending the
// default route as RFC 3442 classless static routes, which Debian's own
// rfc3442-classless-routes exit hook adds (and fails alike for the second).
func TestHookDhclient(t *testing.T) {
	for _, mode := range []struct {
		name              string
		metric, classless bool
	}{{"IF_METRIC", true, false}, {"stock", false, false}, {"stock classless", false, true}} {
		mode := mode
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			dhNeed(t)
			c := newDhclientRun(t, mode.metric, mode.classless)
			c.run()
		})
	}
}

func dhNeed(t *testing.T) {
	t.Helper()
	requireRoot(t)
	testns.RequirePrograms(t, "", "dhclient", "dnsmasq", "unshare", "run-parts")
}

type dhclientRun struct {
	t      *testing.T
	net    *dhcpNet
	root   *dhcpRoot
	metric bool
	// classless: the servers send the default as option 121.
	classless bool
	procs     map[string]*dhcpProc
	seen      map[string]int // hook log events already looked at, per interface
	lat       []string
}

func newDhclientRun(t *testing.T, metric, classless bool) *dhclientRun {
	c := &dhclientRun{t: t, net: newDhcpNet(t, classless), root: newDhcpRoot(t, syncBin), metric: metric, classless: classless,
		procs: map[string]*dhcpProc{}, seen: map[string]int{}}
	hooks := c.root.hookDir("/etc/dhcp/dhclient-exit-hooks.d")
	if classless {
		// Debian's own, as isc-dhcp-client installs it.
		b, err := os.ReadFile("/etc/dhcp/dhclient-exit-hooks.d/rfc3442-classless-routes")
		if err != nil {
			t.Fatalf("Debian's rfc3442 exit hook: %v", err)
		}
		dhcpWriteHook(t, hooks, "rfc3442-classless-routes", string(b), 0o644)
	}
	c.root.hookDir("/etc/dhcp/dhclient-enter-hooks.d") // empty: the host's debug hook stays out
	// run-parts --list orders them: ours runs between the two loggers.
	dhcpWriteHook(t, hooks, "00-begin", dhcpLogBegin, 0o644)
	dhcpInstall(t, "dhcp-hooks/dhclient-exit-hook", hooks, "symroute", 0o644)
	dhcpWriteHook(t, hooks, "zz-end", dhcpLogEnd, 0o644)
	dhcpWriteHook(t, c.root.dir, "dhclient.conf",
		"option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n"+
			"request subnet-mask, broadcast-address, routers, interface-mtu, rfc3442-classless-static-routes;\n"+
			"timeout 30;\ninitial-interval 1;\n", 0o644)
	return c
}

func (c *dhclientRun) files(iface string) []string {
	d := c.root.dir
	return []string{"-cf", filepath.Join(d, "dhclient.conf"), "-lf", filepath.Join(d, iface+".leases"), "-pf", filepath.Join(d, iface+".pid")}
}

// start runs dhclient on iface (in the foreground, so the test owns it)
// and waits for its hooks to be done with the lease.
func (c *dhclientRun) start(t *testing.T, iface string, metric int) (begin, end dhcpEvent) {
	t.Helper()
	argv := append([]string{"dhclient", "-4", "-d"}, c.files(iface)...)
	if c.metric {
		argv = append(argv, "-e", "IF_METRIC="+strconv.Itoa(metric))
	}
	argv = append(argv, iface)
	c.procs[iface] = startDhcpProc(c.t, "dhclient-"+iface, c.root.command(c.net.host, argv...))
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
	argv := append([]string{"dhclient", "-4", "-r"}, c.files(iface)...)
	if res := c.root.run(t, c.net.host, nil, append(argv, iface)...); res.code != 0 {
		t.Fatalf("dhclient -r %s: %s", iface, res)
	}
	c.wait(t, iface, "RELEASE")
	c.procs[iface].stop()
}

// want is what HOST must read back: the rule of each bound address and
// each table's default router ("" for none).
type dhWant struct {
	addrs   map[string]string // link -> address ("" if unbound)
	routers map[string]string // link -> router in its table ("" for none)
}

func (c *dhclientRun) converged(w dhWant) error {
	h := c.net.host
	var rules []string
	for _, link := range []string{"em1", "em2"} {
		if a := w.addrs[link]; a != "" {
			rules = append(rules, "32765: from "+a+" lookup "+h.table(link)+" proto 234")
		}
	}
	if diff := cmp.Diff(sorted(rules), dhcpOurRules(h)); diff != "" {
		return fmt.Errorf("rules at 32765 (-want +got):\n%s", diff)
	}
	for _, link := range []string{"em1", "em2"} {
		want := ""
		if r := w.routers[link]; r != "" {
			want = "default via " + r + " dev " + link
		}
		routes := h.routes("4", h.table(link))
		if got := dhcpDefaultOf(routes, link); got != want {
			return fmt.Errorf("table %s (%s): default %q, want %q; the table:\n%v", h.table(link), link, got, want, routes)
		}
	}
	return nil
}

func (c *dhclientRun) waitConverged(t *testing.T, what string, w dhWant) {
	t.Helper()
	dhcpWaitFor(t, what, func() error { return c.converged(w) })
}

var leaseRouterLine = regexp.MustCompile(`(?m)^router=(\S+)$`)
var leaseExpiryLine = regexp.MustCompile(`(?m)^expiry=(\d+)$`)

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

func (c *dhclientRun) run() {
	t, h := c.t, c.net.host
	// em1 first, bound before em2 starts: without IF_METRIC, em2's
	// default is then the one that fails, always.
	c.start(t, "em1", 100)
	c.start(t, "em2", 200)
	a1, a2 := c.net.addr4("em1"), c.net.addr4("em2")
	if a1 == "" || a2 == "" {
		t.Fatalf("bound, but no address: em1 %q em2 %q", a1, a2)
	}
	main := h.routes("4", "main")
	if got := dhcpDefaultOf(main, "em2"); (got != "") != c.metric {
		t.Fatalf("main's default via em2 is %q: with IF_METRIC=%v the scenario is not what it should be; main:\n%v", got, c.metric, main)
	}
	c.t.Run("bring-up", func(t *testing.T) {
		c.waitConverged(t, "after both binds", dhWant{
			addrs:   map[string]string{"em1": a1, "em2": a2},
			routers: map[string]string{"em1": "10.0.0.1", "em2": "192.168.0.1"},
		})
		if r, exp := c.record("em2"); r != "192.168.0.1" || exp < time.Now().Unix() {
			t.Errorf("em2's lease record: router %q expiry %d; want 192.168.0.1 and a future expiry:\n%s", r, exp, c.root.leaseRecord("em2"))
		}
		mustPing(t, h, a1, dhcpRemote)
		mustPing(t, h, a2, dhcpRemote)
		// The proof can fail: without em2's rule, the reply leaves by
		// em1 and UP1 drops it. A pass (the timer's) puts the rule back.
		h.ip("rule", "del", "priority", "32765", "from", a2, "lookup", h.table("em2"))
		mustNotPing(t, h, a2, dhcpRemote)
		c.root.sync(t, h)
		mustPing(t, h, a2, dhcpRemote)
		if res := c.root.check(t, h); res.code != 0 {
			t.Errorf("--check after bring-up: %s", res)
		}
	})
	if !c.metric && !c.classless && !t.Failed() {
		c.t.Run("renewal keeps the recorded router alive", func(t *testing.T) {
			_, exp0 := c.record("em2")
			// RENEW at half the 2-minute lease.
			c.wait(t, "em2", "RENEW")
			if _, exp := c.record("em2"); exp <= exp0 {
				t.Fatalf("RENEW did not extend em2's record: expiry %d, was %d", exp, exp0)
			}
			// Past the first lease's end, a pass still gives em2's table
			// its default: the record it reads is the renewed one.
			time.Sleep(time.Until(time.Unix(exp0+2, 0)))
			c.root.sync(t, h)
			c.waitConverged(t, "after the first lease's expiry", dhWant{
				addrs:   map[string]string{"em1": a1, "em2": a2},
				routers: map[string]string{"em1": "10.0.0.1", "em2": "192.168.0.1"},
			})
			mustPing(t, h, a2, dhcpRemote)
		})
	}
	c.t.Run("release", func(t *testing.T) {
		c.release(t, "em2")
		if a := c.net.addr4("em2"); a != "" {
			t.Fatalf("em2 still has %s after dhclient -r", a)
		}
		c.waitConverged(t, "after em2's release", dhWant{
			addrs:   map[string]string{"em1": a1},
			routers: map[string]string{"em1": "10.0.0.1"},
		})
		if rec := c.root.leaseRecord("em2"); rec != "" {
			t.Errorf("em2's lease record outlived the release:\n%s", rec)
		}
		mustPing(t, h, a1, dhcpRemote)
	})
	c.t.Run("new router", func(t *testing.T) {
		// The server now hands out another router; release and
		// re-acquire (Debian's dhclient-script leaves routes alone on a
		// plain RENEW, so that is how a client picks a new router up).
		c.net.up[1].ip("addr", "add", "192.168.0.254/24", "dev", "up0")
		c.net.startDnsmasq(1, "192.168.0.254")
		c.start(t, "em2", 200)
		a2 := c.net.addr4("em2")
		main := h.routes("4", "main")
		if got := dhcpDefaultOf(main, "em2"); (got != "") != c.metric {
			t.Fatalf("main's default via em2 is %q (IF_METRIC=%v); main:\n%v", got, c.metric, main)
		}
		c.waitConverged(t, "after em2's new lease", dhWant{
			addrs:   map[string]string{"em1": a1, "em2": a2},
			routers: map[string]string{"em1": "10.0.0.1", "em2": "192.168.0.254"},
		})
		if r, _ := c.record("em2"); r != "192.168.0.254" {
			t.Errorf("em2's lease record has router %q, want 192.168.0.254", r)
		}
		mustPing(t, h, a1, dhcpRemote)
		mustPing(t, h, a2, dhcpRemote)
	})
	for _, l := range c.lat {
		t.Log(l)
	}
}
