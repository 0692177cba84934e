package e2e

// Warnings about hosts that defeat symmetric routing: each condition made
// in a namespace is warned of by --status, --check and a pass's log, and
// the warning goes when the condition does. Warnings change no exit status.

import (
	"encoding/json"
	"strings"
	"testing"
)

// warned reports whether a pass (stderr, once), then --status (stdout)
// and --check (stderr) all give the warning that contains want, and fails
// t if only some do or if one exits other than 0.
func warned(t *testing.T, h *ns, id, want string) bool {
	t.Helper()
	pass := h.symroute("--once") // first: making a condition may change what is mirrored
	status := h.symroute("--status")
	check := h.symroute("--check")
	for _, r := range []result{pass, status, check} {
		if r.code != 0 {
			t.Fatalf("want exit 0 (a warning changes no exit status), got %s", r)
		}
	}
	in := []bool{strings.Contains(status.stdout, "warning: "+want), strings.Contains(check.stderr, want), strings.Count(pass.stderr, want) == 1,
		jsonWarned(t, h, id, want)}
	for _, x := range in[1:] {
		if x != in[0] {
			t.Fatalf("warning %s %q in --status %v, --check %v, once in the pass's log %v, --status --json %v:\n%s\n%s\n%s",
				id, want, in[0], in[1], in[2], in[3], status, check, pass)
		}
	}
	return in[0]
}

// jsonWarned reports whether --status --json lists a warning of ID id
// whose text and fix, as the log joins them, contain want.
func jsonWarned(t *testing.T, h *ns, id, want string) bool {
	t.Helper()
	r := h.symroute("--status", "--json")
	var out struct {
		Warnings []struct{ ID, Link, Text, Fix string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil {
		t.Fatalf("--status --json: %v, %s", err, r)
	}
	for _, w := range out.Warnings {
		if w.ID == id && strings.Contains(w.Text+"; "+w.Fix, want) {
			return true
		}
	}
	return false
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	for _, tc := range []struct {
		name       string
		make, undo func(h *ns)
		id, want   string
	}{
		{
			name: "ARP flux", id: "arp-flux",
			make: func(h *ns) {
				h.sysctl("net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.all.arp_filter=0")
				h.ip("addr", "add", "10.0.0.3/16", "dev", "em2")
			},
			undo: func(h *ns) { h.sysctl("net.ipv4.conf.all.arp_ignore=1") },
			want: "links em1 and em2 are both in 10.0.0.0/16 and ARP flux is not stopped on em1 and em2",
		},
		{
			name: "strict rp_filter", id: "strict-rp-filter",
			make: func(h *ns) { h.sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.em2.rp_filter=1") },
			undo: func(h *ns) { h.sysctl("net.ipv4.conf.em2.rp_filter=2") },
			want: "link em2 has strict rp_filter (1)",
		},
		{
			name: "a rule ahead of ours", id: "rule-ahead",
			make: func(h *ns) { h.ip("rule", "add", "priority", "100", "from", "192.168.0.0/24", "lookup", "main") },
			undo: func(h *ns) { h.ip("rule", "del", "priority", "100") },
			want: `rule '100: from 192.168.0.0/24 lookup main' is not symroute's and comes before its rules (priority 32765): traffic from 192.168.0.2 never reaches them`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _, _ := newSeedHost(t)
			h.pass()
			if warned(t, h, tc.id, tc.want) {
				t.Fatalf("warned before the condition was made")
			}
			tc.make(h)
			if !warned(t, h, tc.id, tc.want) {
				t.Fatalf("no warning %q", tc.want)
			}
			tc.undo(h)
			if warned(t, h, tc.id, tc.want) {
				t.Fatalf("still warned after the condition was undone")
			}
		})
	}
}
