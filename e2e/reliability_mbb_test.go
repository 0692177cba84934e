package e2e

// Make before break, judged on the kernel's own order of events: the state
// symroute owns in a namespace, replayed event by event from before a pass
// to after it (checkMakeBeforeBreak), for TestReliabilityMakeBeforeBreak.

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

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
	missed := append(append(
		notIn(after.routes, cur.routes, "route %s is there after the pass, but no event added it"),
		notIn(cur.routes, after.routes, "route %s is gone after the pass, but no event deleted it")...), append(
		notIn(after.rules, cur.rules, "rule %s is there after the pass, but no event added it"),
		notIn(cur.rules, after.rules, "rule %s is gone after the pass, but no event deleted it")...)...)
	sort.Strings(missed)
	return append(bad, missed...)
}

// notIn says, in format, each key of a that b lacks.
func notIn[V any](a, b map[string]V, format string) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf(format, k))
		}
	}
	return out
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
