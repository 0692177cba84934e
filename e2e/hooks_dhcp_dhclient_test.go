package e2e

// ISC dhclient with Debian's own dhclient-script and our exit hook: the
// hook records the lease router and its pass mirrors the lease, on bind,
// renewal, release and a new router.

import (
	"path/filepath"
	"testing"
	"time"
)

// TestHookDhclient runs ISC dhclient with Debian's own dhclient-script and
// our exit hook, installed byte for byte in the private exit-hooks.d, on
// two uplinks: with IF_METRIC (both default routes reach main) and stock
// (the second fails with "File exists": the table gets its default from the
// lease router the hook records), and stock with the server sending the
// default route as RFC 3442 classless static routes, which Debian's own
// rfc3442-classless-routes exit hook adds (and fails alike for the second).
func TestHookDhclient(t *testing.T) {
	t.Run("IF_METRIC", func(t *testing.T) { t.Parallel(); runDebianDhclient(t, true, false) })
	t.Run("stock", func(t *testing.T) { t.Parallel(); runDebianDhclient(t, false, false) })
	t.Run("stock classless", func(t *testing.T) { t.Parallel(); runDebianDhclient(t, false, true) })
}

func runDebianDhclient(t *testing.T, metric, classless bool) {
	c := newDhclientRun(t, classless)
	c.metric = metric
	c.installDebianHooks()
	c.run()
}

// installDebianHooks installs our exit hook, between the test's two
// loggers, in the root's private exit-hooks.d, with Debian's own
// rfc3442-classless-routes when the servers send classless routes.
func (c *dhclientRun) installDebianHooks() {
	t := c.t
	hooks := c.root.hookDir("/etc/dhcp/dhclient-exit-hooks.d")
	if c.classless {
		// Debian's own, as isc-dhcp-client installs it.
		copyFile(t, "/etc/dhcp/dhclient-exit-hooks.d/rfc3442-classless-routes", filepath.Join(hooks, "rfc3442-classless-routes"), 0o644)
	}
	c.root.hookDir("/etc/dhcp/dhclient-enter-hooks.d") // empty: the host's debug hook stays out
	// run-parts --list orders them: ours runs between the two loggers.
	writeFile(t, filepath.Join(hooks, "00-begin"), dhcpLogBegin, 0o644)
	copyFile(t, repoFile("dhcp-hooks", "dhclient-exit-hook"), filepath.Join(hooks, "symroute"), 0o644)
	writeFile(t, filepath.Join(hooks, "zz-end"), dhcpLogEnd, 0o644)
	writeFile(t, filepath.Join(c.root.dir, "dhclient.conf"),
		"option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n"+
			"request subnet-mask, broadcast-address, routers, interface-mtu, rfc3442-classless-static-routes;\n"+
			"timeout 30;\ninitial-interval 1;\n", 0o644)
}

func (c *dhclientRun) run() {
	t, h := c.t, c.net.host
	// em1 first, bound before em2 starts: without IF_METRIC, em2's
	// default is then the one that fails, always.
	c.start(t, "em1", 100)
	c.start(t, "em2", 200)
	a1, a2 := h.addr4("em1"), h.addr4("em2")
	if a1 == "" || a2 == "" {
		t.Fatalf("bound, but no address: em1 %q em2 %q", a1, a2)
	}
	main := h.routes("4", "main")
	if got := defaultOf(main, "em2"); (got != "") != c.metric {
		t.Fatalf("main's default via em2 is %q: with IF_METRIC=%v the scenario is not what it should be; main:\n%v", got, c.metric, main)
	}
	c.t.Run("bring-up", func(t *testing.T) {
		c.waitConverged(t, "after both binds", bothBound(a1, a2, "192.168.0.1"))
		if r, exp := c.record("em2"); r != "192.168.0.1" || exp < time.Now().Unix() {
			t.Errorf("em2's lease record: router %q expiry %d; want 192.168.0.1 and a future expiry:\n%s", r, exp, c.root.leaseRecord("em2"))
		}
		mustPing(t, h, a1, remote)
		mustPing(t, h, a2, remote)
		// The proof can fail: without em2's rule, the reply leaves by
		// em1 and UP1 drops it. A pass (the timer's) puts the rule back.
		h.ip("rule", "del", "priority", "32765", "from", a2, "lookup", h.table("em2"))
		mustNotPing(t, h, a2, remote)
		c.root.sync(t, h)
		mustPing(t, h, a2, remote)
		c.root.assertChecked(t, h, "after bring-up")
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
			c.waitConverged(t, "after the first lease's expiry", bothBound(a1, a2, "192.168.0.1"))
			mustPing(t, h, a2, remote)
		})
	}
	c.t.Run("release", func(t *testing.T) {
		c.release(t, "em2")
		if a := h.addr4("em2"); a != "" {
			t.Fatalf("em2 still has %s after dhclient -r", a)
		}
		c.assertEm2Released(t, a1)
	})
	c.t.Run("new router", func(t *testing.T) {
		// The server now hands out another router; release and
		// re-acquire (Debian's dhclient-script leaves routes alone on a
		// plain RENEW, so that is how a client picks a new router up).
		c.net.r2.ip("addr", "add", "192.168.0.254/24", "dev", "up0")
		c.net.startDnsmasq(1, "192.168.0.254")
		c.start(t, "em2", 200)
		a2 := h.addr4("em2")
		main := h.routes("4", "main")
		if got := defaultOf(main, "em2"); (got != "") != c.metric {
			t.Fatalf("main's default via em2 is %q (IF_METRIC=%v); main:\n%v", got, c.metric, main)
		}
		c.waitConverged(t, "after em2's new lease", bothBound(a1, a2, "192.168.0.254"))
		if r, _ := c.record("em2"); r != "192.168.0.254" {
			t.Errorf("em2's lease record has router %q, want 192.168.0.254", r)
		}
		mustPing(t, h, a1, remote)
		mustPing(t, h, a2, remote)
	})
	for _, l := range c.lat {
		t.Log(l)
	}
}
