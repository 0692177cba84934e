package report

import (
	"fmt"
	"net/netip"

	"github.com/symroute/symroute/sync/plan"
)

// Query is a flow --explain asks about: its destination, and optionally
// its source, the link it arrives on (Iif) or the link a socket sending
// it is bound to (Oif), by name.
type Query struct {
	Dst, From netip.Addr
	Iif       string
	Oif       string
}

// Path is one lookup explained: the flow asked about, or the reply of a
// connection that came in on Query.Iif, in words (What).
type Path struct {
	What string
	Explanation
}

// Lookup asks the kernel's lookup (lk) which route q's flow takes in the
// state st that m mirrors, and the planner why; with --follow-ingress and
// q.Iif, also the reply of a connection that came in on that link, which
// its mark routes. A link q names that st does not hold is an error; a
// lookup that fails is one of errs, the other paths still explained.
func Lookup(st *plan.State, m *plan.Mirror, lk plan.Looker, o plan.Options, q Query) (paths []Path, errs []string, err error) {
	f, what, err := flowOf(st, q)
	if err != nil {
		return nil, nil, err
	}
	look := func(what string, f plan.Flow) {
		r, err := lk.Lookup(f)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
			return
		}
		paths = append(paths, Path{what, Explain(st, m, o, f, r)})
	}
	look(what, f)
	// A connection that came in on the link is answered by its mark: its
	// reply goes from the address asked about to the source.
	if mark := m.IngressMarks[f.Iif]; f.Iif != 0 && o.FollowIngress && mark != 0 {
		look(fmt.Sprintf("the reply to %s from %s of a connection that came in on %s (--follow-ingress mark %#x)",
			q.From, q.Dst, plan.Printable(q.Iif), mark), plan.Flow{Dst: q.From, Src: q.Dst, Mark: mark})
	}
	return paths, errs, nil
}

// flowOf is the flow q asks about, its links found in st, and its words.
func flowOf(st *plan.State, q Query) (plan.Flow, string, error) {
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
