package e2e

// A record that makes no sense forgets nothing (README, "Guarantees"): an
// nftables table inet symroute planted with a retired value of 0, or of
// bits outside the mask, is drift, written anew or removed, and no pass
// deletes another program's conntrack entries on its strength.

import (
	"fmt"
	"sort"
	"testing"
)

// plantedRecord is table inet symroute as symroute writes it for no link,
// under mask, with retired holding value.
func plantedRecord(mask, value string) string {
	return `table inet symroute {
	set src_valid_mark {
		type iface_index
	}
	set retired {
		type mark
		elements = { ` + value + ` }
	}
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta mark != 0x00000000 return
		ct mark and ` + mask + ` == 0x00000000 return
	}
	chain output {
		type route hook output priority mangle; policy accept;
		meta mark != 0x00000000 return
		ct mark and ` + mask + ` == 0x00000000 return
	}
}
`
}

func TestPlantedRecordForgetsNothing(t *testing.T) {
	t.Parallel()
	for _, rec := range []struct{ mask, value string }{
		{"0xff000000", "0x00000000"}, // value 0
		{"0xff000000", "0x00000080"}, // outside the mask
		// Well formed, but under another mask than the option's: its
		// bits are another program's (an AWS VPC CNI's 0x80), as the
		// review of this issue planted it.
		{"0x000000ff", "0x00000080"},
	} {
		for _, follow := range []bool{false, true} {
			rec, follow := rec, follow
			t.Run(fmt.Sprintf("mask %s retired %s, follow-ingress %v", rec.mask, rec.value, follow), func(t *testing.T) {
				t.Parallel()
				requireRootWith(t, "", "nft", "conntrack")
				h := newSeed(t, false).host
				h.pass()
				h.nft(plantedRecord(rec.mask, rec.value))
				// Another program's entries: unmarked, with a mark of its
				// own, and with bits of the planted value.
				for i, mark := range []uint32{0, 0x10, 0x80} {
					ctInsert(h, "198.51.100.7", "10.0.0.2", 40000+i, mark)
				}
				before := ctLines(h)
				if len(before) != 3 {
					t.Fatalf("conntrack -L after inserting 3 entries:\n%v", before)
				}
				args := []string{}
				if follow {
					args = append(args, "--follow-ingress")
				}
				if r := h.symroute(append([]string{"--check"}, args...)...); r.code != 3 {
					t.Errorf("--check with the planted record: want exit 3 (drift), got %s", r)
				}
				if r := h.symroute(append([]string{"--once"}, args...)...); r.code != 0 {
					t.Fatalf("a pass: want exit 0, got %s", r)
				}
				if after := ctLines(h); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Errorf("conntrack entries changed by a pass on the planted record:\nbefore %v\nafter  %v", before, after)
				}
				assertInSync(t, h, args...)
				if got := h.nftList("table", "inet", "symroute"); follow == (got == "") {
					t.Errorf("table inet symroute after the pass (follow-ingress %v):\n%s", follow, got)
				}
			})
		}
	}
}

// ctLines are n's conntrack entries as tuple and mark, sorted.
func ctLines(n *ns) []string {
	var out []string
	for _, e := range n.conntrack() {
		out = append(out, fmt.Sprintf("%s:%d>%s:%d mark=%#x", e.src, e.sport, e.dst, e.dport, e.mark))
	}
	sort.Strings(out)
	return out
}
