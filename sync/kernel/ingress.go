package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/sync/plan"
)

// symroute's nftables table for --follow-ingress (plan.Ingress). Only this
// table is ever read or written: every request names it.

var (
	nftTable = &nftables.Table{Family: nftables.TableFamilyINet, Name: plan.NftTable}
	// The chains as plan.Ingress.Nft spells them; compared on read.
	nftChains = map[plan.IngressChain]*nftables.Chain{
		plan.ChainPrerouting: {
			Name: plan.ChainPrerouting.String(), Table: nftTable, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: policyRef(nftables.ChainPolicyAccept),
		},
		plan.ChainOutput: {
			Name: plan.ChainOutput.String(), Table: nftTable, Type: nftables.ChainTypeRoute,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityMangle, Policy: policyRef(nftables.ChainPolicyAccept),
		},
		plan.ChainDNATted: {
			Name: plan.ChainDNATted.String(), Table: nftTable, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 10),
			Policy: policyRef(nftables.ChainPolicyAccept),
		},
	}
	// Host byte order, as nft(8) writes an iface_index: it lists the
	// elements by name only when told.
	nftSrcValidMark = &nftables.Set{Table: nftTable, Name: plan.NftSrcValidMark, KeyType: nftables.TypeIFIndex,
		KeyByteOrder: binaryutil.NativeEndian}
	nftRetired = &nftables.Set{Table: nftTable, Name: plan.NftRetired, KeyType: nftables.TypeMark,
		KeyByteOrder: binaryutil.NativeEndian}
)

func policyRef(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

// The table holds its three chains and two sets and nothing else.
const nftTableUse = 5

// IPS_DST_NAT, the conntrack status bit of a DNAT'd connection, as "ct
// status dnat" tests it.
const ipsDstNAT = 1 << 5

// enum ip_conntrack_dir, as "ct direction" compares it (one byte).
const (
	ctDirOriginal = 0
	ctDirReply    = 1
)

func u32le(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// compile turns a rule into expressions exactly as nft(8) compiles the text
// of IngressRule.Nft, so a table written by `--dry-run | sh` reads back as
// ours, and ours lists as that text.
func compile(r plan.IngressRule, mask uint32) []expr.Any {
	const reg = 1
	iif := func(idx int) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIF, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: u32le(uint32(idx))},
		}
	}
	ctMarkIs := func(v uint32) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(mask), Xor: u32le(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: u32le(v)},
		}
	}
	direction := func(d byte) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{d}},
		}
	}
	ctNew := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(expr.CtStateBitNEW), Xor: u32le(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: u32le(0)},
	}
	setMark := []expr.Any{
		&expr.Immediate{Register: reg, Data: u32le(r.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg, SourceRegister: true},
	}
	ret := &expr.Verdict{Kind: expr.VerdictReturn}
	var out []expr.Any
	switch r.Shape {
	case plan.SkipMarked:
		out = []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: u32le(0)},
			ret,
		}
	case plan.Remember:
		out = append(append(iif(r.Link), ctNew...),
			&expr.Fib{Register: reg, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: u32le(unix.RTN_LOCAL)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(^mask), Xor: u32le(r.Mark)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg, SourceRegister: true},
		)
	case plan.SkipForgotten:
		out = append(ctMarkIs(0), ret)
	case plan.RestoreIn:
		out = append(append(append(direction(ctDirOriginal), iif(r.Link)...), ctMarkIs(r.Mark)...), setMark...)
	case plan.RestoreReply:
		out = append(append(direction(ctDirReply), ctMarkIs(r.Mark)...), setMark...)
	case plan.RememberDNAT:
		out = append(append(append(iif(r.Link), ctNew...),
			&expr.Ct{Key: expr.CtKeySTATUS, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(ipsDstNAT), Xor: u32le(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: u32le(0)}),
			ctMarkIs(0)...)
		out = append(out,
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(^mask), Xor: u32le(r.Mark)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg, SourceRegister: true},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: u32le(^mask), Xor: u32le(r.Mark)},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg, SourceRegister: true},
		)
	}
	return out
}

// exprBytes is a rule's expressions as the kernel takes them: what two
// rules are compared by.
func exprBytes(es []expr.Any) ([]byte, error) {
	var b []byte
	for _, e := range es {
		m, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
		if err != nil {
			return nil, err
		}
		b = append(b, m...)
	}
	return b, nil
}

// decoded is es as the library reads them back from the kernel. Its
// decoding loses a little (a "ct set"'s source register), so what is
// compiled goes through it too before it is compared with what was read.
func decoded(es []expr.Any) ([]expr.Any, error) {
	const fam = byte(nftables.TableFamilyINet)
	out := make([]expr.Any, len(es))
	for i, e := range es {
		data, err := expr.MarshalExprData(fam, e)
		if err != nil {
			return nil, err
		}
		out[i] = reflect.New(reflect.TypeOf(e).Elem()).Interface().(expr.Any)
		if err := expr.Unmarshal(fam, data, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readIngress reads symroute's table: its record (each link's value from
// its Remember rule, the mask, the src_valid_mark set) and whether its
// content is exactly what that record makes.
func (h *Handle) readIngress() plan.IngressState {
	if h.nftErr != nil {
		return plan.IngressState{Err: h.nftErr}
	}
	t, err := h.nft.ListTableOfFamily(plan.NftTable, nftables.TableFamilyINet)
	switch {
	case errors.Is(err, unix.ENOENT):
		return plan.IngressState{}
	case err != nil:
		return plan.IngressState{Err: fmt.Errorf("read table %s %s: %w", plan.NftFamily, plan.NftTable, err)}
	}
	rec := &plan.Ingress{}
	st := plan.IngressState{Table: rec}
	drift := func(format string, a ...any) {
		if st.Drift == "" {
			st.Drift = fmt.Sprintf(format, a...)
		}
	}
	// The library reads NFTA_TABLE_USE, a be32, in host order.
	if use := binary.BigEndian.Uint32(binaryutil.NativeEndian.PutUint32(t.Use)); use != nftTableUse {
		drift("it holds %d chains and sets, not %d", use, nftTableUse)
	}
	if err := h.readIngressSets(rec, drift); err != nil {
		return plan.IngressState{Err: err}
	}
	rules, err := h.readIngressChains(rec, drift)
	if err != nil {
		return plan.IngressState{Err: err}
	}
	if rec.Mask == 0 {
		// Not guessed from the values: a record without its mask is
		// not sane (plan.Ingress.Insane), and forgets nothing.
		drift("no rule says which mark bits it uses")
	}
	if st.Drift == "" {
		if err := compareIngress(rec, rules, drift); err != nil {
			return plan.IngressState{Err: err}
		}
	}
	return st
}

// driftFunc notes a way the table is not symroute's; the first one noted
// is the one told.
type driftFunc func(format string, a ...any)

// readIngressSets reads the src_valid_mark and retired sets into rec.
func (h *Handle) readIngressSets(rec *plan.Ingress, drift driftFunc) error {
	sets, err := h.nft.GetSets(nftTable)
	if err != nil {
		return fmt.Errorf("read sets of %s %s: %w", plan.NftFamily, plan.NftTable, err)
	}
	for _, s := range sets {
		want, into := nftSrcValidMark, func(v uint32) { rec.SrcValidMark = append(rec.SrcValidMark, int(v)) }
		if s.Name == nftRetired.Name {
			want, into = nftRetired, func(v uint32) { rec.Retired = append(rec.Retired, v) }
		}
		if s.Name != want.Name || s.IsMap || s.KeyType.Name != want.KeyType.Name {
			drift("set %s is not symroute's", s.Name)
			continue
		}
		els, err := h.nft.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("read set %s: %w", s.Name, err)
		}
		for _, e := range els {
			if len(e.Key) != 4 {
				drift("set %s holds a key of %d bytes", s.Name, len(e.Key))
				continue
			}
			into(binaryutil.NativeEndian.Uint32(e.Key))
		}
	}
	sort.Ints(rec.SrcValidMark)
	sort.Slice(rec.Retired, func(i, j int) bool { return rec.Retired[i] < rec.Retired[j] })
	return nil
}

// readIngressChains reads the chains: the links and the mask of the
// prerouting chain's rules into rec, and every chain's rules as the
// kernel holds them, to compare with what the record makes.
func (h *Handle) readIngressChains(rec *plan.Ingress, drift driftFunc) (map[plan.IngressChain][][]byte, error) {
	rules := map[plan.IngressChain][][]byte{}
	for _, c := range plan.IngressChains {
		want := nftChains[c]
		ch, err := h.nft.ListChain(nftTable, want.Name)
		if err != nil {
			drift("chain %s: %v", want.Name, err)
			continue
		}
		if ch.Type != want.Type || ch.Hooknum == nil || *ch.Hooknum != *want.Hooknum ||
			ch.Priority == nil || *ch.Priority != *want.Priority || ch.Policy == nil || *ch.Policy != *want.Policy {
			drift("chain %s is not a base chain of type %s at priority mangle", want.Name, want.Type)
		}
		rs, err := h.nft.GetRules(nftTable, ch)
		if err != nil {
			return nil, fmt.Errorf("read chain %s: %w", want.Name, err)
		}
		for _, r := range rs {
			b, err := exprBytes(r.Exprs)
			if err != nil {
				drift("chain %s: a rule symroute cannot read: %v", want.Name, err)
				continue
			}
			rules[c] = append(rules[c], b)
			if c == plan.ChainPrerouting {
				recordRule(rec, r.Exprs)
			}
		}
	}
	sort.Slice(rec.Links, func(i, j int) bool { return rec.Links[i].Index < rec.Links[j].Index })
	return rules, nil
}

// recordRule adds what a prerouting rule tells of the record to rec: a
// Remember rule's link and mask, a SkipForgotten rule's mask.
func recordRule(rec *plan.Ingress, es []expr.Any) {
	if l, mask, ok := rememberOf(es); ok {
		rec.Links = append(rec.Links, l)
		rec.Mask |= mask
	} else if mask, ok := maskOf(es); ok {
		rec.Mask |= mask
	}
}

// compareIngress notes a drift where the rules read are not, chain by
// chain and in order, the rules that rec makes.
func compareIngress(rec *plan.Ingress, rules map[plan.IngressChain][][]byte, drift driftFunc) error {
	want := map[plan.IngressChain][][]byte{}
	for _, r := range rec.Rules() {
		es, err := decoded(compile(r, rec.Mask))
		if err != nil {
			return fmt.Errorf("compile %s: %w", r.Nft(rec.Mask), err)
		}
		b, _ := exprBytes(es)
		want[r.Chain] = append(want[r.Chain], b)
	}
	for _, c := range plan.IngressChains {
		if len(want[c]) != len(rules[c]) {
			drift("chain %s holds %d rules, not %d", c, len(rules[c]), len(want[c]))
			return nil
		}
		for i := range want[c] {
			if !bytes.Equal(want[c][i], rules[c][i]) {
				drift("rule %d of chain %s is not symroute's", i+1, c)
				return nil
			}
		}
	}
	return nil
}

// rememberOf recognises a Remember rule and returns its link, value and
// mask.
func rememberOf(es []expr.Any) (plan.IngressLink, uint32, bool) {
	if len(es) != 10 {
		return plan.IngressLink{}, 0, false
	}
	meta, ok1 := es[0].(*expr.Meta)
	cmp, ok2 := es[1].(*expr.Cmp)
	bw, ok3 := es[8].(*expr.Bitwise)
	set, ok4 := es[9].(*expr.Ct)
	if !ok1 || !ok2 || !ok3 || !ok4 || meta.Key != expr.MetaKeyIIF || len(cmp.Data) != 4 ||
		len(bw.Mask) != 4 || len(bw.Xor) != 4 || set.Key != expr.CtKeyMARK {
		return plan.IngressLink{}, 0, false
	}
	l := plan.IngressLink{Index: int(binaryutil.NativeEndian.Uint32(cmp.Data)), Mark: binaryutil.NativeEndian.Uint32(bw.Xor)}
	return l, ^binaryutil.NativeEndian.Uint32(bw.Mask), true
}

// maskOf recognises a SkipForgotten rule and returns its mask.
func maskOf(es []expr.Any) (uint32, bool) {
	if len(es) != 4 {
		return 0, false
	}
	ct, ok1 := es[0].(*expr.Ct)
	bw, ok2 := es[1].(*expr.Bitwise)
	cmp, ok3 := es[2].(*expr.Cmp)
	v, ok4 := es[3].(*expr.Verdict)
	if !ok1 || !ok2 || !ok3 || !ok4 || ct.Key != expr.CtKeyMARK || ct.SourceRegister || len(bw.Mask) != 4 ||
		cmp.Op != expr.CmpOpEq || !bytes.Equal(cmp.Data, u32le(0)) || v.Kind != expr.VerdictReturn {
		return 0, false
	}
	return binaryutil.NativeEndian.Uint32(bw.Mask), true
}

// writeIngress makes the table t in one transaction: whatever was there
// goes, and the whole table is made anew.
func (h *Handle) writeIngress(t *plan.Ingress) error {
	if h.nftErr != nil {
		return h.nftErr
	}
	c := h.nft
	// Adding first makes the delete succeed whether or not the table is
	// there; nothing of this batch is seen until all of it holds.
	c.AddTable(nftTable)
	c.DelTable(nftTable)
	c.AddTable(nftTable)
	var svm, retired []nftables.SetElement
	for _, idx := range t.SrcValidMark {
		svm = append(svm, nftables.SetElement{Key: u32le(uint32(idx))})
	}
	for _, v := range t.Retired {
		retired = append(retired, nftables.SetElement{Key: u32le(v)})
	}
	for _, set := range []struct {
		s   *nftables.Set
		els []nftables.SetElement
	}{{nftSrcValidMark, svm}, {nftRetired, retired}} {
		cp := *set.s
		if err := c.AddSet(&cp, set.els); err != nil {
			return fmt.Errorf("set %s: %w", cp.Name, err)
		}
	}
	chains := map[plan.IngressChain]*nftables.Chain{}
	for _, ch := range plan.IngressChains {
		cp := *nftChains[ch]
		chains[ch] = c.AddChain(&cp)
	}
	for _, r := range t.Rules() {
		c.AddRule(&nftables.Rule{Table: nftTable, Chain: chains[r.Chain], Exprs: compile(r, t.Mask)})
	}
	return c.Flush()
}

// deleteIngress removes the table.
func (h *Handle) deleteIngress() error {
	if h.nftErr != nil {
		return h.nftErr
	}
	h.nft.DelTable(nftTable)
	err := h.nft.Flush()
	if errors.Is(err, unix.ENOENT) {
		return nil // gone already
	}
	return err
}
