package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/sync/plan"
)

func TestStatus(t *testing.T) {
	o := plan.DefaultOptions()
	o.FollowIngress = true
	// em2's rule is missing: em2 is out of sync, em1 in sync.
	st, m := seedHost(t, o, true, func(st *plan.State) {
		var rules []plan.Rule
		for _, r := range st.Rules {
			if !(r.Src.IsValid() && r.Src.Addr() == ip("192.168.0.2")) {
				rules = append(rules, r)
			}
		}
		st.Rules = rules
	})
	p := plan.Diff(st, m)
	v1, v2 := m.IngressMarks[2], m.IngressMarks[3]
	want := []LinkStatus{
		{Name: "lo", Index: 1, Table: 1001, Rules: []RuleStatus{}, InSync: true},
		{Name: "em1", Index: 2, Managed: true, Table: 1002, Rules: []RuleStatus{{From: "10.0.0.2", Present: true}, {Oif: "em1", Family: "inet", Present: true}},
			Routes: 3, WantRoutes: 3, InSync: true, IngressMark: v1},
		{Name: "em2", Index: 3, Managed: true, Table: 1003, Rules: []RuleStatus{{From: "192.168.0.2", Present: false}, {Oif: "em2", Family: "inet", Present: true}},
			Routes: 3, WantRoutes: 3, InSync: false, IngressMark: v2},
	}
	if diff := cmp.Diff(want, Status(st, m, p, o)); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
	if got := IngressSummary(st, p, o); got != (IngressStatus{Enabled: true, Table: "in sync", Mask: plan.DefaultIngressMask}) {
		t.Errorf("IngressSummary = %+v", got)
	}
	st.Links[2].SrcValidMark = false
	if got := IngressSummary(st, plan.Compute(st, o), o); got.Table != "out of sync" {
		t.Errorf("IngressSummary with src_valid_mark off on em2 = %+v, want out of sync", got)
	}
}
