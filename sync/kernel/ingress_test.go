package kernel_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/plan"
)

// --follow-ingress's kernel side: symroute's nftables table read back as
// written (by symroute, or by nft(8) from --dry-run's text), edits seen as
// drift, src_valid_mark over rtnetlink, conntrack entries forgotten by mark.

var cmpEmpty = cmpopts.EquateEmpty()

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func (e *env) snapshotIngress(t *testing.T) *plan.State {
	t.Helper()
	st, err := e.h.Snapshot(plan.ReadOptions{TableBase: base})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if st.Ingress.Err != nil {
		t.Fatalf("nftables not readable: %v", st.Ingress.Err)
	}
	return st
}

func (e *env) table() *plan.Ingress {
	return &plan.Ingress{Mask: plan.DefaultIngressMask,
		Links:        []plan.IngressLink{{Index: e.idx["a0"], Mark: 0x01000000}, {Index: e.idx["b0"], Mark: 0x02000000}},
		SrcValidMark: []int{e.idx["b0"]}, Retired: []uint32{0x05000000}}
}

func TestIngressRoundTrip(t *testing.T) {
	e := setup(t)
	if st := e.snapshotIngress(t); st.Ingress.Table != nil {
		t.Fatalf("a fresh namespace has symroute's table: %+v", st.Ingress.Table)
	}
	want := e.table()
	e.apply(t, plan.Op{Kind: plan.IngressWrite, Ingress: &plan.IngressOp{Table: want}})
	st := e.snapshotIngress(t)
	if diff := cmp.Diff(want, st.Ingress.Table); diff != "" || st.Ingress.Drift != "" {
		t.Fatalf("table read back (-want +got):\n%s\ndrift: %q", diff, st.Ingress.Drift)
	}
	// Written again over itself, and with a link less: one transaction
	// each, read back exactly.
	want.Links = want.Links[1:]
	want.SrcValidMark, want.Retired = nil, nil
	e.apply(t, plan.Op{Kind: plan.IngressWrite, Ingress: &plan.IngressOp{Table: want}})
	st = e.snapshotIngress(t)
	if diff := cmp.Diff(want, st.Ingress.Table, cmpEmpty); diff != "" || st.Ingress.Drift != "" {
		t.Fatalf("table rewritten (-want +got):\n%s\ndrift: %q", diff, st.Ingress.Drift)
	}
	// Deleting twice is done.
	e.apply(t, plan.Op{Kind: plan.IngressDelete, Ingress: &plan.IngressOp{}}, plan.Op{Kind: plan.IngressDelete, Ingress: &plan.IngressOp{}})
	if st := e.snapshotIngress(t); st.Ingress.Table != nil {
		t.Fatalf("table left after delete: %+v", st.Ingress.Table)
	}
}

// What --dry-run prints, run by nft(8), is read back as symroute's own
// table: `--dry-run | sh` brings a host in sync. And each hand edit is seen.
func TestIngressNftText(t *testing.T) {
	testns.RequirePrograms(t, "nftables", "nft")
	e := setup(t)
	want := e.table()
	rn := plan.Renderer{LinkName: func(i int) string { return map[int]string{e.idx["a0"]: "a0", e.idx["b0"]: "b0"}[i] }}
	script := rn.Render(plan.Op{Kind: plan.IngressWrite, Ingress: &plan.IngressOp{Table: want}})
	cmd := testns.Command(e.ns, "sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	st := e.snapshotIngress(t)
	if diff := cmp.Diff(want, st.Ingress.Table); diff != "" || st.Ingress.Drift != "" {
		t.Fatalf("table written by nft(8) (-want +got):\n%s\ndrift: %q", diff, st.Ingress.Drift)
	}
	for _, edit := range []string{
		"add rule inet symroute prerouting counter",
		"insert rule inet symroute output meta mark 0x5 return",
		"add chain inet symroute extra",
		"add set inet symroute extra { type ipv4_addr; }",
		"delete chain inet symroute output",
		"add element inet symroute src_valid_mark { 1 }",
		"add element inet symroute retired { 0x9 }",
		"delete set inet symroute retired",
	} {
		t.Run(edit, func(t *testing.T) {
			e.apply(t, plan.Op{Kind: plan.IngressWrite, Ingress: &plan.IngressOp{Table: want}})
			if st := e.snapshotIngress(t); st.Ingress.Drift != "" {
				t.Fatalf("drift before the edit: %s", st.Ingress.Drift)
			}
			c := testns.Command(e.ns, "nft", "-f", "-")
			c.Stdin = strings.NewReader(edit + "\n")
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("nft %s: %v\n%s", edit, err, out)
			}
			st := e.snapshotIngress(t)
			if st.Ingress.Drift == "" && cmp.Equal(want, st.Ingress.Table) {
				t.Fatalf("nft %s: not seen (table %+v)", edit, st.Ingress.Table)
			}
		})
	}
}

// Another table of the same name in another family, or another program's
// inet table, is not symroute's.
func TestIngressOnlyOurTable(t *testing.T) {
	testns.RequirePrograms(t, "nftables", "nft")
	e := setup(t)
	for _, tbl := range []string{"ip symroute", "inet other"} {
		testns.Run(t, e.ns, "nft", "add", "table", strings.Fields(tbl)[0], strings.Fields(tbl)[1])
	}
	if st := e.snapshotIngress(t); st.Ingress.Table != nil {
		t.Fatalf("someone else's table read as symroute's: %+v", st.Ingress.Table)
	}
	e.apply(t, plan.Op{Kind: plan.IngressWrite, Ingress: &plan.IngressOp{Table: e.table()}},
		plan.Op{Kind: plan.IngressDelete, Ingress: &plan.IngressOp{}})
	got := testns.Run(t, e.ns, "nft", "list", "tables")
	if want := "table ip symroute\ntable inet other\n"; got != want {
		t.Errorf("nft list tables after a write and a delete of ours:\n%s\nwant:\n%s", got, want)
	}
}

func TestSrcValidMark(t *testing.T) {
	e := setup(t)
	read := func() map[string]bool {
		st := e.snapshotIngress(t)
		got := map[string]bool{}
		for _, l := range st.Links {
			got[l.Name] = l.SrcValidMark
		}
		return got
	}
	sysctl := func(link string) string {
		return strings.TrimSpace(testns.Run(t, e.ns, "cat", "/proc/sys/net/ipv4/conf/"+link+"/src_valid_mark"))
	}
	if got := read(); got["a0"] || got["b0"] {
		t.Fatalf("src_valid_mark on in a fresh namespace: %v", got)
	}
	e.apply(t, plan.Op{Kind: plan.SrcValidMarkSet, Ingress: &plan.IngressOp{Link: e.idx["a0"], Value: 1}})
	if got := read(); !got["a0"] || got["b0"] {
		t.Fatalf("after setting a0's: %v", got)
	}
	if s := sysctl("a0"); s != "1" {
		t.Fatalf("/proc/sys says a0's src_valid_mark is %s", s)
	}
	e.apply(t, plan.Op{Kind: plan.SrcValidMarkSet, Ingress: &plan.IngressOp{Link: e.idx["a0"], Value: 0}})
	if got := read(); got["a0"] || sysctl("a0") != "0" {
		t.Fatalf("after resetting a0's: %v, /proc/sys %s", got, sysctl("a0"))
	}
	// Set by someone else, read as on.
	testns.Run(t, e.ns, "sysctl", "-qw", "net.ipv4.conf.b0.src_valid_mark=1")
	if got := read(); !got["b0"] {
		t.Fatalf("b0's set by sysctl not read: %v", got)
	}
}

func TestConntrackForget(t *testing.T) {
	testns.RequirePrograms(t, "conntrack", "conntrack")
	e := setup(t)
	// Entries as a pass would find them: ours of two values (one with
	// another program's bit beside), someone else's, and unmarked.
	marks := map[string]string{"1001": "0x01000010", "1002": "0x01000000", "1003": "0x02000000", "1004": "0x10", "1005": "0"}
	for sport, m := range marks {
		testns.Run(t, e.ns, "conntrack", "-I", "-s", "10.1.0.9", "-d", "10.1.0.2", "-p", "tcp", "--sport", sport, "--dport", "80",
			"--state", "ESTABLISHED", "-u", "ASSURED", "-t", "120", "-m", m)
	}
	e.apply(t, plan.Op{Kind: plan.ConntrackForget, Ingress: &plan.IngressOp{Mark: 0x01000000, Mask: 0xff000000}})
	out := testns.Run(t, e.ns, "conntrack", "-L", "-p", "tcp")
	var left []string
	for sport := range marks {
		if strings.Contains(out, "sport="+sport+" ") {
			left = append(left, sport)
		}
	}
	if diff := cmp.Diff([]string{"1003", "1004", "1005"}, sorted(left)); diff != "" {
		t.Fatalf("entries left (-want +got):\n%s\nconntrack -L:\n%s", diff, out)
	}
}
