package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzDecide feeds every source arguments and an environment of any bytes.
// Whatever comes in: no panic; malformed input never passes nor touches a
// lease record; the log description holds no control character; and
// applying the decision writes nothing but the named interface's record,
// inside its directory.
func FuzzDecide(f *testing.F) {
	for _, s := range []struct {
		source    int
		args, env string
	}{
		{0, "em1\x00up", ""},
		{0, "em1\x00hostname", ""},
		{1, "", "IFACE=em1\x00STATE=routable"},
		{2, "BOUND\x00em1", "reason=BOUND\x00interface=em1\x00new_routers=10.0.0.1\x00new_expiry=2000000000"},
		{2, "", "reason=BOUND\x00interface=em1\x00new_rfc3442_classless_static_routes=0 10 0 0 1\x00new_expiry=2000000000"},
		{2, "", "reason=RELEASE\x00interface=../../etc"},
		{3, "", "reason=BOUND\x00interface=$(reboot)"},
		{4, "", "IFACE=em1\x00MODE=start\x00PHASE=post-up"},
		{5, "x", ""},
		{2, "", "reason=BOUND\x00reason=EXPIRE\x00interface=em1"},
		{0, "em2\x00up", "DHCP4_IP_ADDRESS=192.168.0.123\x00DHCP4_ROUTERS=192.168.0.253\x00DHCP4_EXPIRY=1800000120\x00" +
			"DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES=0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7"},
		{0, "em2\x00dhcp4-change", "DHCP4_IP_ADDRESS=192.168.0.123\x00DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES=0 192 168 0 1\x00DHCP4_EXPIRY=1"},
		{0, "em2\x00down", "DHCP4_ROUTERS=$(reboot)"},
		{3, "BOUND\x00em2", "new_ip_address=192.168.0.124\x00new_routers=192.168.0.253\x00new_dhcp_lease_time=120\x00" +
			"new_classless_static_routes=0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7"},
		{3, "", "reason=RENEW\x00interface=em2\x00new_ip_address=192.168.0.124\x00new_routers=192.168.0.1\x00new_dhcp_lease_time=4294967295"},
		{3, "NOCARRIER\x00em2", "new_classless_static_routes=0.0.0.0/0"},
	} {
		f.Add(s.source, s.args, s.env)
	}
	sources := []string{SourceNM, SourceNetworkd, SourceDhclient, SourceDhcpcd, SourceIfupdown, SourceTimer, "bogus"}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, source int, args, env string) {
		src := sources[((source%len(sources))+len(sources))%len(sources)]
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\x00")
		}
		tr := Decide(src, split(args), split(env), now)
		if tr.Malformed != "" && (tr.Pass || tr.LeaseChange != LeaseKeep) {
			t.Fatalf("malformed input (%s) passes or changes a lease: %+v", tr.Malformed, tr)
		}
		for _, r := range tr.String() {
			if !unicode.IsPrint(r) {
				t.Fatalf("log description %q holds %U", tr.String(), r)
			}
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "leases")
		if err := tr.ApplyLease(dir); err != nil {
			return
		}
		ents, _ := os.ReadDir(parent)
		if len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "leases" {
			t.Fatalf("ApplyLease wrote outside its directory: %v", ents)
		}
		recs, _ := os.ReadDir(dir)
		for _, e := range recs {
			if e.Name() != tr.Iface {
				t.Fatalf("ApplyLease of %q wrote %q", tr.Iface, e.Name())
			}
		}
	})
}
