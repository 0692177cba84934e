package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/symroute/symroute/internal/testbed"
)

// median of the wall times; 0 for none.
func median(s []sample) time.Duration {
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = x.wall
	}
	return testbed.Median(d)
}

// peakRSS is the highest child peak RSS of a series, in KiB.
func peakRSS(s []sample) int64 {
	var m int64
	for _, x := range s {
		m = max(m, x.maxRSSKiB)
	}
	return m
}

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func fmtKiB(k int64) string {
	return fmt.Sprintf("%.1f MiB", float64(k)/1024)
}

// fmtCount writes 100000 as 100k, for scenario names.
func fmtCount(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func splitLines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// verdict compares a row with its targets: PASS, MISS, or "info" for a row without one.
func (r row) verdict() string {
	if r.target == 0 {
		return "info"
	}
	if len(r.ours) == 0 || len(r.ref) == 0 {
		return "n/a"
	}
	ratio := float64(median(r.ours)) / float64(median(r.ref))
	// Compare the ratio as printed: 0.50 shown beside a 0.50 target must read PASS.
	ok := math.Round(ratio*100) <= math.Round(r.target*100)
	if r.rssKiB > 0 && peakRSS(r.ours) > r.rssKiB {
		ok = false
	}
	if ok {
		return "PASS"
	}
	return "MISS"
}

func printTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tours (median)\treference (median)\tratio ours/ref\ttarget\tresult\tpeak RSS ours\tpeak RSS ref\truns")
	for _, r := range rows {
		ours, ratio, rss := "n/a", "n/a", "n/a"
		if len(r.ours) > 0 {
			ours = fmtDur(median(r.ours))
			rss = fmtKiB(peakRSS(r.ours))
			if len(r.ref) > 0 {
				ratio = fmt.Sprintf("%.2f", float64(median(r.ours))/float64(median(r.ref)))
			}
		}
		ref := "n/a"
		refRSS := "n/a"
		if len(r.ref) > 0 {
			ref = fmtDur(median(r.ref))
			refRSS = fmtKiB(peakRSS(r.ref))
		}
		target := r.targetText
		if r.target > 0 {
			target = fmt.Sprintf("<= %.2f", r.target)
			if r.rssKiB > 0 {
				target += fmt.Sprintf(", RSS <= %d MiB", r.rssKiB>>10)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
			r.name, ours, ref, ratio, target, r.verdict(), rss, refRSS, max(len(r.ours), len(r.ref)))
	}
	return tw.Flush()
}
