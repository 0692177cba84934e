package lease

import (
	"strings"
	"testing"
)

// Every client's rendering of option 121 gives the same default, and
// malformed ones are refused as a whole.
func TestClasslessDefault(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "" for no router
		err      string
	}{
		{"dhclient bytes", "24 192 168 10 10 0 0 9 0 10 0 0 254 32 1 2 3 4 10 0 0 7", "10.0.0.254", ""},
		{"dhcpcd and NetworkManager pairs", "10.9.0.0/16 192.168.0.7 0.0.0.0/0 192.168.0.1", "192.168.0.1", ""},
		{"networkd words", "0.0.0.0/0,192.168.0.1 10.9.0.0/16,192.168.0.7", "192.168.0.1", ""},
		{"pairs, first default wins", "0.0.0.0/0 192.168.0.1 0.0.0.0/0 192.168.0.2", "192.168.0.1", ""},
		{"pairs without default", "10.9.0.0/16 192.168.0.7", "", ""},
		{"pairs, default on the link", "0.0.0.0/0 0.0.0.0", "", ""},
		{"networkd, default on the link", "0.0.0.0/0,0.0.0.0", "", ""},
		{"bytes, default on the link", "0 0 0 0 0", "", ""},
		{"empty", "", "", ""},
		{"pairs, odd count", "0.0.0.0/0 192.168.0.1 10.9.0.0/16", "", "not a list of destination and router pairs"},
		{"pairs, IPv6 destination", "::/0 192.168.0.1", "", `"::/0" is not an IPv4 destination`},
		{"pairs, bad router", "0.0.0.0/0 $(reboot)", "", `"$(reboot)" is not an IPv4 address`},
		{"pairs, multicast router", "0.0.0.0/0 224.0.0.1", "", "224.0.0.1 is not a unicast address"},
		{"pairs, a bad route after the default", "0.0.0.0/0 192.168.0.1 x/1 1.2.3.4", "", `"x/1" is not an IPv4 destination`},
		{"networkd, no router", "0.0.0.0/0,", "", `"" is not an IPv4 address`},
		{"networkd, broadcast router", "0.0.0.0/0,255.255.255.255", "", "255.255.255.255 is not a unicast address"},
		{"bytes truncated", "24 192 168 10 10 0", "", "truncated"},
		{"bytes, width over 32", "33 1 1 1 1 1 10 0 0 1", "", "prefix length over 32"},
		{"bytes, not bytes", "0 10 0 0 256", "", "not a list of bytes"},
		{"too long", strings.Repeat("0 10 0 0 1 ", 1000), "", "too long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			gw, ok, err := ClasslessDefault(in)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("ClasslessDefault(%q) = %v, %v, %v; want error %q", in, gw, ok, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClasslessDefault(%q): %v", in, err)
			}
			got := ""
			if ok {
				got = gw.String()
			}
			if got != c.want {
				t.Errorf("ClasslessDefault(%q) = %q, want %q", in, got, c.want)
			}
		})
	}
}

func TestFirstRouter(t *testing.T) {
	if r, ok, err := FirstRouter("192.168.0.1 192.168.0.2"); err != nil || !ok || r.String() != "192.168.0.1" {
		t.Errorf("FirstRouter = %v, %v, %v", r, ok, err)
	}
	if _, ok, err := FirstRouter(" "); err != nil || ok {
		t.Errorf("FirstRouter of nothing = %v, %v", ok, err)
	}
	if _, _, err := FirstRouter("192.168.0.1 010.0.0.1"); err == nil || err.Error() != `"010.0.0.1" is not an IPv4 address` {
		t.Errorf("FirstRouter with a bad second router: %v", err)
	}
}
