package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
	"github.com/symroute/symroute/sync/report"
)

// --explain: the kernel's own lookup says which table and route a flow
// takes; package report says why each is there (report.Explain).

type explainJSON struct {
	Flow   flowJSON   `json:"flow"`
	Paths  []pathJSON `json:"paths"`
	Errors []string   `json:"errors,omitempty"`
}

type flowJSON struct {
	Dst  string `json:"dst"`
	From string `json:"from,omitempty"`
	Iif  string `json:"iif,omitempty"`
	Oif  string `json:"oif,omitempty"`
}

type pathJSON struct {
	What     string   `json:"what"`
	Rule     string   `json:"rule,omitempty"`
	RuleWhy  string   `json:"rule_why,omitempty"`
	Passed   []string `json:"passed_rules"`
	Table    uint32   `json:"table"`
	TableWhy string   `json:"table_why"`
	Route    string   `json:"route"`
	RouteWhy string   `json:"route_why"`
	Notes    []string `json:"notes"`
}

// explain renders pass.Explain's paths for people, or as JSON.
func explain(k plan.Kernel, lk plan.Looker, po pass.Options, q config.Explain, asJSON bool, stdout io.Writer, log *slog.Logger) int {
	st, m, _, ok := computeOrLog(k, po, log)
	if !ok {
		return exitFailed
	}
	paths, errs, err := report.Lookup(st, m, lk, po.Plan, report.Query(q))
	if err != nil {
		log.Error("explain", "err", err)
		return exitFailed
	}
	rn := plan.NewRenderer(st)
	if asJSON {
		out := explainJSON{Flow: flowJSON{Dst: q.Dst.String(), Iif: q.Iif, Oif: q.Oif}, Paths: []pathJSON{}, Errors: errs}
		if q.From.IsValid() {
			out.Flow.From = q.From.String()
		}
		for _, p := range paths {
			pj := pathJSON{What: p.What, Passed: append([]string{}, p.Passed...), Table: p.Table, TableWhy: p.TableWhy,
				Route: routeText(rn, &p.Route), RouteWhy: p.RouteWhy, Notes: append([]string{}, p.Notes...)}
			if p.Rule != nil {
				pj.Rule, pj.RuleWhy = plan.RuleText(p.Rule), p.RuleWhy
			}
			out.Paths = append(out.Paths, pj)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			log.Error("write explanation", "err", err)
			return exitFailed
		}
	} else {
		for i, p := range paths {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "%s:\n", p.What)
			for _, s := range p.Passed {
				fmt.Fprintf(stdout, "  passed %s\n", s)
			}
			if p.Rule != nil {
				fmt.Fprintf(stdout, "  rule %s: %s\n", plan.RuleText(p.Rule), p.RuleWhy)
			} else {
				fmt.Fprintf(stdout, "  rule: none symroute can tell (one with selectors it does not read)\n")
			}
			fmt.Fprintf(stdout, "  table %d: %s\n", p.Table, p.TableWhy)
			fmt.Fprintf(stdout, "  route %s: %s\n", routeText(rn, &p.Route), p.RouteWhy)
			for _, n := range p.Notes {
				fmt.Fprintf(stdout, "  note: %s\n", n)
			}
		}
	}
	for _, e := range errs {
		log.Error("explain", "err", e)
	}
	if len(errs) > 0 {
		return exitFailed
	}
	return exitOK
}

// routeText is r as ip-route(8) lists it: the rendering of its add, less
// the command.
func routeText(rn plan.Renderer, r *plan.Route) string {
	s := rn.Render(plan.Op{Kind: plan.RouteAdd, Route: r})
	_, s, _ = strings.Cut(s, "route add ")
	return s
}
