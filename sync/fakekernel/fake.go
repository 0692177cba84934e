package fakekernel

import (
	"errors"
	"fmt"

	"github.com/symroute/symroute/sync/plan"
)

// Kernel is a fake kernel. Its exported fields are its state; tests set
// them up and read them back directly. State.Routes holds every route,
// main's too (State.Main is not used): a snapshot packs main, as the real
// adapter's does.
type Kernel struct {
	State plan.State
	// NoRuleProtocol makes it behave like kernels before 4.17, which drop
	// a rule's protocol.
	NoRuleProtocol bool
	// Writes counts operations applied that changed something.
	Writes int
	// BeforeApply, if set, runs before each Apply (to simulate races).
	BeforeApply func(k *Kernel)
	// NoNftables makes it behave like a kernel without nftables: the
	// table cannot be read or written.
	NoNftables bool
	// Conntrack are the conntrack marks of live connections, for
	// ConntrackForget.
	Conntrack []uint32
	// FailForget makes every ConntrackForget fail.
	FailForget bool
}

var _ plan.Kernel = (*Kernel)(nil)

var errNoNftables = errors.New("fake kernel: nftables: protocol not supported")

// Snapshot returns a deep copy of the state, with the routes the real
// adapter keeps (plan.SnapshotTables), compact as it reads them.
func (k *Kernel) Snapshot(o plan.ReadOptions) (*plan.State, error) {
	st := &plan.State{
		Links: append([]plan.Link(nil), k.State.Links...),
		Addrs: append([]plan.Addr(nil), k.State.Addrs...),
		Rules: append([]plan.Rule(nil), k.State.Rules...),
		// The kernel adapter's snapshot reads the "all" settings too.
		Host: plan.HostFacts{ConfAll: k.State.Host.ConfAll},
	}
	if k.NoNftables {
		st.Ingress.Err = errNoNftables
	} else {
		st.Ingress = k.State.Ingress
		st.Ingress.Table = copyIngress(k.State.Ingress.Table)
	}
	keep, peek := plan.SnapshotTables(st.Links, st.Rules, o.TableBase)
	for _, r := range k.State.Routes {
		kept := r.Table == plan.TableMain || keep[r.Table]
		if r.Dst.Bits() == 0 && r.Type != plan.RouteThrow && (kept || peek[r.Table]) {
			if st.Host.DefaultTables == nil {
				st.Host.DefaultTables = map[uint32]bool{}
			}
			st.Host.DefaultTables[r.Table] = true
		}
		if kept {
			r.Nexthops = append([]plan.Nexthop(nil), r.Nexthops...)
			if len(r.Nexthops) == 0 {
				r.Nexthops = nil
			}
			st.Routes = append(st.Routes, r)
		}
	}
	// As the real adapter reads them: copies of main routes as Copies.
	plan.Compact(st)
	return st, nil
}

func copyIngress(t *plan.Ingress) *plan.Ingress {
	if t == nil {
		return nil
	}
	c := *t
	c.Links = append([]plan.IngressLink(nil), t.Links...)
	c.SrcValidMark = append([]int(nil), t.SrcValidMark...)
	c.Retired = append([]uint32(nil), t.Retired...)
	return &c
}

// Apply applies ops in order.
func (k *Kernel) Apply(ops []plan.Op) map[int]error {
	if k.BeforeApply != nil {
		k.BeforeApply(k)
	}
	var errs map[int]error
	undoFailed := false
	for i, op := range ops {
		var err error
		if (op.Kind == plan.IngressWrite || op.Kind == plan.IngressDelete) && undoFailed {
			err = errors.New("fake kernel: not done: a forget or reset before it failed")
		} else {
			err = k.apply(op)
			undoFailed = undoFailed || err != nil &&
				(op.Kind == plan.ConntrackForget || op.Kind == plan.SrcValidMarkSet && op.Ingress.Value == 0)
		}
		if err != nil {
			if errs == nil {
				errs = map[int]error{}
			}
			errs[i] = err
		}
	}
	return errs
}

func (k *Kernel) hasLink(idx int) bool {
	for _, l := range k.State.Links {
		if l.Index == idx {
			return true
		}
	}
	return false
}

// reaches reports whether nh's gateway is reachable as the kernel wants
// it: onlink, link-local, of another family (RTA_VIA), or inside a link
// route on nh's device in table t or, failing that, in main (the kernel
// falls back to a full lookup). A gateway route is refused before its link
// route only where main does not have it either: so does the kernel.
func (k *Kernel) reaches(fam uint8, t uint32, nh plan.Nexthop) bool {
	gw := nh.Gw
	if !gw.IsValid() || nh.Flags&plan.FlagOnlink != 0 || gw.IsLinkLocalUnicast() || gw.Is4() != (fam == plan.FamilyV4) {
		return true
	}
	for _, table := range []uint32{t, plan.TableMain} {
		for i := range k.State.Routes {
			r := &k.State.Routes[i]
			if r.Table == table && r.Link == nh.Link && !r.Gw.IsValid() && r.Nexthops == nil && r.Dst.Contains(gw) {
				return true
			}
		}
	}
	return false
}

func (k *Kernel) findRoute(key plan.RouteKey) int {
	for i := range k.State.Routes {
		if k.State.Routes[i].Key() == key {
			return i
		}
	}
	return -1
}

func (k *Kernel) apply(op plan.Op) error {
	switch op.Kind {
	case plan.RouteAdd, plan.RouteReplace:
		return k.writeRoute(op)
	case plan.RouteDel:
		i := k.findRoute(op.RouteIn(&plan.Route{}).Key())
		if i < 0 {
			return nil // ESRCH
		}
		k.State.Routes = append(k.State.Routes[:i], k.State.Routes[i+1:]...)
		k.Writes++
	case plan.RuleAdd:
		r := *op.Rule
		if k.NoRuleProtocol {
			r.Protocol = 0
		}
		for _, c := range k.State.Rules {
			if c == r {
				return nil // EEXIST
			}
		}
		k.State.Rules = append(k.State.Rules, r)
		k.Writes++
	case plan.RuleDel:
		for i := range k.State.Rules {
			if ruleDeletes(op.Rule, &k.State.Rules[i]) {
				k.State.Rules = append(k.State.Rules[:i], k.State.Rules[i+1:]...)
				k.Writes++
				return nil
			}
		}
		return nil // ENOENT
	case plan.IngressWrite:
		if k.NoNftables {
			return errNoNftables
		}
		k.State.Ingress = plan.IngressState{Table: copyIngress(op.Ingress.Table)}
		k.Writes++
	case plan.IngressDelete:
		if k.NoNftables {
			return errNoNftables
		}
		k.State.Ingress = plan.IngressState{}
		k.Writes++
	case plan.ConntrackForget:
		if k.FailForget {
			return errors.New("fake kernel: conntrack: operation not supported")
		}
		kept := k.Conntrack[:0]
		for _, m := range k.Conntrack {
			if m&op.Ingress.Mask != op.Ingress.Mark {
				kept = append(kept, m)
			}
		}
		k.Conntrack = kept
		k.Writes++
	case plan.SrcValidMarkSet:
		for i := range k.State.Links {
			if k.State.Links[i].Index == op.Ingress.Link {
				k.State.Links[i].SrcValidMark = op.Ingress.Value == 1
				k.Writes++
				return nil
			}
		}
		return nil // ENODEV
	default:
		return fmt.Errorf("fake kernel: unknown op %v", op.Kind)
	}
	return nil
}

// writeRoute adds or replaces a route, as the kernel would.
func (k *Kernel) writeRoute(op plan.Op) error {
	r := *op.RouteIn(&plan.Route{})
	for _, l := range append([]plan.Nexthop{{Link: r.Link}}, r.Nexthops...) {
		if l.Link != 0 && !k.hasLink(l.Link) {
			return nil // ENODEV: counts as done, the read-back decides
		}
	}
	hops := r.Nexthops
	if hops == nil {
		hops = []plan.Nexthop{{Link: r.Link, Gw: r.Gw, Flags: r.Flags}}
	}
	for _, nh := range hops {
		if !k.reaches(r.Family, r.Table, nh) {
			return fmt.Errorf("fake kernel: %s via %s dev %d table %d: Nexthop has invalid gateway", r.Dst, nh.Gw, nh.Link, r.Table)
		}
	}
	r.Nexthops = append([]plan.Nexthop(nil), r.Nexthops...)
	if len(r.Nexthops) == 0 {
		r.Nexthops = nil
	}
	r.Flags &^= plan.FlagHopsDropped // symroute's, never written
	if i := k.findRoute(r.Key()); i >= 0 {
		if op.Kind == plan.RouteAdd {
			return nil // EEXIST
		}
		k.State.Routes[i] = r
	} else {
		k.State.Routes = append(k.State.Routes, r)
	}
	k.Writes++
	return nil
}

// ruleDeletes reports whether a delete of d takes c, as the kernel adapter
// sends it: a rule with other selectors as the kernel listed it (all of
// it, so only its equal), any other by its fields and action.
func ruleDeletes(d, c *plan.Rule) bool {
	if d.Other {
		return *c == *d
	}
	action := d.Action
	if action == 0 {
		action = plan.RuleActionLookup
	}
	return c.Family == d.Family && c.Priority == d.Priority && c.Src == d.Src &&
		c.Table == d.Table && !c.Other && c.Action == action &&
		(d.Iif == "" || c.Iif == d.Iif) && (d.Oif == "" || c.Oif == d.Oif) && (!d.SuppressDefault || c.SuppressDefault) &&
		// The kernel matches a mark and a mask only when given.
		(d.Mark == 0 || c.Mark == d.Mark) && (d.Mask == 0 || c.Mask == d.Mask) &&
		(d.Protocol == 0 || c.Protocol == d.Protocol)
}
