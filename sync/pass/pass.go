package pass

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/symroute/symroute/sync/plan"
	"github.com/symroute/symroute/sync/report"
)

// Options are what one pass is told.
type Options struct {
	Plan plan.Options
	// LockFile is taken by writing passes only.
	LockFile string
	// LockWait bounds the wait for the lock; 0 waits as long as it takes.
	LockWait time.Duration
	// Iproute2Dirs hold rt_tables; nil means DefaultIproute2Dirs.
	Iproute2Dirs []string
	// LeaseDir holds the hooks' lease records; "" means lease.DefaultDir.
	LeaseDir string
	// Root prefixes the paths of other programs' files a pass reads (for
	// its warnings: networkd's configuration, /proc; for the routers of
	// leases: networkd's and NetworkManager's state); "" for /.
	Root string
	// Trigger names what started the pass, for the logs.
	Trigger string
	// MaxRounds bounds apply-and-read-back rounds; 0 means DefaultRounds.
	MaxRounds int
	Log       *slog.Logger
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}

// Result says what a pass did.
type Result struct {
	Applied int
	Rounds  int
	Clashes []plan.Clash
	// IngressErr says why --follow-ingress could not be enabled.
	IngressErr string
	// Errors are the operations that failed in the last round.
	Errors []error
	// Final is the last round's look when it planned nothing: the kernel
	// as the pass leaves it (nil when the pass ended on its own writes,
	// with no read-back, or failed).
	Final *Look
}

// Look is one read of the kernel and the plan made from it.
type Look struct {
	State  *plan.State
	Mirror *plan.Mirror
	Plan   plan.Plan
}

// DefaultRounds bounds a pass's rounds of apply and read back. A pass on a
// quiet host needs one; each change racing it may cost one more; past this
// something keeps undoing what the pass does, and it fails (exit 1).
const DefaultRounds = 4

// ErrPartial marks a pass that converged except for clashing links, or
// with --follow-ingress refused (Result says which).
var ErrPartial = errors.New("pass partial")

// Plan reads the kernel and plans, changing nothing and taking no lock.
func Plan(k plan.Kernel, o Options) (*plan.State, *plan.Mirror, plan.Plan, error) {
	st, err := k.Snapshot(plan.ReadOptions{TableBase: o.Plan.TableBase})
	if err != nil {
		return nil, nil, plan.Plan{}, fmt.Errorf("read kernel state: %w", err)
	}
	dirs := o.Iproute2Dirs
	if dirs == nil {
		dirs = DefaultIproute2Dirs
	}
	st.TableNames = ReadTableNames(dirs)
	st.Host.Networkd = ReadNetworkd(o.Root)
	devs := readNMDevices(o.Root)
	st.Host.NMRouting = nmRouting(o.Root, devs)
	if err := readRouters(st, o, devs); err != nil {
		return nil, nil, plan.Plan{}, err
	}
	m := plan.Desire(st, o.Plan)
	p := plan.Diff(st, m)
	p.Warnings = report.Warnings(st, m, p, o.Plan)
	return st, m, p, nil
}

// Once runs one writing pass under the lock. It returns ErrPartial (with
// the clashes in the Result) when everything else converged.
func Once(k plan.Kernel, o Options) (Result, error) {
	lk, err := AcquireLock(o.LockFile, o.LockWait)
	if err != nil {
		return Result{}, err
	}
	defer lk.Unlock()
	return run(k, o)
}

func run(k plan.Kernel, o Options) (Result, error) {
	log := o.log()
	rounds := o.MaxRounds
	if rounds <= 0 {
		rounds = DefaultRounds
	}
	var res Result
	for round := 1; ; round++ {
		if round > 1 {
			// The last round's state and plan are garbage now, and with
			// 1M routes hundreds of MB: collected before the next
			// snapshot, their memory is reused rather than added to, at
			// the cost of a collection with little left live.
			runtime.GC()
		}
		if over, err := res.round(k, o, log, round, rounds); over {
			return res, err
		}
	}
}

// round plans and applies once, under a watch on the kernel opened before
// its snapshot; over is true when the pass ends here, with err.
func (res *Result) round(k plan.Kernel, o Options, log *slog.Logger, round, rounds int) (over bool, err error) {
	t0 := time.Now()
	w := startWatch(k, log)
	if w != nil {
		defer w.Close()
	}
	st, m, p, err := Plan(k, o)
	if err != nil {
		return true, err
	}
	log.Debug("planned", "round", round, "routes", len(st.Routes), "copies", len(st.Copies), "rules", len(st.Rules), "changes", len(p.Ops), "took", time.Since(t0))
	if st.Ingress.Drift != "" {
		log.Debug("nftables table "+plan.NftFamily+" "+plan.NftTable+" is not as symroute wrote it", "why", st.Ingress.Drift)
	}
	res.Rounds = round
	if round == 1 {
		res.Clashes, res.IngressErr = p.Clashes, p.IngressErr
		LogFindings(log, p)
	}
	if len(p.Ops) == 0 {
		res.Final = &Look{State: st, Mirror: m, Plan: p}
		return true, res.end()
	}
	if round > rounds {
		for _, e := range res.Errors {
			log.Error(e.Error())
		}
		return true, fmt.Errorf("not in sync after %d rounds: %d changes still planned", rounds, len(p.Ops))
	}
	t1 := time.Now()
	errs := k.Apply(p.Ops)
	log.Debug("applied", "round", round, "changes", len(p.Ops), "took", time.Since(t1))
	res.Errors = res.Errors[:0]
	done := logApplied(log, st, o, p.Ops, errs)
	res.Applied += done
	// In plan order: the first error decides below.
	failed := make([]int, 0, len(errs))
	for i, e := range errs {
		if e != nil {
			failed = append(failed, i)
		}
	}
	sort.Ints(failed)
	for _, i := range failed {
		res.Errors = append(res.Errors, errs[i])
	}
	// Retrying cannot help a process that may not change routes.
	if done == 0 && len(res.Errors) > 0 && errors.Is(res.Errors[0], fs.ErrPermission) {
		return true, fmt.Errorf("%w (symroute-sync needs CAP_NET_ADMIN: run it as root)", res.Errors[0])
	}
	// Nothing but this round's own writes happened since its snapshot,
	// and all of them were done: the kernel is what was planned, and a
	// read-back would plan nothing. nftables and conntrack send no
	// rtnetlink notifications, so a round that wrote them reads back.
	if w != nil && len(res.Errors) == 0 && !touchesIngress(p.Ops) && !w.Foreign(p.Ops) {
		log.Debug("read-back skipped: no change but this round's own", "round", round)
		return true, res.end()
	}
	return false, nil
}

// Partial says why a pass whose plan is done ended partial: links skipped
// for clashes, --follow-ingress refused; "" if it did not.
func (res Result) Partial() string {
	var why []string
	if n := len(res.Clashes); n > 0 {
		why = append(why, fmt.Sprintf("%d link(s) skipped", n))
	}
	if res.IngressErr != "" {
		why = append(why, "follow-ingress not enabled")
	}
	return strings.Join(why, ", ")
}

// end is the error of a pass whose plan is done: ErrPartial saying why,
// or nil.
func (res Result) end() error {
	if why := res.Partial(); why != "" {
		return fmt.Errorf("%w: %s", ErrPartial, why)
	}
	return nil
}

// startWatch watches the kernel's changes, if it can; nil means every round
// reads back.
func startWatch(k plan.Kernel, log *slog.Logger) plan.Watch {
	wk, ok := k.(plan.Watcher)
	if !ok {
		return nil
	}
	w, err := wk.Watch()
	if err != nil {
		log.Debug("no watch on the kernel's changes: reading back", "err", err)
		return nil
	}
	return w
}

func touchesIngress(ops []plan.Op) bool {
	for _, op := range ops {
		if op.Ingress != nil {
			return true
		}
	}
	return false
}

// maxOpLines bounds per-change log lines: a first pass over a 100k-route
// main must not flood the journal, so past it changes are summed per table.
const maxOpLines = 64

func logApplied(log *slog.Logger, st *plan.State, o Options, ops []plan.Op, errs map[int]error) int {
	rn := plan.NewRenderer(st)
	names := make(map[int]string, len(st.Links))
	for _, l := range st.Links {
		names[l.Index] = l.Name
	}
	linkOfTable := func(t uint32) string {
		if t > o.Plan.TableBase {
			if n, ok := names[int(t-o.Plan.TableBase)]; ok {
				return n
			}
		}
		return ""
	}
	linkOf := func(op plan.Op) string {
		if op.Ingress != nil {
			return names[op.Ingress.Link]
		}
		return linkOfTable(op.Table())
	}
	type sumKey struct {
		table uint32
		kind  plan.OpKind
	}
	var sums map[sumKey]int
	done := len(ops)
	for _, e := range errs {
		if e != nil {
			done--
		}
	}
	if done > maxOpLines {
		sums = map[sumKey]int{}
	}
	for i, op := range ops {
		if errs[i] != nil {
			// Logged at the end if the read-back rounds do not mend it.
			log.Debug("change failed", "err", errs[i].Error(), "trigger", o.Trigger)
			continue
		}
		if sums != nil && op.Ingress == nil {
			sums[sumKey{op.Table(), op.Kind}]++
			continue
		}
		log.Info("applied", "change", rn.Describe(op), "link", plan.Printable(linkOf(op)), "table", op.Table(), "trigger", o.Trigger)
	}
	for k, n := range sums {
		log.Info("applied", "change", k.kind.String(), "count", n, "link", plan.Printable(linkOfTable(k.table)), "table", k.table, "trigger", o.Trigger)
	}
	return done
}

// LogFindings logs what a plan found that needs an administrator: clashes
// and an --follow-ingress that could not be enabled (errors), and warnings.
// A pass logs them once, in its first round.
func LogFindings(log *slog.Logger, p plan.Plan) {
	for _, c := range p.Clashes {
		log.Warn(c.String())
	}
	if p.IngressErr != "" {
		log.Error(p.IngressErr)
	}
	for _, w := range p.Warnings {
		log.Warn(w.String(), "id", string(w.ID))
	}
}
