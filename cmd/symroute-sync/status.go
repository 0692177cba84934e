package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
	"github.com/symroute/symroute/sync/report"
)

// --status: package report's summary (report.Status, report.IngressSummary)
// as a table for people, or as JSON for scripts (the report's types carry
// their JSON names).

type statusJSON struct {
	Links         []report.LinkStatus  `json:"links"`
	Pending       int                  `json:"pending_changes"`
	Warnings      []plan.Warning       `json:"warnings"`
	FollowIngress report.IngressStatus `json:"follow_ingress"`
}

// ruleText is a rule in --status's RULES column: its address, or "oif
// LINK" (IPv6's marked), "(missing)" where the kernel lacks it.
func ruleText(r report.RuleStatus) string {
	s := r.From
	if r.Oif != "" {
		s = "oif " + plan.Printable(r.Oif)
		if r.Family == "inet6" {
			s += " (IPv6)"
		}
	}
	if !r.Present {
		s += "(missing)"
	}
	return s
}

func status(k plan.Kernel, po pass.Options, asJSON bool, stdout io.Writer, log *slog.Logger) int {
	st, m, p, ok := computeOrLog(k, po, log)
	if !ok {
		return exitFailed
	}
	links := report.Status(st, m, p, po.Plan)
	ingress := report.IngressSummary(st, p, po.Plan)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := statusJSON{Links: links, Pending: len(p.Ops), Warnings: append([]plan.Warning{}, p.Warnings...), FollowIngress: ingress}
		if err := enc.Encode(out); err != nil {
			log.Error("write status", "err", err)
			return exitFailed
		}
		return exitOK
	}
	// The mark column only where --follow-ingress is on or has left
	// something to undo.
	marks := ingress.Enabled || ingress.Table != report.IngressTableAbsent
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	head := "LINK\tTABLE\tMANAGED\tRULES\tROUTES\tSTATE"
	if marks {
		head = "LINK\tTABLE\tMANAGED\tMARK\tRULES\tROUTES\tSTATE"
	}
	fmt.Fprintln(tw, head)
	for _, l := range links {
		rules := ""
		for i, r := range l.Rules {
			if i > 0 {
				rules += ","
			}
			rules += ruleText(r)
		}
		if rules == "" {
			rules = "-"
		}
		state := "in sync"
		switch {
		case l.Clash != "":
			state = "clash: table used by " + plan.Printable(l.Clash)
		case !l.InSync:
			state = "out of sync"
		}
		mark := ""
		if marks {
			mark = "-\t"
			if l.IngressMark != 0 {
				mark = fmt.Sprintf("0x%08x\t", l.IngressMark)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s%s\t%d/%d\t%s\n", plan.Printable(l.Name), l.Table, l.Managed, mark, rules, l.Routes, l.WantRoutes, state)
	}
	tw.Flush()
	if marks {
		on := "off"
		if ingress.Enabled {
			on = "on"
		}
		fmt.Fprintf(stdout, "follow-ingress: %s, mask 0x%08x, nftables table %s %s: %s\n", on, ingress.Mask, plan.NftFamily, plan.NftTable, ingress.Table)
		if ingress.Error != "" {
			fmt.Fprintf(stdout, "follow-ingress not enabled: %s\n", ingress.Error)
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if len(p.Ops) > 0 {
		fmt.Fprintf(stdout, "%d changes pending (see --dry-run)\n", len(p.Ops))
	}
	return exitOK
}
