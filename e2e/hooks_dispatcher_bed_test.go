package e2e

// The dispatcher hook tests' bed (hooks_dispatcher_*_test.go): a real
// network stack with its dispatcher and our script (bed_stacks_test.go) on
// the DHCP uplinks with CLIENT behind them (bed_topology_test.go), watched
// by an ip monitor; the log the tests' own 00-log and 99-log write around
// our script; the checks that HOST holds symroute's mirror and answers
// symmetrically; and the latencies measured from all of it.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testbed"
)

// dispatcherRun is one dispatcher test: its network, stack, monitor, em1's
// and em2's tables, and the latencies measured so far.
type dispatcherRun struct {
	t      *testing.T
	net    *seed
	h      *ns
	st     *dispatcherStack
	m      *monitor
	t1, t2 string
	lat    []stackLatency
}

// newDispatcherRun starts the stack of script (testdata/KIND/start.sh) in
// dir on a DHCP net with CLIENT, and waits until the stack (name) has
// brought em1 and em2 up by DHCP, the hook has mirrored them and the hooks
// are idle. The latencies and, if the test failed, the timeline are logged
// at its end.
func newDispatcherRun(t *testing.T, name, dir, script, root string) *dispatcherRun {
	t.Helper()
	r := &dispatcherRun{t: t, net: newDHCPNet(t, false).addClient()}
	r.h = r.net.host
	r.m = startMonitor(t, r.h)
	r.t1, r.t2 = r.h.table("em1"), r.h.table("em2")
	from := time.Now()
	r.st = startDispatcherStack(t, r.h, dir, script, root)
	t.Cleanup(func() { logHookLatencies(t, r.st, r.lat); logHookTimeline(t, r.st, r.m, from) })
	r.waitMirrored(name+" brings em1 and em2 up by DHCP and the hook mirrors them", "em1", "em2")
	r.st.assertPrivateLock()
	r.measure(from, "bring-up em1", r.t1, addrEventRe("em1"))
	r.measure(from, "bring-up em2", r.t2, addrEventRe("em2"))
	r.st.waitHooksIdle()
	return r
}

// do runs argv in the stack and returns when it began.
func (r *dispatcherRun) do(argv ...string) (from time.Time) {
	r.t.Helper()
	from = time.Now()
	r.st.mustExec(argv[0], argv[1:]...)
	return from
}

// measure adds the phase since from's latencies (hookConvergence).
func (r *dispatcherRun) measure(from time.Time, what, table string, event *regexp.Regexp) {
	r.t.Helper()
	r.lat = append(r.lat, hookConvergence(r.t, r.st, r.m, from, what, table, event)...)
}

// waitMirrored waits until each of links has an IPv4 address and HOST
// holds the mirror, then proves it symmetric.
func (r *dispatcherRun) waitMirrored(what string, links ...string) {
	r.t.Helper()
	waitFor(r.t, what, daemonTimeout, r.st.running(func() error {
		for _, link := range links {
			if a, err := r.h.addrs4(link); err != nil || len(a) == 0 {
				return fmt.Errorf("%s has no IPv4 address yet (%v)", link, err)
			}
		}
		return mirroredEm(r.h)
	}))
	assertStackSymmetric(r.t, r.net)
}

// em2Gone runs argv, which takes em2 down, and waits until em2's rule and
// table are gone (and, addrGone, its addresses) and the rest is mirrored;
// CLIENT still reaches em1's addresses.
func (r *dispatcherRun) em2Gone(addrGone bool, argv ...string) {
	r.t.Helper()
	from := r.do(argv...)
	waitFor(r.t, "after `"+strings.Join(argv, " ")+"`, em2's rule and table are gone", daemonTimeout, r.st.running(func() error {
		if a, err := r.h.addrs4("em2"); addrGone && (err != nil || len(a) > 0) {
			return fmt.Errorf("em2 still has %v (%v)", a, err)
		}
		if err := unmirrored(r.h, "em2"); err != nil {
			return err
		}
		return mirroredEm(r.h)
	}))
	a1, _ := r.h.addrs4("em1")
	for _, a := range a1 {
		mustPing(r.t, r.net.client, "", a)
	}
	r.measure(from, strings.Join(argv[len(argv)-2:], " "), r.t2, addrEventRe("em2"))
}

// em2Back runs argv, which brings em2 back, and waits until it is mirrored
// again.
func (r *dispatcherRun) em2Back(argv ...string) {
	r.t.Helper()
	from := r.do(argv...)
	r.waitMirrored("after `"+strings.Join(argv, " ")+"`, em2 is mirrored again", "em2")
	r.measure(from, strings.Join(argv[len(argv)-2:], " "), r.t2, addrEventRe("em2"))
}

// --- the mirror -------------------------------------------------------------

// mirroredEm says whether HOST holds exactly symroute's IPv4 mirror of em1
// and em2 (what a pass makes): a rule per global address of each and an
// oif rule for each with one, each link's table the main table's routes
// through it (nothing when it has no address), no rule for anything else;
// and that --check finds nothing to do, IPv6 included.
func mirroredEm(h *ns) error {
	var rules []string
	mainOut, err := h.ipErr("-4", "route", "show", "table", "main")
	if err != nil {
		return err
	}
	for _, link := range []string{"em1", "em2"} {
		a, err := h.addrs4(link)
		if err != nil {
			return err
		}
		table := h.table(link)
		for _, addr := range a {
			rules = append(rules, ruleLine(addr, table))
		}
		want := []string{}
		if len(a) > 0 {
			rules = append(rules, oifRuleLine(link, table))
			for _, r := range normalize(mainOut) {
				if strings.Contains(" "+r+" ", " dev "+link+" ") && !strings.Contains(" "+r+" ", " linkdown ") {
					want = append(want, r)
				} else if th := throwOf(r, link, func(dev string) bool { return dev == "em1" || dev == "em2" }); th != "" {
					want = append(want, th)
				}
			}
		}
		if diff := cmp.Diff(sorted(want), h.routes("4", table)); diff != "" {
			return fmt.Errorf("ip -4 route show table %s (%s) (-want +got):\n%s", table, link, diff)
		}
	}
	if diff := cmp.Diff(rulesWith(rules...), h.rules("4")); diff != "" {
		return fmt.Errorf("ip -4 rule (-want +got):\n%s", diff)
	}
	if r := h.symroute("--check"); r.code != 0 || r.stdout != "" {
		return fmt.Errorf("--check: want exit 0 and no output, got %s", r)
	}
	return nil
}

// assertStackSymmetric proves it: CLIENT reaches every address of em1 and em2
// through the strict routers, so each reply left by the link that owns its
// source address.
func assertStackSymmetric(t *testing.T, s *seed) {
	t.Helper()
	n := 0
	for _, link := range []string{"em1", "em2"} {
		a, err := s.host.addrs4(link)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range a {
			mustPing(t, s.client, "", addr)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no address on em1 or em2 to ping")
	}
}

// preferredUplink is the link of main's lowest-metric IPv4 default route: the
// way every reply leaves without symroute.
func preferredUplink(t *testing.T, h *ns) string {
	t.Helper()
	best, link := -1, ""
	for _, r := range normalize(h.ip("-4", "route", "show", "table", "main", "default")) {
		f := strings.Fields(r)
		m, dev := 0, ""
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "metric":
				m, _ = strconv.Atoi(f[i+1])
			case "dev":
				dev = f[i+1]
			}
		}
		if best < 0 || m < best {
			best, link = m, dev
		}
	}
	if link == "" {
		t.Fatal("no IPv4 default route in main")
	}
	return link
}

func otherUplink(link string) string {
	if link == "em1" {
		return "em2"
	}
	return "em1"
}

// --- the hooks' log and the latencies ----------------------------------------

// assertPrivateLock checks that the hook's passes took their lock at the
// default path, /run/symroute/sync.lock, and that it is the stack's
// private /run that holds it, not the machine's.
func (s *dispatcherStack) assertPrivateLock() {
	s.t.Helper()
	if _, err := os.Stat(filepath.Join(s.dir, "run", "symroute", "sync.lock")); err != nil {
		s.t.Errorf("the passes' lock in the private /run: %v", err)
	}
}

// hookCalls reads the log testdata/*/00-log and 99-log write around our
// hook: "TIME start|end ARGS...".
func (s *dispatcherStack) hookCalls() []stackHookCall {
	b, _ := os.ReadFile(filepath.Join(s.dir, "run", "symtest", "hooks.log"))
	var calls []stackHookCall
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		calls = append(calls, stackHookCall{
			at:   time.Unix(0, int64(sec*1e9)),
			end:  f[1] == "end",
			args: strings.Join(f[2:], " "),
		})
	}
	return calls
}

type stackHookCall struct {
	at   time.Time
	end  bool
	args string
}

// hookCalledFor says whether a hook call for link started since from.
func (s *dispatcherStack) hookCalledFor(from time.Time, link string) bool {
	for _, c := range s.hookCalls() {
		if !c.end && !c.at.Before(from) && strings.HasSuffix(c.args, " "+link) {
			return true
		}
	}
	return false
}

// waitHooksIdle waits until every hook call has ended and none started for
// a second: the stack has finished reacting, so what the test does next is
// not undone by a pass still on its way.
func (s *dispatcherStack) waitHooksIdle() {
	s.t.Helper()
	waitFor(s.t, "the hooks to go idle", daemonTimeout, s.running(func() error {
		calls := s.hookCalls()
		if len(calls) == 0 {
			return fmt.Errorf("no hook call yet")
		}
		open := 0
		for _, c := range calls {
			if c.end {
				open--
			} else {
				open++
			}
		}
		if open != 0 {
			return fmt.Errorf("%d hook calls running", open)
		}
		if last := calls[len(calls)-1].at; time.Since(last) < time.Second {
			return fmt.Errorf("last hook call ended %v ago", time.Since(last))
		}
		return nil
	}))
}

// ourTableLines matches what a pass writes for table: its rules and routes.
func ourTableLines(table string) *regexp.Regexp {
	return regexp.MustCompile(`\b(table|lookup) ` + table + `\b`)
}

// stackLatency is one measured figure for the closing log.
type stackLatency struct {
	what string
	d    time.Duration
}

// hookConvergence measures, for a phase that began at from, how long the
// stack's hook took to converge table: from the start of the hook call that
// made the last change to the table (a rule or route: the test has just
// seen the state converged), and, unless event is nil, from the first
// monitor line matching it (what the stack did to the link: an address
// added or removed). A phase in which nothing was written to the table
// reports nothing.
func hookConvergence(t *testing.T, s *dispatcherStack, m *monitor, from time.Time, what, table string, event *regexp.Regexp) []stackLatency {
	t.Helper()
	ours := m.since(from, ourTableLines(table))
	if len(ours) == 0 {
		t.Logf("%s: nothing written to table %s", what, table)
		return nil
	}
	done := ours[len(ours)-1].at
	var out []stackLatency
	var call *stackHookCall
	calls := s.hookCalls()
	for i := range calls {
		if c := calls[i]; !c.end && !c.at.Before(from) && !c.at.After(done) {
			call = &calls[i]
		}
	}
	if call == nil {
		t.Errorf("%s: the last change to table %s (%q) came outside any hook call", what, table, ours[len(ours)-1].text)
	} else {
		out = append(out, stackLatency{fmt.Sprintf("%s: hook call %q start -> converged", what, call.args), done.Sub(call.at)})
	}
	if event == nil {
		return out
	}
	if first := m.since(from, event); len(first) > 0 && !first[0].at.After(done) {
		out = append(out, stackLatency{fmt.Sprintf("%s: first %q -> converged", what, first[0].text[:min(len(first[0].text), 40)]), done.Sub(first[0].at)})
	}
	return out
}

// addrEventRe matches link's IPv4 addresses being added or removed.
func addrEventRe(link string) *regexp.Regexp {
	return regexp.MustCompile(`^(Deleted )?\d+: ` + link + `\s+inet `)
}

// hookDurations is how long each hook call since from took, 00-log to
// 99-log with our script between: what the calling stack waited for.
func hookDurations(s *dispatcherStack, from time.Time) []time.Duration {
	var d []time.Duration
	open := map[string]time.Time{}
	for _, c := range s.hookCalls() {
		if c.at.Before(from) {
			continue
		}
		if !c.end {
			open[c.args] = c.at
		} else if st, ok := open[c.args]; ok {
			d = append(d, c.at.Sub(st))
			delete(open, c.args)
		}
	}
	return d
}

func logHookLatencies(t *testing.T, s *dispatcherStack, ls []stackLatency) {
	t.Helper()
	for _, l := range ls {
		t.Logf("latency: %-70s %7.1f ms", l.what, float64(l.d.Microseconds())/1000)
	}
	d := hookDurations(s, time.Time{})
	if len(d) == 0 {
		return
	}
	t.Logf("latency: hook calls (00-log to 99-log, our script between): %d, median %.1f ms, max %.1f ms",
		len(d), float64(testbed.Median(d).Microseconds())/1000, float64(slices.Max(d).Microseconds())/1000)
}

// logHookTimeline logs, when SYMROUTE_E2E_TIMELINE is set or t failed, every
// hook call and ip monitor line since from, in time order.
func logHookTimeline(t *testing.T, s *dispatcherStack, m *monitor, from time.Time) {
	t.Helper()
	if os.Getenv("SYMROUTE_E2E_TIMELINE") == "" && !t.Failed() {
		return
	}
	var ev []tsLine
	for _, c := range s.hookCalls() {
		ev = append(ev, tsLine{c.at, fmt.Sprintf("HOOK %s %s", map[bool]string{false: "start", true: "end  "}[c.end], c.args)})
	}
	ev = append(ev, m.since(from, regexp.MustCompile(``))...)
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].at.Before(ev[j].at) })
	var b strings.Builder
	for _, e := range ev {
		if !e.at.Before(from) {
			fmt.Fprintf(&b, "%9.1f ms  %s\n", float64(e.at.Sub(from).Microseconds())/1000, e.text)
		}
	}
	t.Logf("timeline since %s:\n%s", from.Format(time.StampMicro), b.String())
}
