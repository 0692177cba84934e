package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/internal/testbed"
	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/fakekernel"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
	"github.com/symroute/symroute/sync/report"
)

// A hook's run ends at its deadline, exit 0, whatever holds it up (here,
// another pass's lock, which it would otherwise wait 3 s for).
func TestHookDeadline(t *testing.T) {
	ns := testns.New(t) // the kernel is opened in a namespace of the test's own
	dir := t.TempDir()
	lockPath, conf := filepath.Join(dir, "sync.lock"), filepath.Join(dir, "symroute.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lk, err := pass.AcquireLock(lockPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()

	exited := make(chan int, 1)
	oldExit, oldDeadline := exit, hookDeadline
	exit, hookDeadline = func(code int) { exited <- code }, 200*time.Millisecond
	defer func() { exit, hookDeadline = oldExit, oldDeadline }()

	var stderr bytes.Buffer
	done := make(chan int, 1)
	go testns.Do(ns, func() error {
		done <- run([]string{"--once", "--config", conf, "--lock-file", lockPath, "--trigger", "timer"}, io.Discard, &stderr)
		return nil
	})
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit %d at the deadline, want 0", code)
		}
	case <-done:
		t.Fatal("run returned before its deadline fired, though the lock was held")
	}
	<-done // the lock wait gives up in its own time
	// The exit came from the deadline, not from a run that ended: it says so.
	if !strings.Contains(stderr.String(), "still running at its deadline") {
		t.Errorf("no log line about the deadline:\n%s", stderr.String())
	}
}

// A link name holding escape sequences reaches neither the terminal that
// shows --status nor the one that shows --dry-run raw.
func TestOutputQuotesNames(t *testing.T) {
	evil := "em\x1b]0;owned\x07\x1b[2J"
	k := &fakekernel.Kernel{State: plan.State{
		Links: []plan.Link{{Index: 1, Name: "lo", Loopback: true}, {Index: 2, Name: evil}},
		Addrs: []plan.Addr{{Link: 2, Prefix: netip.MustParsePrefix("10.0.0.2/24")}},
		Routes: []plan.Route{{Family: plan.FamilyV4, Table: plan.TableMain, Dst: netip.MustParsePrefix("10.0.0.0/24"),
			Type: plan.RouteUnicast, Protocol: 2, Scope: plan.ScopeLink, Link: 2}},
	}}
	dir := t.TempDir()
	po := pass.Options{Plan: plan.DefaultOptions(), Iproute2Dirs: []string{dir}, LeaseDir: dir}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, out := range map[string]func(w io.Writer) int{
		"status":  func(w io.Writer) int { return status(k, po, false, w, log) },
		"dry-run": func(w io.Writer) int { return dryRun(k, po, w, log) },
	} {
		var b bytes.Buffer
		if code := out(&b); code != 0 {
			t.Fatalf("%s: exit %d", name, code)
		}
		if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `em\x1b]0;owned\a\x1b[2J`) && name == "status" {
			t.Errorf("%s printed %q", name, b.String())
		}
	}
}

// --status as a table and as JSON, on a host one rule short of in sync:
// em1's address rule is missing, its oif rule there; em1's router given
// off its subnet is warned of.
func TestStatusOutput(t *testing.T) {
	k := &fakekernel.Kernel{State: plan.State{
		Links: []plan.Link{{Index: 1, Name: "lo", Loopback: true}, {Index: 2, Name: "em1"}, {Index: 3, Name: "docker0"}},
		Addrs: []plan.Addr{{Link: 2, Prefix: netip.MustParsePrefix("10.0.0.2/24")}},
		Rules: []plan.Rule{{Family: plan.FamilyV4, Priority: 32766, Table: plan.TableMain, Action: plan.RuleActionLookup, Protocol: 2},
			{Family: plan.FamilyV4, Priority: 32765, Oif: "em1", Table: 1002, Action: plan.RuleActionLookup, Protocol: plan.Protocol}},
		Routes: []plan.Route{
			{Family: plan.FamilyV4, Table: plan.TableMain, Dst: netip.MustParsePrefix("10.0.0.0/24"), Type: plan.RouteUnicast, Protocol: 2, Scope: plan.ScopeLink, Link: 2},
			{Family: plan.FamilyV4, Table: 1002, Dst: netip.MustParsePrefix("10.0.0.0/24"), Type: plan.RouteUnicast, Protocol: 2, Scope: plan.ScopeLink, Link: 2},
		},
	}}
	dir := t.TempDir()
	po := pass.Options{Plan: plan.DefaultOptions(), Iproute2Dirs: []string{dir}, LeaseDir: dir}
	po.Plan.Gateways = []plan.Gateway{{Links: "em1", Addr: netip.MustParseAddr("172.16.0.1")}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var text, js bytes.Buffer
	if status(k, po, false, &text, log) != 0 || status(k, po, true, &js, log) != 0 {
		t.Fatal("status failed")
	}
	wantText := `LINK     TABLE  MANAGED  RULES                      ROUTES  STATE
lo       1001   false    -                          0/0     in sync
em1      1002   true     10.0.0.2(missing),oif em1  1/1     out of sync
docker0  1003   false    -                          0/0     in sync
warning: router 172.16.0.1 of link em1 (--gateway em1=172.16.0.1) is on none of its subnets: not used; give a router on one of its subnets (gateway = em1=ROUTER)
1 changes pending (see --dry-run)
`
	if diff := cmp.Diff(wantText, text.String()); diff != "" {
		t.Errorf("--status (-want +got):\n%s", diff)
	}
	var got statusJSON
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("--status --json: %v\n%s", err, js.String())
	}
	want := statusJSON{Pending: 1, FollowIngress: report.IngressStatus{Table: "absent", Mask: plan.DefaultIngressMask},
		Links: []report.LinkStatus{
			{Name: "lo", Index: 1, Table: 1001, Rules: []report.RuleStatus{}, InSync: true},
			{Name: "em1", Index: 2, Managed: true, Table: 1002, Rules: []report.RuleStatus{{From: "10.0.0.2"}, {Oif: "em1", Family: "inet", Present: true}},
				Routes: 1, WantRoutes: 1},
			{Name: "docker0", Index: 3, Table: 1003, Rules: []report.RuleStatus{}, InSync: true},
		},
		Warnings: []plan.Warning{{ID: "router-off-subnet", Link: "em1",
			Text: "router 172.16.0.1 of link em1 (--gateway em1=172.16.0.1) is on none of its subnets: not used",
			Fix:  "give a router on one of its subnets (gateway = em1=ROUTER)"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--status --json (-want +got):\n%s", diff)
	}
	// The names scripts match on, as they were.
	for _, key := range []string{`"links"`, `"name"`, `"ifindex"`, `"managed"`, `"table"`, `"rules"`, `"from"`, `"oif"`, `"family"`,
		`"present"`, `"routes"`, `"want_routes"`, `"in_sync"`, `"pending_changes"`, `"warnings"`, `"id"`, `"link"`, `"text"`, `"fix"`,
		`"follow_ingress"`, `"enabled"`, `"mask"`} {
		if !strings.Contains(js.String(), key) {
			t.Errorf("--status --json lacks %s", key)
		}
	}
}

// The README's Warnings table lists every warning the planner gives by its
// ID, in report.WarningIDs' order, and nothing else: the IDs are an
// interface (metrics labels, --status --json).
func TestReadmeListsEveryWarning(t *testing.T) {
	s, err := testbed.ReadmeSection("Warnings")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(s, -1) {
		got = append(got, m[1])
	}
	var want []string
	for _, id := range report.WarningIDs() {
		want = append(want, string(id))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README's Warnings table against report.WarningIDs (-want +got):\n%s", diff)
	}
}

// A pass run by hand says so in its log lines (trigger=manual); a hook's
// names the hook.
func TestManualPassTrigger(t *testing.T) {
	ns := testns.New(t)
	testns.Run(t, ns, "ip", "link", "add", "em1", "type", "veth", "peer", "name", "em1p") // no dummy module here
	testns.Run(t, ns, "ip", "addr", "add", "10.0.0.2/24", "dev", "em1")
	testns.Run(t, ns, "ip", "link", "set", "em1", "up")
	testns.Run(t, ns, "ip", "link", "set", "em1p", "up")
	dir := t.TempDir()
	lockPath, conf := filepath.Join(dir, "sync.lock"), filepath.Join(dir, "symroute.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--once"}, "trigger=manual"},
		{[]string{"--flush"}, "trigger=manual"},
		{[]string{"--once", "--trigger", "timer"}, "trigger=timer"},
	} {
		var stderr bytes.Buffer
		var code int
		if err := testns.Do(ns, func() error {
			code = run(append(tc.args, "--config", conf, "--lock-file", lockPath), io.Discard, &stderr)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 0 || len(lines) == 0 || lines[0] == "" {
			t.Fatalf("%v: exit %d, want 0 and changes logged:\n%s", tc.args, code, stderr.String())
		}
		for _, l := range lines {
			if strings.Contains(l, "msg=applied") && !strings.Contains(l, tc.want) {
				t.Errorf("%v: a change logged without %s: %s", tc.args, tc.want, l)
			}
		}
		// Something for the next pass to do.
		testns.Run(t, ns, "ip", "addr", "add", fmt.Sprintf("10.0.%d.2/24", i+1), "dev", "em1")
	}
}
