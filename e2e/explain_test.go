package e2e

// --explain: the rule, table and route the kernel takes for a flow, and
// why each is there, on a real host, read-only and without root.

import (
	"encoding/json"
	"strings"
	"testing"
)

// explained runs --explain with args and returns its output, failing t
// unless it exits 0.
func explained(t *testing.T, h *ns, args ...string) string {
	t.Helper()
	r := h.symroute(append([]string{"--explain"}, args...)...)
	if r.code != 0 {
		t.Fatalf("--explain %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

func wantLines(t *testing.T, what, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("%s: no %q in:\n%s", what, l, out)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "")
	h, t1, t2 := newSeedHost(t)

	// Before a pass: main's default, by the other uplink.
	wantLines(t, "before a pass", explained(t, h, remote, "--from", "192.168.0.2"),
		"a packet to "+remote+" from 192.168.0.2:",
		"rule 32766: from all lookup main: the kernel's own",
		"table 254: the main table",
		"route default via 10.0.0.1 dev em1 table 254",
		"note: the flow leaves by em1, but 192.168.0.2 is an address of em2")

	h.pass()
	out := explained(t, h, remote, "--from", "192.168.0.2")
	wantLines(t, "after a pass", out,
		"rule 32765: from 192.168.0.2 lookup "+t2+": symroute's, for em2's address 192.168.0.2",
		"table "+t2+": symroute's mirror of em2",
		"route default via 192.168.0.1 dev em2 table "+t2+" proto 3 scope 0 metric 106: copied from main")
	if strings.Contains(out, "note:") {
		t.Errorf("a note on a symmetric path:\n%s", out)
	}
	// A socket bound to em2: its oif rule; bound to nothing: main.
	wantLines(t, "bound to em2", explained(t, h, remote, "--oif", "em2"),
		"a packet to "+remote+" sent by a socket bound to em2:",
		"rule 32765: from all oif em2 lookup "+t2+": symroute's, for sockets bound to em2",
		"route default via 192.168.0.1 dev em2 table "+t2+" proto 3 scope 0 metric 106: copied from main")
	wantLines(t, "bound to nothing", explained(t, h, remote),
		"rule 32766: from all lookup main: the kernel's own",
		"route default via 10.0.0.1 dev em1 table 254")

	// A rule of another program's, ahead of ours, with an empty table.
	h.ip("rule", "add", "priority", "100", "from", "192.168.0.0/24", "lookup", "100")
	wantLines(t, "past a foreign rule", explained(t, h, remote, "--from", "192.168.0.2"),
		"passed rule '100: from 192.168.0.0/24 lookup 100' (not symroute's (protocol unspec)): table 100 has no route for "+remote,
		"table "+t2+": symroute's mirror of em2")
	h.ip("rule", "del", "priority", "100")

	// For scripts.
	var js struct {
		Paths []struct {
			Rule     string `json:"rule"`
			Table    uint32 `json:"table"`
			RouteWhy string `json:"route_why"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(explained(t, h, remote, "--from", "10.0.0.2", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Paths) != 1 || js.Paths[0].Rule != "32765: from 10.0.0.2 lookup "+t1 || js.Paths[0].RouteWhy != "copied from main" {
		t.Errorf("--json: %+v", js)
	}

	// Bad input changes nothing and says what was wrong.
	for _, tc := range []struct {
		args  []string
		names string
	}{
		{[]string{"--explain", "no-such-host"}, `--explain "no-such-host": not an IPv4 or IPv6 address`},
		{[]string{"--explain", remote, "--iif", "em1"}, "--iif needs --from"},
		{[]string{"--explain", remote, "--from", "2001:db8::1"}, "are of different families"},
	} {
		if r := h.symroute(tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.names) {
			t.Errorf("%s: want exit 2 and %q, got %s", strings.Join(tc.args, " "), tc.names, r)
		}
	}
}

// With --follow-ingress, --iif shows both the packet's way in and its
// reply's way out: by the link it came in on, whatever the address.
func TestExplainIngress(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "nftables", "nft")
	h, t1, _ := newSeedHost(t)
	if r := h.symroute("--once", "--follow-ingress"); r.code != 0 {
		t.Fatalf("--once --follow-ingress: %s", r)
	}
	out := explained(t, h, "192.168.0.2", "--from", "172.31.1.2", "--iif", "em1", "--follow-ingress")
	wantLines(t, "a connection to em2's address in on em1", out,
		"a packet to 192.168.0.2 from 172.31.1.2 arriving on em1:",
		"table 255: the kernel's table of local and broadcast addresses",
		"the reply to 172.31.1.2 from 192.168.0.2 of a connection that came in on em1 (--follow-ingress mark 0x",
		"symroute's, --follow-ingress: replies of connections that came in on em1",
		"table "+t1+": symroute's mirror of em1",
		"route default via 10.0.0.1 dev em1 table "+t1)
	if strings.Contains(out, "note:") {
		t.Errorf("a note on a reply steered by its mark:\n%s", out)
	}
}
