package pass

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/sync/fakekernel"
	"github.com/symroute/symroute/sync/plan"
)

// The --follow-ingress property: whatever an earlier pass left (a record
// naming links that are gone, values out of the mask, src_valid_mark on or
// off, conntrack entries of any value), one pass leaves every link with a
// table steered by a value of its own, keeps the value of every link that
// keeps being steered, never hands out a value it retired, forgets the
// conntrack entries of retired values only, turns src_valid_mark on for
// steered links and off only where symroute turned it on; with the option
// off, all of it is gone. A second pass writes nothing.

// priorIngress is what an earlier pass may have left, at random.
func priorIngress(rng *rand.Rand, st *plan.State) (conntrack []uint32) {
	for i := range st.Links {
		st.Links[i].SrcValidMark = rng.Intn(3) == 0
	}
	if rng.Intn(4) == 0 {
		return nil // no table
	}
	t := &plan.Ingress{Mask: plan.DefaultIngressMask}
	if rng.Intn(8) == 0 {
		t.Mask = 0x00f00000 // an earlier --ingress-mark-mask
	}
	used := map[uint32]bool{}
	for _, idx := range []int{2, 3, 4, 5, 6, 40, 41} { // 40, 41: gone
		if rng.Intn(2) == 0 {
			continue
		}
		n := uint32(1 + rng.Intn(6))
		v := plan.MarkValue(t.Mask, n)
		if used[v] {
			continue
		}
		used[v] = true
		t.Links = append(t.Links, plan.IngressLink{Index: idx, Mark: v})
		if rng.Intn(2) == 0 {
			t.SrcValidMark = append(t.SrcValidMark, idx)
		}
		for j := 0; j < rng.Intn(3); j++ {
			conntrack = append(conntrack, v|uint32(rng.Intn(16)))
		}
	}
	// Values an earlier pass retired and could not forget yet.
	for n := uint32(7); n < 9; n++ {
		if v := plan.MarkValue(t.Mask, n); rng.Intn(3) == 0 && !used[v] {
			used[v] = true
			t.Retired = append(t.Retired, v)
			conntrack = append(conntrack, v)
		}
	}
	st.Ingress = plan.IngressState{Table: t}
	// Connections nobody marked, and others' bits.
	conntrack = append(conntrack, 0, 0x10, 0x4000)
	return conntrack
}

func TestPassIngressProperty(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		w := randomWorld(rng)
		ct := priorIngress(rng, &w.st)
		o := testOptions(t, w.names)
		o.Plan.FollowIngress = rng.Intn(4) > 0
		want := oracle(w, o.Plan)
		before := w.st
		k := &fakekernel.Kernel{State: shuffled(rng, w.st), Conntrack: append([]uint32(nil), ct...)}
		k.State.Ingress = w.st.Ingress
		if _, err := Once(k, o); err != nil && !errors.Is(err, ErrPartial) {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if err := checkIngress(before, ct, k, o.Plan, want); err != nil {
			t.Fatalf("seed %d (follow-ingress %v): %v", seed, o.Plan.FollowIngress, err)
		}
		// Beside the fwmark rules, the address and oif rules are the
		// oracle's, the option on or off.
		rn := plan.NewRenderer(&k.State)
		var rules []string
		for i := range k.State.Rules {
			if r := &k.State.Rules[i]; r.Protocol == plan.Protocol && !r.HasMark() {
				rules = append(rules, rn.Render(plan.Op{Kind: plan.RuleAdd, Rule: r}))
			}
		}
		sort.Strings(rules)
		if diff := cmp.Diff(want.rules, rules); diff != "" {
			t.Fatalf("seed %d (follow-ingress %v): address and oif rules (-want +got):\n%s", seed, o.Plan.FollowIngress, diff)
		}
		writes := k.Writes
		if _, err := Once(k, o); err != nil && !errors.Is(err, ErrPartial) {
			t.Fatal(err)
		}
		if k.Writes != writes {
			t.Fatalf("seed %d: second pass wrote %d times", seed, k.Writes-writes)
		}
	}
}

func checkIngress(before plan.State, ct []uint32, k *fakekernel.Kernel, o plan.Options, want oracleResult) error {
	prior := before.Ingress.Table
	priorSVM := map[int]bool{}
	for _, l := range before.Links {
		priorSVM[l.Index] = l.SrcValidMark
	}
	recorded := map[int]bool{}
	priorValue := map[int]uint32{}
	priorValues := map[uint32]bool{}
	if prior != nil {
		for _, idx := range prior.SrcValidMark {
			recorded[idx] = true
		}
		for _, l := range prior.Links {
			priorValue[l.Index] = l.Mark
			priorValues[l.Mark] = true
		}
		for _, v := range prior.Retired {
			priorValues[v] = true
		}
	}
	svm := map[int]bool{}
	for _, l := range k.State.Links {
		svm[l.Index] = l.SrcValidMark
	}
	var marks []string
	for _, r := range k.State.Rules {
		if r.Protocol == plan.Protocol && r.HasMark() {
			marks = append(marks, fmt.Sprintf("%d prio %d fwmark %#x/%#x iif %q table %d suppress %v", r.Family, r.Priority, r.Mark, r.Mask,
				r.Iif, r.Table, r.SuppressDefault))
		}
	}
	sort.Strings(marks)
	t := k.State.Ingress.Table

	kept := map[uint32]bool{}
	if !o.FollowIngress {
		if t != nil || len(marks) > 0 {
			return fmt.Errorf("option off, but table %+v and fwmark rules %q left", t, marks)
		}
		for idx, on := range svm {
			if want := priorSVM[idx] && !recorded[idx]; on != want {
				return fmt.Errorf("option off: src_valid_mark of link %d is %v, want %v", idx, on, want)
			}
		}
	} else {
		if t == nil || t.Mask != o.IngressMask {
			return fmt.Errorf("table %+v, want one with mask %#x", t, o.IngressMask)
		}
		var steered []int
		for idx := range want.fams {
			steered = append(steered, idx)
		}
		sort.Ints(steered)
		var got []int
		value := map[int]uint32{}
		seen := map[uint32]bool{}
		for _, l := range t.Links {
			got = append(got, l.Index)
			value[l.Index] = l.Mark
			if l.Mark == 0 || l.Mark&^o.IngressMask != 0 || seen[l.Mark] {
				return fmt.Errorf("link %d has value %#x: zero, out of the mask or not its own", l.Index, l.Mark)
			}
			seen[l.Mark] = true
			if pv, ok := priorValue[l.Index]; ok && prior.Mask == o.IngressMask && pv != l.Mark {
				return fmt.Errorf("link %d changed value from %#x to %#x", l.Index, pv, l.Mark)
			}
			if priorValue[l.Index] != l.Mark && priorValues[l.Mark] {
				return fmt.Errorf("link %d got %#x, a value retired in the same pass", l.Index, l.Mark)
			}
			kept[l.Mark] = priorValue[l.Index] == l.Mark
		}
		if diff := cmp.Diff(steered, got); diff != "" {
			return fmt.Errorf("steered links (-want +got):\n%s", diff)
		}
		if len(t.Retired) > 0 {
			return fmt.Errorf("values %#x still retired after a pass whose forgets all worked", t.Retired)
		}
		names := map[int]string{}
		for _, l := range k.State.Links {
			names[l.Index] = l.Name
		}
		var wantMarks []string
		for idx, fams := range want.fams {
			for _, f := range fams {
				wantMarks = append(wantMarks,
					// What the link's value marks as it comes in and is
					// forwarded takes main's routes but a default first.
					fmt.Sprintf("%d prio %d fwmark %#x/%#x iif %q table 254 suppress true", f, o.Priority-2, value[idx], o.IngressMask, names[idx]),
					fmt.Sprintf("%d prio %d fwmark %#x/%#x iif \"\" table %d suppress false", f, o.Priority-1, value[idx], o.IngressMask, o.TableOf(idx)))
			}
		}
		sort.Strings(wantMarks)
		if diff := cmp.Diff(wantMarks, marks); diff != "" {
			return fmt.Errorf("fwmark rules (-want +got):\n%s", diff)
		}
		nowRecorded := map[int]bool{}
		for _, idx := range t.SrcValidMark {
			nowRecorded[idx] = true
			if value[idx] == 0 {
				return fmt.Errorf("src_valid_mark recorded for link %d, which is not steered", idx)
			}
		}
		for idx, on := range svm {
			switch {
			case value[idx] != 0 && !on:
				return fmt.Errorf("steered link %d has src_valid_mark off", idx)
			case value[idx] != 0 && priorSVM[idx] && !recorded[idx] && nowRecorded[idx]:
				return fmt.Errorf("link %d's src_valid_mark was on before symroute, yet it is recorded as symroute's", idx)
			case value[idx] == 0 && on != (priorSVM[idx] && !recorded[idx]):
				return fmt.Errorf("link %d, not steered: src_valid_mark %v", idx, on)
			}
		}
	}
	// Conntrack: the entries of retired values are gone, the others stay;
	// nothing is forgotten by a record of another mask, or one that makes
	// no sense.
	trusted := prior != nil && prior.Mask == o.IngressMask && prior.Insane() == ""
	var wantCT []uint32
	for _, m := range ct {
		retired := false
		for v := range priorValues {
			retired = retired || (trusted && !kept[v] && m&(prior.Mask|v) == v)
		}
		if !retired {
			wantCT = append(wantCT, m)
		}
	}
	if diff := cmp.Diff(wantCT, k.Conntrack, cmp.Comparer(func(a, b []uint32) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
		return fmt.Errorf("conntrack marks (-want +got):\n%s", diff)
	}
	return nil
}

// A forget that fails leaves the value in the table's retired set, so it is
// never handed out while connections carry it; the rest of the pass is done
// and the pass fails.
func TestPassIngressForgetFails(t *testing.T) {
	st := fakekernel.SeedHost()
	st.Ingress.Table = &plan.Ingress{Mask: plan.DefaultIngressMask, Links: []plan.IngressLink{{Index: 9, Mark: 0x01000000}}}
	k := &fakekernel.Kernel{State: st, FailForget: true, Conntrack: []uint32{0x01000000}}
	o := testOptions(t, nil)
	o.Plan.FollowIngress = true
	_, err := Once(k, o)
	if err == nil {
		t.Fatal("pass succeeded with every conntrack forget failing")
	}
	// The value stays recorded as retired, and no link has it.
	got := k.State.Ingress.Table
	if got == nil || len(got.Retired) != 1 || got.Retired[0] != 0x01000000 {
		t.Fatalf("table %+v: want 0x01000000 kept as retired", got)
	}
	for _, l := range got.Links {
		if l.Mark == 0x01000000 {
			t.Errorf("link %d was handed 0x01000000, whose entries could not be forgotten", l.Index)
		}
	}
	if len(k.Conntrack) != 1 {
		t.Errorf("conntrack: %v", k.Conntrack)
	}
	rules, oifs := 0, 0
	for _, r := range k.State.Rules {
		switch {
		case r.Protocol != plan.Protocol || r.HasMark():
		case r.Oif != "":
			oifs++
		default:
			rules++
		}
	}
	if rules != 2 || oifs != 2 {
		t.Errorf("the rest of the pass was not applied: %d per-address rules, %d oif rules", rules, oifs)
	}
}

// Without nftables the option is refused, the rest is done, and the pass
// ends partial.
func TestPassIngressWithoutNftables(t *testing.T) {
	k := &fakekernel.Kernel{State: fakekernel.SeedHost(), NoNftables: true}
	o := testOptions(t, nil)
	o.Plan.FollowIngress = true
	res, err := Once(k, o)
	if !errors.Is(err, ErrPartial) || res.IngressErr == "" || err.Error() != "pass partial: follow-ingress not enabled" {
		t.Fatalf("Once() = %v, ingress error %q; want partial with the reason", err, res.IngressErr)
	}
	for _, r := range k.State.Rules {
		if r.HasMark() {
			t.Errorf("fwmark rule written without nftables: %+v", r)
		}
	}
	// The kernel's two, and em1's and em2's address and oif rules.
	if len(k.State.Rules) != 6 {
		t.Errorf("per-address and oif rules not written: %+v", k.State.Rules)
	}
}
