package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/sync/plan"
)

// lookerFunc is a fake of the kernel's route lookup.
type lookerFunc func(plan.Flow) (plan.Route, error)

func (f lookerFunc) Lookup(fl plan.Flow) (plan.Route, error) { return f(fl) }

// --explain's flows, with a fake of the kernel's lookup that records what
// it was asked: the flow as the query gives it, its links found by name;
// with --follow-ingress and an arriving link, also the reply its mark
// routes; a lookup that fails is said and the other path explained.
func TestLookup(t *testing.T) {
	o := plan.DefaultOptions()
	o.FollowIngress = true
	st, m := seedHost(t, o, true, nil)
	mark := m.IngressMarks[3]
	if mark == 0 {
		t.Fatal("em2 has no ingress mark")
	}
	em2Default := plan.Route{Family: plan.FamilyV4, Table: 1003, Dst: pfx("0.0.0.0/0"), Type: plan.RouteUnicast, Protocol: 16,
		Gw: ip("192.168.0.1"), Link: 3, Priority: 106}
	for _, tc := range []struct {
		name      string
		q         Query
		ingress   bool
		fail      func(plan.Flow) bool
		wantFlows []plan.Flow
		wantWhat  []string
		wantErrs  int
		wantErr   string
	}{
		{
			name:      "a destination alone",
			q:         Query{Dst: ip("203.0.113.9")},
			wantFlows: []plan.Flow{{Dst: ip("203.0.113.9")}},
			wantWhat:  []string{"a packet to 203.0.113.9"},
		},
		{
			name:      "from an address, bound to em2",
			q:         Query{Dst: ip("203.0.113.9"), From: ip("192.168.0.2"), Oif: "em2"},
			wantFlows: []plan.Flow{{Dst: ip("203.0.113.9"), Src: ip("192.168.0.2"), Oif: 3}},
			wantWhat:  []string{"a packet to 203.0.113.9 from 192.168.0.2 sent by a socket bound to em2"},
		},
		{
			name:    "arriving on em2 with --follow-ingress: and the reply its mark routes",
			q:       Query{Dst: ip("10.0.0.2"), From: ip("203.0.113.9"), Iif: "em2"},
			ingress: true,
			wantFlows: []plan.Flow{{Dst: ip("10.0.0.2"), Src: ip("203.0.113.9"), Iif: 3},
				{Dst: ip("203.0.113.9"), Src: ip("10.0.0.2"), Mark: mark}},
			wantWhat: []string{"a packet to 10.0.0.2 from 203.0.113.9 arriving on em2",
				"the reply to 203.0.113.9 from 10.0.0.2 of a connection that came in on em2 (--follow-ingress mark"},
		},
		{
			name:      "arriving on em2 without the option: no reply path",
			q:         Query{Dst: ip("10.0.0.2"), From: ip("203.0.113.9"), Iif: "em2"},
			wantFlows: []plan.Flow{{Dst: ip("10.0.0.2"), Src: ip("203.0.113.9"), Iif: 3}},
			wantWhat:  []string{"a packet to 10.0.0.2 from 203.0.113.9 arriving on em2"},
		},
		{
			name:    "the first lookup fails: said, the reply still explained",
			q:       Query{Dst: ip("10.0.0.2"), From: ip("203.0.113.9"), Iif: "em2"},
			ingress: true,
			fail:    func(f plan.Flow) bool { return f.Mark == 0 },
			wantFlows: []plan.Flow{{Dst: ip("10.0.0.2"), Src: ip("203.0.113.9"), Iif: 3},
				{Dst: ip("203.0.113.9"), Src: ip("10.0.0.2"), Mark: mark}},
			wantWhat: []string{"the reply to 203.0.113.9 from 10.0.0.2"},
			wantErrs: 1,
		},
		{
			name:    "no such link",
			q:       Query{Dst: ip("10.0.0.2"), Iif: "em9"},
			wantErr: "--iif em9: no such link",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []plan.Flow
			lk := lookerFunc(func(f plan.Flow) (plan.Route, error) {
				asked = append(asked, f)
				if tc.fail != nil && tc.fail(f) {
					return plan.Route{}, errors.New("refused")
				}
				return em2Default, nil
			})
			po := o
			po.FollowIngress = tc.ingress
			paths, errs, err := Lookup(st, m, lk, po, tc.q)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Lookup: want error %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantFlows, asked, cmp.Comparer(func(a, b plan.Flow) bool { return a == b })); diff != "" {
				t.Errorf("flows looked up (-want +got):\n%s", diff)
			}
			if len(errs) != tc.wantErrs || len(paths) != len(tc.wantWhat) {
				t.Fatalf("want %d paths and %d errors, got %+v and %q", len(tc.wantWhat), tc.wantErrs, paths, errs)
			}
			for i, p := range paths {
				if !strings.HasPrefix(p.What, tc.wantWhat[i]) || p.Table != 1003 {
					t.Errorf("path %d: want %q... in table 1003, got %q in %d", i, tc.wantWhat[i], p.What, p.Table)
				}
			}
		})
	}
}
