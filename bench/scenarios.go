package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// row is one line of the result table.
type row struct {
	name      string
	ours, ref []sample // ours empty: not run
	target    float64  // ratio target, ours/ref at most this; 0: informational row
	// targetText replaces the printed target of an informational row.
	targetText string
	rssKiB     int64 // peak-RSS target for ours, 0 for none
}

// job is one side of a comparison: the command timed, and untimed work after every run of it
// (checking what it did, resetting the namespace for the next run).
type job struct {
	argv  []string
	after func() error
}

// series times the jobs in turn, run after run, so that drift in the machine's load hits every
// side alike, after one untimed warm-up run of each (page cache, dentries, the kernel's FIB
// caches). It returns the samples of each job, in order; a nil job is skipped.
func (r *runner) series(n int, jobs ...*job) ([][]sample, error) {
	out := make([][]sample, len(jobs))
	for i := -1; i < n; i++ {
		for k, j := range jobs {
			if j == nil {
				continue
			}
			s, err := r.timed(j.argv)
			if err != nil {
				return nil, err
			}
			if j.after != nil {
				if err := j.after(); err != nil {
					return nil, err
				}
			}
			if i >= 0 {
				out[k] = append(out[k], s)
			}
		}
	}
	return out, nil
}

// noOpSeries times a no-op pass of ours, ip's dump and the dump-only floor in one series, so
// the no-op row and its floor row share one reference series, under a monitor that notes any
// change the passes make. With whole, the series also times the floor as issue 21 measured it
// (every table in one dump a family), for a ratio comparable with the figures before it.
func (e *env) noOpSeries(r *runner, t *topology, lock string, n int, noOp, floor, whole *row) error {
	return e.watchNoOp(r, t, func() error {
		jobs := []*job{e.noOp(lock), {argv: showAll}, {argv: []string{e.dumpOnly}}}
		if whole != nil {
			jobs = append(jobs, &job{argv: []string{e.dumpOnly, "-whole"}})
		}
		s, err := r.series(n, jobs...)
		if err != nil {
			return err
		}
		noOp.ours, noOp.ref = s[0], s[1]
		floor.ours, floor.ref = s[2], s[1]
		if whole != nil {
			whole.ours, whole.ref = s[3], s[1]
		}
		return nil
	})
}

// env is what every scenario needs.
type env struct {
	cfg        config
	tmp        string
	ours       string // path of symroute-sync, "" when it is not available
	dumpOnly   string
	insertOnly string
	notes      []string
	floors     []string // per host: the peak RSS a child doing nothing reports
}

// recordFloor notes what a child that does nothing reports as peak RSS after a host's series:
// Linux folds the forking parent's peak RSS into a child's ru_maxrss at exec (Go forks with
// CLONE_VM), so no child of this process can report less.
func (e *env) recordFloor(r *runner, host string) error {
	s, err := r.timed([]string{"true"})
	if err != nil {
		return err
	}
	e.floors = append(e.floors, fmt.Sprintf("%s %s", host, fmtKiB(s.maxRSSKiB)))
	return nil
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

var showAll = []string{"ip", "route", "show", "table", "all"}

func (e *env) oursArgv(lock string, mode string) []string {
	return []string{e.ours, mode, "--lock-file", lock}
}

// noOp times a no-op pass; the pass is expected to make no change, which a route and rule
// monitor on the namespace checks for the whole series.
func (e *env) noOp(lock string) *job {
	if e.ours == "" {
		return nil
	}
	return &job{argv: e.oursArgv(lock, "--once")}
}

// initialSync runs one untimed pass and checks it mirrored at least the routes the scenario
// put in main, so a binary that does nothing cannot look fast.
func (e *env) initialSync(r *runner, t *topology, lock string) ([2]int, error) {
	var got [2]int
	s, err := r.timed(e.oursArgv(lock, "--once"))
	if err != nil {
		return got, fmt.Errorf("first pass: %w", err)
	}
	progress("%s: first pass took %s, peak RSS %s", t.ns, fmtDur(s.wall), fmtKiB(s.maxRSSKiB))
	for i, table := range t.tables {
		n, err := r.tableRoutes(table)
		if err != nil {
			return got, err
		}
		got[i] = n
		if n != t.refLines[i] {
			e.note("%s: table %d holds %d routes after symroute-sync's pass; the reference adds %d", t.ns, table, n, t.refLines[i])
		}
		if n < t.generated/2 {
			return got, fmt.Errorf("symroute-sync mirrored only %d routes into table %d, want at least %d", n, table, t.generated/2)
		}
		rules, err := r.rulesTo(table)
		if err != nil {
			return got, err
		}
		if rules != 4 {
			e.note("%s: %d rules look up table %d after the pass, want 4 (an address and an oif rule a family)", t.ns, rules, table)
		}
	}
	return got, nil
}

// watchNoOp runs f with a monitor on the namespace and notes any route or rule change seen.
func (e *env) watchNoOp(r *runner, t *topology, f func() error) error {
	m, err := r.startMonitor(e.tmp)
	if err != nil {
		return err
	}
	ferr := f()
	events, err := m.stop()
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	if len(events) > 0 {
		first := events[0]
		if len(first) > 120 {
			first = first[:120] + "..."
		}
		e.note("%s: %d route/rule change lines seen during the no-op runs (want none); first: %s", t.ns, len(events), first)
	}
	return nil
}

// small: scenario 1 and its floor.
func (e *env) small(ns string) ([]row, error) {
	progress("setting up %s (small host)", ns)
	t, err := setupTopology(ns, e.tmp, true, 0)
	if err != nil {
		return nil, err
	}
	lock := filepath.Join(e.tmp, "small.lock")
	n := e.cfg.runs
	r1 := row{name: "1. no-op pass, small host", target: 2.0}
	r1f := row{name: "1f. floor: Go process doing only the route dumps", targetText: "1.4-1.8 (issue)"}
	r1i := row{name: "1i. no-op pass, small host, --follow-ingress", targetText: "(informational)"}
	r1iv := row{name: "1i/1. --follow-ingress on, against off (ref: row 1's ours)", targetText: "(informational)"}
	err = inNetns(ns, e.tmp, func(r *runner) error {
		if e.ours != "" {
			if _, err := e.initialSync(r, t, lock); err != nil {
				return err
			}
		}
		progress("scenario 1: %d runs per side", n)
		if err := e.noOpSeries(r, t, lock, n, &r1, &r1f, nil); err != nil {
			return err
		}
		if e.ours != "" {
			if err := e.ingressSeries(r, t, lock, n, &r1, &r1i, &r1iv); err != nil {
				return err
			}
		}
		return e.recordFloor(r, "small host")
	})
	if e.ours == "" {
		return []row{r1, r1f}, err
	}
	return []row{r1, r1f, r1i, r1iv}, err
}

// ingressSeries switches --follow-ingress on (one untimed pass, checked) and times no-op passes
// with it against ip's dump, under the same monitor. Row iv compares them with row 1's no-op
// passes without the option, timed in the series before: a pass without the option would
// remove what the option made, so the two cannot alternate in one namespace.
func (e *env) ingressSeries(r *runner, t *topology, lock string, n int, r1, ri, riv *row) error {
	argv := append(e.oursArgv(lock, "--once"), "--follow-ingress")
	if _, err := r.timed(argv); err != nil {
		return fmt.Errorf("first pass with --follow-ingress: %w", err)
	}
	// The pass made its fwmark rules (and, with them, its nftables table):
	// a binary that ignored the option cannot look as fast as one that
	// reads the table on every pass.
	for _, table := range t.tables {
		out, err := r.output("ip", "rule", "show", "table", fmt.Sprint(table))
		if err != nil {
			return err
		}
		if !strings.Contains(out, "fwmark") {
			return fmt.Errorf("no fwmark rule for table %d after a pass with --follow-ingress:\n%s", table, out)
		}
	}
	if _, err := r.timed(append(e.oursArgv(lock, "--check"), "--follow-ingress")); err != nil {
		return fmt.Errorf("--check after the first pass with --follow-ingress: %w", err)
	}
	progress("scenario 1i: %d runs per side", n)
	return e.watchNoOp(r, t, func() error {
		s, err := r.series(n, &job{argv: argv}, &job{argv: showAll})
		if err != nil {
			return err
		}
		ri.ours, ri.ref = s[0], s[1]
		riv.ours, riv.ref = s[0], r1.ours
		return nil
	})
}

// big: scenarios 2, 3 and 4 (and their floors) on one namespace with n main routes.
func (e *env) big(ns string, n int, want map[string]bool) ([]row, error) {
	progress("setting up %s (%d main routes)", ns, n)
	t, err := setupTopology(ns, e.tmp, false, n)
	if err != nil {
		return nil, err
	}
	lock := filepath.Join(e.tmp, ns+".lock")
	runs := e.cfg.bigRuns
	k := fmtCount(n)
	// Peak RSS targets, for every pass (issue 11): 64 MiB at 100k routes, 128 MiB at 1M (and
	// in between, the larger).
	rss := int64(64 << 10)
	if n > 100000 {
		rss = 128 << 10
	}
	r2 := row{name: fmt.Sprintf("2. no-op pass, %s routes", k), target: 0.5, rssKiB: rss}
	r2f := row{name: fmt.Sprintf("2f. floor: dumps only, %s routes", k), targetText: "(floor)"}
	r2v := row{name: fmt.Sprintf("2/2f. no-op pass against its dump floor, %s", k), target: 1.3}
	r2w := row{name: fmt.Sprintf("2w. floor as issue 21 measured it: every table in one dump, %s", k), targetText: "(floor)"}
	r2wv := row{name: fmt.Sprintf("2/2w. no-op pass against that floor, %s", k), targetText: "(informational)"}
	var rows []row
	err = inNetns(ns, e.tmp, func(r *runner) error {
		var mirrored [2]int
		if e.ours != "" {
			var err error
			if mirrored, err = e.initialSync(r, t, lock); err != nil {
				return err
			}
		} else {
			e.note("%s: symroute-sync unavailable: the tables stay empty, so scenario 2's reference dumps only main", ns)
		}
		if want["2"] || want["3"] {
			progress("scenario 2 at %s: %d runs per side", k, runs)
			if err := e.noOpSeries(r, t, lock, runs, &r2, &r2f, &r2w); err != nil {
				return err
			}
			r2v.ours, r2v.ref = r2.ours, r2f.ours
			r2wv.ours, r2wv.ref = r2.ours, r2w.ours
			if want["2"] {
				rows = append(rows, r2, r2f, r2v, r2w, r2wv)
			}
		}
		if want["4"] && e.ours != "" {
			r4, err := e.oneChange(r, t, lock, runs, k, r2.ours)
			if err != nil {
				return err
			}
			rows = append(rows, r4)
		}
		if want["3"] {
			rs, err := e.firstPass(r, t, lock, runs, k, mirrored, r2f.ours, rss)
			if err != nil {
				return err
			}
			rows = append(rows, rs...)
		}
		return e.recordFloor(r, "big host "+k)
	})
	return rows, err
}

// firstPass is scenario 3: mirroring every route into empty tables, against ip -batch adding
// them and against the floors (a dump and the inserts alone). Every timed run starts from empty
// tables: ours from its own --flush, the references from ip route flush. Both are checked, or
// a failed reset would time a no-op.
func (e *env) firstPass(r *runner, t *topology, lock string, runs int, k string, mirrored [2]int, dumpFloor []sample, rss int64) ([]row, error) {
	r3 := row{name: fmt.Sprintf("3. first pass, mirror %s routes", k), target: 0.3, rssKiB: rss}
	r3f := row{name: fmt.Sprintf("3f. floor: inserts only, %s routes", k), targetText: "(floor)"}
	r3v := row{name: fmt.Sprintf("3/(2f+3f). first pass against its floors, %s", k), target: 1.25}
	progress("scenario 3 at %s: %d runs per side (each reset untimed)", k, runs)
	empty := func() error {
		for _, table := range t.tables {
			c, err := r.tableRoutes(table)
			if err != nil {
				return err
			}
			if c != 0 {
				return fmt.Errorf("table %d holds %d routes before a first-pass run, want 0", table, c)
			}
		}
		return nil
	}
	check := func(who string, want [2]int) error {
		for i, table := range t.tables {
			c, err := r.tableRoutes(table)
			if err != nil {
				return err
			}
			if c != want[i] {
				return fmt.Errorf("%s left %d routes in table %d, want %d", who, c, table, want[i])
			}
		}
		return nil
	}
	var oursJob *job
	if e.ours != "" {
		if _, err := r.timed(e.oursArgv(lock, "--flush")); err != nil {
			return nil, fmt.Errorf("reset: %w", err)
		}
		oursJob = &job{argv: e.oursArgv(lock, "--once"), after: func() error {
			if err := check("symroute-sync's first pass", mirrored); err != nil {
				return err
			}
			if _, err := r.timed(e.oursArgv(lock, "--flush")); err != nil {
				return fmt.Errorf("reset: %w", err)
			}
			return empty()
		}}
	}
	if err := empty(); err != nil {
		return nil, err
	}
	reset := func(who string) func() error {
		return func() error {
			if err := check(who, t.refLines); err != nil {
				return err
			}
			if err := r.flushTables(t); err != nil {
				return err
			}
			return empty()
		}
	}
	refJob := &job{argv: []string{"ip", "-batch", t.refBatch}, after: reset("ip -batch")}
	insertJob := &job{argv: []string{e.insertOnly, t.refBatch}, after: reset("insertonly")}
	s, err := r.series(runs, oursJob, refJob, insertJob)
	if err != nil {
		return nil, err
	}
	r3.ours, r3.ref = s[0], s[1]
	r3f.ours, r3f.ref = s[2], s[1]
	if len(dumpFloor) > 0 {
		// The floor of a first pass: a dump (to know what is there) and the inserts.
		r3v.ours, r3v.ref = s[0], []sample{{wall: median(dumpFloor) + median(s[2])}}
	}
	if oursJob == nil {
		return []row{r3, r3f}, nil
	}
	return []row{r3, r3f, r3v}, nil
}

// oneChange is scenario 4: a pass after one route of main changed (its gateway, replaced in
// place untimed before every run), against the no-op pass of scenario 2. The pass must write
// exactly that change into the link's table, which is checked after every run.
func (e *env) oneChange(r *runner, t *topology, lock string, runs int, k string, noOp []sample) (row, error) {
	r4 := row{name: fmt.Sprintf("4. pass after one route changed, %s routes (ref: row 2's no-op)", k), target: 1.1}
	progress("scenario 4 at %s: %d runs", k, runs)
	gws := [2]string{"10.0.0.1", "10.0.0.254"}
	dst := "10.1.0.0/24"
	if t.generated/2 > maxRoutesEm1 {
		dst = "10.1.0.0/32"
	}
	i := 0
	change := func() error {
		i++
		_, err := r.output("ip", "route", "replace", dst, "via", gws[i%2], "dev", "em1")
		return err
	}
	if err := change(); err != nil {
		return r4, err
	}
	j := &job{argv: e.oursArgv(lock, "--once"), after: func() error {
		out, err := r.output("ip", "route", "show", "table", strconv.Itoa(t.tables[0]), dst)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "via "+gws[i%2]+" ") {
			return fmt.Errorf("after a pass, table %d has %q for %s, want via %s", t.tables[0], strings.TrimSpace(out), dst, gws[i%2])
		}
		return change()
	}}
	s, err := r.series(runs, j)
	if err != nil {
		return r4, err
	}
	r4.ours, r4.ref = s[0], noOp
	return r4, nil
}

// manyAddrs is scenario 5: links links of addrs IPv4 addresses each (a rule each: delegated
// prefixes on cloud NICs), in sync; a no-op pass against the floor of every dump a pass makes.
func (e *env) manyAddrs(ns string, links, addrs int) ([]row, error) {
	progress("setting up %s (%d links of %d addresses)", ns, links, addrs)
	// veth pairs, their far ends in a peer namespace for carrier: this kernel may lack dummy.
	peer := ns + "-peer"
	for _, n := range []string{ns, peer} {
		if err := addNetns(n); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(e.tmp, ns+".batch")
	b, err := newBatch(path)
	if err != nil {
		return nil, err
	}
	peerPath := filepath.Join(e.tmp, peer+".batch")
	pb, err := newBatch(peerPath)
	if err != nil {
		return nil, err
	}
	for l := 0; l < links; l++ {
		name := fmt.Sprintf("em%d", l)
		b.write("", []byte(fmt.Sprintf("link add %s type veth peer name p%d netns %s", name, l, peer)), "\n")
		b.write("", []byte(fmt.Sprintf("link set %s up", name)), "\n")
		pb.write("", []byte(fmt.Sprintf("link set p%d up", l)), "\n")
		for a := 0; a < addrs; a++ {
			b.write("", []byte(fmt.Sprintf("addr add 10.%d.%d.%d/16 dev %s", l, a/250, 2+a%250, name)), "\n")
		}
		b.write("", []byte(fmt.Sprintf("route add default via 10.%d.0.1 dev %s metric %d", l, name, 100+l)), "\n")
	}
	if err := b.close(); err != nil {
		return nil, err
	}
	if err := pb.close(); err != nil {
		return nil, err
	}
	if err := ipIn(ns, "-batch", path); err != nil {
		return nil, err
	}
	if err := ipIn(peer, "-batch", peerPath); err != nil {
		return nil, err
	}
	lock := filepath.Join(e.tmp, ns+".lock")
	r5 := row{name: fmt.Sprintf("5. no-op pass, %d links x %d addresses (ref: 5f)", links, addrs), target: 1.3}
	r5f := row{name: "5f. floor: every dump a pass makes", targetText: "(floor)"}
	err = inNetns(ns, e.tmp, func(r *runner) error {
		if e.ours == "" {
			return nil
		}
		if _, err := r.timed(e.oursArgv(lock, "--once")); err != nil {
			return fmt.Errorf("first pass: %w", err)
		}
		rules, err := r.countLines("ip", "rule", "show")
		if err != nil {
			return err
		}
		if rules < links*addrs {
			return fmt.Errorf("%d rules after the first pass, want at least %d", rules, links*addrs)
		}
		progress("scenario 5: %d runs per side", e.cfg.bigRuns)
		s, err := r.series(e.cfg.bigRuns, e.noOp(lock), &job{argv: []string{e.dumpOnly, "-all"}})
		if err != nil {
			return err
		}
		r5.ours, r5.ref = s[0], s[1]
		r5f.ours, r5f.ref = s[1], s[1]
		return e.recordFloor(r, "many-address host")
	})
	return []row{r5, r5f}, err
}
