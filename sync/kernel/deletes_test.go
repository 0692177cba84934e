package kernel_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/plan"
)

// converge plans from the compact snapshot and applies, reading back after
// each round as a pass does, until a plan is empty: it fails t on an
// error, or if a fifth plan still has work (a pass gives up there).
func (e *env) converge(t *testing.T, o plan.Options) {
	t.Helper()
	for round := 1; ; round++ {
		st := e.compact(t)
		p := plan.Compute(st, o)
		if len(p.Ops) == 0 {
			return
		}
		rn := plan.NewRenderer(st)
		var b strings.Builder
		for _, op := range p.Ops {
			b.WriteString(rn.Render(op) + "\n")
		}
		if round > 4 {
			t.Fatalf("not in sync after 4 rounds; still planned:\n%s", b.String())
		}
		for i, err := range e.h.Apply(p.Ops) {
			if err != nil {
				t.Errorf("round %d, op %d: %v\nplan:\n%s", round, i, err, b.String())
			}
		}
	}
}

// ours are the rules of protocol 234, as ip(8) lists them.
func (e *env) ours(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(testns.Run(t, e.ns, "ip", fam, "rule", "show"), "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), " proto 234") {
				out = append(out, fam+" "+strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return out
}

// Any rule of protocol 234 is ours and goes when not wanted, whatever its
// selectors or action: a pass converges with only the rules it wants, and
// a flush with none. Among them, rules a version of symroute with more
// rule kinds could leave (an oif rule), one that differs from a wanted
// rule in its action only, and rules that make the kernel refuse the
// wanted rule as existing (it compares a destination, a tos or realms only
// when the rule added has them, and `not` never): those must go first.
func TestRulesOfOursAnyShape(t *testing.T) {
	e := setup(t)
	ta, tb := base+e.idx["a0"], base+e.idx["b0"]
	shapes := []struct {
		rule string
		// beside: the kernel takes it beside the wanted rule (it refuses
		// a `not` rule beside its twin as existing).
		beside bool
	}{
		{fmt.Sprintf("rule add oif b0 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.1.0.2 oif a0 lookup %d", ta), true},
		{fmt.Sprintf("rule add from 10.1.0.2 table %d blackhole", ta), true},
		{"rule add from 10.1.0.2 prohibit", true},
		{"rule add from 10.1.0.2 goto 32766", true},
		{"rule add from 10.1.0.2 nop", true},
		{fmt.Sprintf("rule add not from 10.1.0.2 lookup %d", ta), false},
		{fmt.Sprintf("rule add from 10.1.0.2 to 10.0.0.0/8 lookup %d", ta), true},
		{fmt.Sprintf("rule add from 10.2.0.2 tos 0x10 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 ipproto tcp sport 1000-2000 dport 80 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 uidrange 100-200 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 realms 1/2 lookup %d", tb), true},
		{fmt.Sprintf("rule add from 10.2.0.2 tun_id 7 lookup %d", tb), true},
		{fmt.Sprintf("rule add fwmark 0x1/0x1 iif lo lookup %d", ta), true},
		{"rule add from 10.2.0.2 l3mdev", true},
		{"rule add lookup main suppress_prefixlength 0", true},
		{"rule add lookup main suppress_ifgroup 5", true},
		{fmt.Sprintf("-6 rule add from 2001:db8:1::2 oif a0 lookup %d", ta), true},
		{fmt.Sprintf("-6 rule add not from 2001:db8:2::2 lookup %d", tb), false},
	}
	add := func(synced bool) {
		t.Helper()
		for _, s := range shapes {
			if s.beside || !synced {
				e.ip(t, s.rule+" priority 32765 protocol 234")
			}
		}
	}
	check := func(what string, want []string) {
		t.Helper()
		if got := e.ours(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("rules of protocol 234 after %s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	o, flush := plan.DefaultOptions(), plan.DefaultOptions()
	flush.Flush = true
	e.converge(t, o)
	want := e.ours(t)
	e.converge(t, flush)

	add(false)
	e.converge(t, o)
	check("a first pass", want)
	add(true)
	e.converge(t, o)
	check("a pass on a host in sync", want)
	add(true)
	e.converge(t, flush)
	check("a flush", nil)

	// What --dry-run prints does the same through ip(8), in one go.
	add(false)
	e.replay(t, o)
	check("replaying a first pass's plan with ip(8)", want)
	add(true)
	e.replay(t, o)
	check("replaying a pass's plan with ip(8)", want)
	add(true)
	e.replay(t, flush)
	check("replaying a flush's plan with ip(8)", nil)
}

// replay plans from the compact snapshot, runs the plan as --dry-run
// prints it with sh in the namespace, and fails t unless planning again
// is empty.
func (e *env) replay(t *testing.T, o plan.Options) {
	t.Helper()
	st := e.compact(t)
	rn := plan.NewRenderer(st)
	var b strings.Builder
	for _, op := range plan.Compute(st, o).Ops {
		b.WriteString(rn.Render(op) + "\n")
	}
	sh := testns.Command(e.ns, "sh", "-e", "-x")
	sh.Stdin = strings.NewReader(b.String())
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s\nplan:\n%s", err, out, b.String())
	}
	st = e.compact(t)
	rn = plan.NewRenderer(st)
	var again strings.Builder
	for _, op := range plan.Compute(st, o).Ops {
		again.WriteString(rn.Render(op) + "\n")
	}
	if again.Len() > 0 {
		t.Errorf("after sh ran the plan:\n%s\nthe next plan is:\n%s", b.String(), again.String())
	}
}
