package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/sync/kernel"
	"github.com/symroute/symroute/sync/pass"
	"github.com/symroute/symroute/sync/plan"
)

// --explain: the kernel's own lookup says which table and route a flow
// takes; the planner says why each is there (plan.Explain).

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

// explainPath is one lookup explained: the flow asked about, or the reply
// of a connection that came in on --iif.
type explainPath struct {
	what string
	e    plan.Explanation
}

func explain(k *kernel.Handle, po pass.Options, q config.Explain, asJSON bool, stdout io.Writer, log *slog.Logger) int {
	st, m, _, ok := computeOrLog(k, po, log)
	if !ok {
		return exitFailed
	}
	f, what, err := explainFlow(st, q)
	if err != nil {
		log.Error("explain", "err", err)
		return exitFailed
	}
	var paths []explainPath
	var errs []string
	look := func(what string, f plan.Flow) {
		r, err := k.Lookup(f)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
			return
		}
		paths = append(paths, explainPath{what, plan.Explain(st, m, po.Plan, f, r)})
	}
	look(what, f)
	// With --follow-ingress, a connection that came in on the link is
	// answered by its mark: its reply goes from the address asked about to
	// the source.
	if mark := m.IngressMarks[f.Iif]; f.Iif != 0 && po.Plan.FollowIngress && mark != 0 {
		look(fmt.Sprintf("the reply to %s from %s of a connection that came in on %s (--follow-ingress mark %#x)",
			q.From, q.Dst, plan.Printable(q.Iif), mark), plan.Flow{Dst: q.From, Src: q.Dst, Mark: mark})
	}
	rn := plan.NewRenderer(st)
	if asJSON {
		out := explainJSON{Flow: flowJSON{Dst: q.Dst.String(), Iif: q.Iif, Oif: q.Oif}, Paths: []pathJSON{}, Errors: errs}
		if q.From.IsValid() {
			out.Flow.From = q.From.String()
		}
		for _, p := range paths {
			pj := pathJSON{What: p.what, Passed: append([]string{}, p.e.Passed...), Table: p.e.Table, TableWhy: p.e.TableWhy,
				Route: routeText(rn, &p.e.Route), RouteWhy: p.e.RouteWhy, Notes: append([]string{}, p.e.Notes...)}
			if p.e.Rule != nil {
				pj.Rule, pj.RuleWhy = plan.RuleText(p.e.Rule), p.e.RuleWhy
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
			fmt.Fprintf(stdout, "%s:\n", p.what)
			for _, s := range p.e.Passed {
				fmt.Fprintf(stdout, "  passed %s\n", s)
			}
			if p.e.Rule != nil {
				fmt.Fprintf(stdout, "  rule %s: %s\n", plan.RuleText(p.e.Rule), p.e.RuleWhy)
			} else {
				fmt.Fprintf(stdout, "  rule: none symroute can tell (one with selectors it does not read)\n")
			}
			fmt.Fprintf(stdout, "  table %d: %s\n", p.e.Table, p.e.TableWhy)
			fmt.Fprintf(stdout, "  route %s: %s\n", routeText(rn, &p.e.Route), p.e.RouteWhy)
			for _, n := range p.e.Notes {
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

// explainFlow is the flow q asks about, its links found in st, and its
// words.
func explainFlow(st *plan.State, q config.Explain) (plan.Flow, string, error) {
	f := plan.Flow{Dst: q.Dst, Src: q.From}
	what := "a packet to " + q.Dst.String()
	if q.From.IsValid() {
		what += " from " + q.From.String()
	}
	for _, l := range []struct {
		name, flag, words string
		idx               *int
	}{{q.Iif, "iif", " arriving on ", &f.Iif}, {q.Oif, "oif", " sent by a socket bound to ", &f.Oif}} {
		if l.name == "" {
			continue
		}
		for i := range st.Links {
			if st.Links[i].Name == l.name {
				*l.idx = st.Links[i].Index
			}
		}
		if *l.idx == 0 {
			return f, "", fmt.Errorf("--%s %s: no such link", l.flag, plan.Printable(l.name))
		}
		what += l.words + plan.Printable(l.name)
	}
	return f, what, nil
}

// routeText is r as ip-route(8) lists it: the rendering of its add, less
// the command.
func routeText(rn plan.Renderer, r *plan.Route) string {
	s := rn.Render(plan.Op{Kind: plan.RouteAdd, Route: r})
	_, s, _ = strings.Cut(s, "route add ")
	return s
}
