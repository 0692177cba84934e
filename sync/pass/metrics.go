package pass

import (
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/symroute/symroute/metrics"
	"github.com/symroute/symroute/sync/plan"
	"github.com/symroute/symroute/sync/report"
)

// Gauges are what a look at the kernel found, for the metrics file.
func Gauges(st *plan.State, m *plan.Mirror, p plan.Plan, o plan.Options) metrics.Look {
	look := metrics.Look{Pending: len(p.Ops), Warnings: map[string]int{}}
	for _, id := range report.WarningIDs() {
		look.Warnings[string(id)] = 0
	}
	for _, w := range p.Warnings {
		look.Warnings[string(w.ID)]++
	}
	for _, l := range report.Status(st, m, p, o) {
		ml := metrics.Link{Name: l.Name, Table: l.Table, Managed: l.Managed, Skipped: l.Clash != "", Routes: l.Routes}
		for _, r := range l.Rules {
			if r.Present {
				ml.Rules++
			}
		}
		look.Links = append(look.Links, ml)
	}
	return look
}

// WritePassMetrics writes to path (none if "") the gauges of a pass of
// program version that started at t0 and ended with res and err, from the
// pass's last look when it planned nothing (a no-op pass's only one), else
// from one more look at the kernel: the pass's last look predates its last
// writes when it skipped the read-back. Metrics never change how the run
// ends: a failure to write them is logged.
func WritePassMetrics(k plan.Kernel, po Options, path, version string, t0 time.Time, res Result, err error) {
	if path == "" {
		return
	}
	log := po.log()
	end := time.Now()
	mp := metrics.Pass{OK: err == nil, Partial: errors.Is(err, ErrPartial), Duration: end.Sub(t0), Applied: res.Applied, End: end}
	// Without a look, the look's gauges are left out: zeros would read as
	// in sync.
	var look *metrics.Look
	if f := res.Final; f != nil {
		l := Gauges(f.State, f.Mirror, f.Plan, po.Plan)
		look = &l
	} else if st, m, p, perr := Plan(k, po); perr == nil {
		l := Gauges(st, m, p, po.Plan)
		look = &l
	} else {
		log.Warn("metrics: no look at the kernel after the pass: its gauges left out", "err", perr)
	}
	logMetricsErr(metrics.WritePass(path, look, mp, version), path, log)
}

// WriteCheckMetrics writes look to path for --check, keeping the last
// pass's gauges there.
func WriteCheckMetrics(path, version string, look metrics.Look, log *slog.Logger) {
	logMetricsErr(metrics.WriteCheck(path, look, version), path, log)
}

func logMetricsErr(err error, path string, log *slog.Logger) {
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		// The packaged timer names Debian's collector directory, which is
		// there only where node_exporter is installed.
		log.Debug("metrics not written: no such directory", "file", path)
	default:
		log.Warn("metrics not written", "err", err)
	}
}
