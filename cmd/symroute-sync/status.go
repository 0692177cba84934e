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

// --status: package report's summary (report.Status, report.IngressSummary) as a
// table for people, or as JSON for scripts. The JSON names are part of the
// command's interface, so they live here, not in the planner.

type statusJSON struct {
	Links         []linkJSON    `json:"links"`
	Pending       int           `json:"pending_changes"`
	Warnings      []warningJSON `json:"warnings"`
	FollowIngress ingressJSON   `json:"follow_ingress"`
}

// warningJSON is a warning for scripts: its stable ID to match on, the
// link it is about, what is wrong and what to do.
type warningJSON struct {
	ID   string `json:"id"`
	Link string `json:"link,omitempty"`
	Text string `json:"text"`
	Fix  string `json:"fix,omitempty"`
}

type linkJSON struct {
	Name        string     `json:"name"`
	Index       int        `json:"ifindex"`
	Managed     bool       `json:"managed"`
	Table       uint32     `json:"table"`
	Clash       string     `json:"clash,omitempty"`
	Rules       []ruleJSON `json:"rules"`
	Routes      int        `json:"routes"`
	WantRoutes  int        `json:"want_routes"`
	InSync      bool       `json:"in_sync"`
	IngressMark uint32     `json:"ingress_mark,omitempty"`
}

// ruleJSON is an address's rule (from) or the rule of sockets bound to
// the link (oif, with its family: "inet" or "inet6").
type ruleJSON struct {
	From    string `json:"from,omitempty"`
	Oif     string `json:"oif,omitempty"`
	Family  string `json:"family,omitempty"`
	Present bool   `json:"present"`
}

func newRuleJSON(r report.RuleStatus) ruleJSON {
	rj := ruleJSON{From: r.From, Oif: r.Oif, Present: r.Present}
	if r.Oif != "" {
		rj.Family = "inet"
		if r.Family == plan.FamilyV6 {
			rj.Family = "inet6"
		}
	}
	return rj
}

// ruleText is a rule in --status's RULES column: its address, or "oif
// LINK" (IPv6's marked), "(missing)" where the kernel lacks it.
func ruleText(r report.RuleStatus) string {
	s := r.From
	if r.Oif != "" {
		s = "oif " + plan.Printable(r.Oif)
		if r.Family == plan.FamilyV6 {
			s += " (IPv6)"
		}
	}
	if !r.Present {
		s += "(missing)"
	}
	return s
}

type ingressJSON struct {
	Enabled bool   `json:"enabled"`
	Table   string `json:"table"`
	Mask    uint32 `json:"mask"`
	Error   string `json:"error,omitempty"`
}

func newStatusJSON(links []report.LinkStatus, p plan.Plan, in report.IngressStatus) statusJSON {
	out := statusJSON{Links: []linkJSON{}, Pending: len(p.Ops), Warnings: []warningJSON{},
		FollowIngress: ingressJSON{Enabled: in.Enabled, Table: in.Table, Mask: in.Mask, Error: in.Error}}
	for _, w := range p.Warnings {
		out.Warnings = append(out.Warnings, warningJSON{ID: string(w.ID), Link: w.Link, Text: w.Text, Fix: w.Fix})
	}
	for _, l := range links {
		lj := linkJSON{Name: l.Name, Index: l.Index, Managed: l.Managed, Table: l.Table, Clash: l.Clash, Rules: []ruleJSON{},
			Routes: l.Routes, WantRoutes: l.WantRoutes, InSync: l.InSync, IngressMark: l.IngressMark}
		for _, r := range l.Rules {
			lj.Rules = append(lj.Rules, newRuleJSON(r))
		}
		out.Links = append(out.Links, lj)
	}
	return out
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
		if err := enc.Encode(newStatusJSON(links, p, ingress)); err != nil {
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
