package hooks

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/symroute/symroute/lease"
)

var now = time.Unix(1_800_000_000, 0)

// expiry is new_expiry for a lease ending d from now.
func expiry(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }

// want is the part of a Trigger a case checks.
type want struct {
	Iface, Action string
	Pass          bool
	Malformed     string
	Lease         LeaseChange
	Router        string
	Expiry        time.Time
	Addr, Stack   string
}

func got(t Trigger) want {
	w := want{Iface: t.Iface, Action: t.Action, Pass: t.Pass, Malformed: t.Malformed, Lease: t.LeaseChange}
	if t.LeaseChange == LeaseRecord {
		w.Router, w.Expiry, w.Stack = t.Lease.Router.String(), t.Lease.Expiry, t.Lease.Stack
		if t.Lease.Addr.IsValid() {
			w.Addr = t.Lease.Addr.String()
		}
	}
	return w
}

type tcase struct {
	name   string
	source string
	args   []string
	env    []string
	want   want
}

func run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.source+"/"+c.name, func(t *testing.T) {
			tr := Decide(c.source, c.args, c.env, now)
			if diff := cmp.Diff(c.want, got(tr), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("Decide(%q, %q, %q) (-want +got):\n%s\nmalformed: %s", c.source, c.args, c.env, diff, tr.Malformed)
			}
			if tr.Malformed != "" && tr.Pass {
				t.Errorf("malformed trigger passes")
			}
			if tr.Malformed != "" && tr.LeaseChange != LeaseKeep {
				t.Errorf("malformed trigger changes the lease record")
			}
			// The description goes to every log line of the pass: it
			// must never carry a refused value.
			if s := tr.String(); strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 || len(s) > 64 {
				t.Errorf("String() = %q: carries unvalidated input", s)
			}
		})
	}
}

func TestNM(t *testing.T) {
	// Without DHCPv4 options in the environment, up and reapply say the
	// device has no lease, and down that it has none any more.
	drops := set("up", "down", "reapply")
	up := func(a string) want {
		w := want{Iface: "em1", Action: a, Pass: true}
		if drops[a] {
			w.Lease = LeaseDrop
		}
		return w
	}
	no := func(a string) want { return want{Action: a} }
	var cases []tcase
	for _, a := range []string{"up", "down", "dhcp4-change", "dhcp6-change", "reapply", "vpn-up", "vpn-down"} {
		cases = append(cases, tcase{a, "nm", []string{"em1", a}, nil, up(a)})
	}
	for _, a := range []string{"hostname", "dns-change", "connectivity-change", "pre-up", "pre-down", "vpn-pre-up", "vpn-pre-down", "frobnicate"} {
		cases = append(cases, tcase{a, "nm", []string{"em1", a}, nil, no(a)})
	}
	cases = append(cases,
		tcase{"hostname without interface", "nm", []string{"", "hostname"}, nil, no("hostname")},
		tcase{"hostname with none", "nm", []string{"none", "hostname"}, nil, no("hostname")},
		tcase{"interface like a flag", "nm", []string{"--priority=1", "up"}, nil, want{Iface: "--priority=1", Action: "up", Pass: true, Lease: LeaseDrop}},
		tcase{"up without interface", "nm", []string{"", "up"}, nil, want{Malformed: "interface name \"\" is not a valid Linux interface name"}},
		tcase{"one argument", "nm", []string{"em1"}, nil, want{Malformed: "want 2 arguments (IFACE ACTION), got 1"}},
		tcase{"three arguments", "nm", []string{"em1", "up", "x"}, nil, want{Malformed: "want 2 arguments (IFACE ACTION), got 3"}},
		tcase{"no arguments", "nm", nil, []string{"DEVICE_IFACE=em1", "NM_DISPATCHER_ACTION=up"}, want{Malformed: "want 2 arguments (IFACE ACTION), got 0"}},
		tcase{"action with command", "nm", []string{"em1", "up;reboot"}, nil, want{Malformed: "action \"up;reboot\" is not a plain word"}},
		tcase{"action with substitution", "nm", []string{"em1", "$(reboot)"}, nil, want{Malformed: "action \"$(reboot)\" is not a plain word"}},
		tcase{"action with newline", "nm", []string{"em1", "up\nreboot"}, nil, want{Malformed: "action \"up\\nreboot\" is not a plain word"}},
		tcase{"action too long", "nm", []string{"em1", strings.Repeat("u", 10000)}, nil, want{Malformed: "action \"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\"... (10000 bytes) is too long"}},
		tcase{"interface with space", "nm", []string{"em1 x", "up"}, nil, want{Malformed: "interface name \"em1 x\" is not a valid Linux interface name"}},
		tcase{"interface with newline", "nm", []string{"em1\n>m", "up"}, nil, want{Malformed: "interface name \"em1\\n>m\" is not a valid Linux interface name"}},
		tcase{"interface too long", "nm", []string{strings.Repeat("e", 5000), "up"}, nil, want{Malformed: "interface name \"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"... (5000 bytes) is not a valid Linux interface name"}},
		tcase{"interface with slash", "nm", []string{"../../etc", "up"}, nil, want{Malformed: "interface name \"../../etc\" is not a valid Linux interface name"}},
		// Linux allows these bytes in a name; they are data, never
		// evaluated, so the name is as good as any.
		tcase{"interface with substitution", "nm", []string{"$(>m)", "up"}, nil, want{Iface: "$(>m)", Action: "up", Pass: true, Lease: LeaseDrop}},
		tcase{"interface with backticks", "nm", []string{"`>m`", "down"}, nil, want{Iface: "`>m`", Action: "down", Pass: true, Lease: LeaseDrop}},
		tcase{"interface with semicolon", "nm", []string{"a;>m", "up"}, nil, want{Iface: "a;>m", Action: "up", Pass: true, Lease: LeaseDrop}},
	)
	run(t, cases)
}

func TestNetworkd(t *testing.T) {
	var cases []tcase
	for _, s := range []string{"routable", "degraded", "configured", "carrier", "no-carrier", "off"} {
		cases = append(cases, tcase{s, "networkd", nil, []string{"IFACE=em1", "STATE=" + s, "OperationalState=x"}, want{Iface: "em1", Action: s, Pass: true}})
	}
	for _, s := range []string{"dormant", "configuring", "initialized", "linger", "pending", "failed", "unmanaged"} {
		cases = append(cases, tcase{s, "networkd", nil, []string{"IFACE=em1", "STATE=" + s}, want{Iface: "em1", Action: s}})
	}
	cases = append(cases,
		tcase{"args", "networkd", []string{"em2", "routable"}, []string{"IFACE=em1", "STATE=off"}, want{Iface: "em2", Action: "routable", Pass: true}},
		tcase{"one arg", "networkd", []string{"em2"}, nil, want{Malformed: "want 2 arguments (IFACE STATE) or none, got 1"}},
		tcase{"no IFACE", "networkd", nil, []string{"STATE=routable"}, want{Malformed: "interface name \"\" is not a valid Linux interface name"}},
		tcase{"no STATE", "networkd", nil, []string{"IFACE=em1"}, want{Malformed: "state is empty"}},
		tcase{"IFACE twice", "networkd", nil, []string{"IFACE=em1", "STATE=routable", "IFACE=em2"}, want{Malformed: "environment variable IFACE given twice"}},
		tcase{"state with command", "networkd", nil, []string{"IFACE=em1", "STATE=routable;>m"}, want{Malformed: "state \"routable;>m\" is not a plain word"}},
		tcase{"IFACE with newline", "networkd", nil, []string{"IFACE=em1\nem2", "STATE=routable"}, want{Malformed: "interface name \"em1\\nem2\" is not a valid Linux interface name"}},
		tcase{"IFACE with substitution in a space", "networkd", nil, []string{"IFACE=$(touch m)", "STATE=routable"}, want{Malformed: "interface name \"$(touch m)\" is not a valid Linux interface name"}},
	)
	run(t, cases)
}

func TestDhclient(t *testing.T) {
	env := func(kv ...string) []string {
		return append([]string{"PATH=/usr/bin", "old_routers=1.2.3.4", "new_ip_address=10.0.0.100"}, kv...)
	}
	hour := expiry(time.Hour)
	at := time.Unix(now.Add(time.Hour).Unix(), 0)
	rec := func(reason, router string) want {
		return want{Iface: "em1", Action: reason, Pass: true, Lease: LeaseRecord, Router: router, Expiry: at}
	}
	var cases []tcase
	for _, r := range []string{"BOUND", "RENEW", "REBIND", "REBOOT"} {
		cases = append(cases, tcase{r, "dhclient", []string{r, "em1"}, env("new_routers=10.0.0.1 10.0.0.2", "new_expiry="+hour), rec(r, "10.0.0.1")})
	}
	for _, r := range []string{"EXPIRE", "FAIL", "RELEASE", "STOP"} {
		cases = append(cases, tcase{r, "dhclient", []string{r, "em1"}, env("new_routers=10.0.0.1", "new_expiry="+hour), want{Iface: "em1", Action: r, Pass: true, Lease: LeaseDrop}})
	}
	for _, r := range []string{"TIMEOUT", "BOUND6", "RENEW6", "REBIND6", "DEPREF6", "EXPIRE6", "RELEASE6", "STOP6"} {
		cases = append(cases, tcase{r, "dhclient", []string{r, "em1"}, env("new_routers=10.0.0.1", "new_expiry="+hour), want{Iface: "em1", Action: r, Pass: true}})
	}
	for _, r := range []string{"PREINIT", "PREINIT6", "MEDIUM", "ARPCHECK", "ARPSEND", "NBI", "SOMETHING"} {
		cases = append(cases, tcase{r, "dhclient", []string{r, "em1"}, env("new_routers=10.0.0.1", "new_expiry="+hour), want{Iface: "em1", Action: r}})
	}
	far := time.Unix(now.Add(MaxLeaseLife).Unix(), 0)
	cases = append(cases,
		tcase{"from the environment", "dhclient", nil, env("reason=BOUND", "interface=em1", "new_routers=10.0.0.1", "new_expiry="+hour), rec("BOUND", "10.0.0.1")},
		tcase{"args win over environment", "dhclient", []string{"BOUND", "em1"}, env("reason=PREINIT", "interface=em9", "new_routers=10.0.0.1", "new_expiry="+hour), rec("BOUND", "10.0.0.1")},
		tcase{"no router", "dhclient", []string{"BOUND", "em1"}, env("new_expiry=" + hour), want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseDrop}},
		tcase{"no expiry", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1"), want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseDrop}},
		tcase{"expired", "dhclient", []string{"RENEW", "em1"}, env("new_routers=10.0.0.1", "new_expiry="+expiry(-time.Second)), want{Iface: "em1", Action: "RENEW", Pass: true, Lease: LeaseDrop}},
		tcase{"infinite", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry=9223372036854775807"), want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseRecord, Router: "10.0.0.1", Expiry: far}},
		tcase{"rfc3442 default wins over routers", "dhclient", []string{"BOUND", "em1"},
			env("new_routers=10.0.0.1", "new_expiry="+hour, "new_rfc3442_classless_static_routes=24 192 168 10 10 0 0 9 0 10 0 0 254 32 1 2 3 4 10 0 0 7"), rec("BOUND", "10.0.0.254")},
		tcase{"rfc3442 without default", "dhclient", []string{"BOUND", "em1"},
			env("new_routers=10.0.0.1", "new_expiry="+hour, "new_rfc3442_classless_static_routes=24 192 168 10 10 0 0 9"), want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseDrop}},
		tcase{"rfc3442 default on the link", "dhclient", []string{"BOUND", "em1"},
			env("new_routers=10.0.0.1", "new_expiry="+hour, "new_rfc3442_classless_static_routes=0 0 0 0 0 24 192 168 10 0 0 0 0"), want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseDrop}},
		tcase{"rfc3442 default via multicast", "dhclient", []string{"BOUND", "em1"},
			env("new_expiry="+hour, "new_rfc3442_classless_static_routes=0 224 0 0 1"), want{Malformed: "new_rfc3442_classless_static_routes \"0 224 0 0 1\": 224.0.0.1 is not a unicast address"}},
		tcase{"rfc3442 truncated", "dhclient", []string{"BOUND", "em1"},
			env("new_expiry="+hour, "new_rfc3442_classless_static_routes=24 192 168 10 10 0"), want{Malformed: "new_rfc3442_classless_static_routes \"24 192 168 10 10 0\": truncated"}},
		tcase{"rfc3442 bad width", "dhclient", []string{"BOUND", "em1"},
			env("new_expiry="+hour, "new_rfc3442_classless_static_routes=33 1 1 1 1 1 10 0 0 1"), want{Malformed: "new_rfc3442_classless_static_routes \"33 1 1 1 1 1 10 0 0 1\": prefix length over 32"}},
		tcase{"rfc3442 not bytes", "dhclient", []string{"BOUND", "em1"},
			env("new_expiry="+hour, "new_rfc3442_classless_static_routes=0 10 0 0 $(>m)"), want{Malformed: "new_rfc3442_classless_static_routes \"0 10 0 0 $(>m)\": not a list of bytes"}},
		tcase{"router is IPv6", "dhclient", []string{"BOUND", "em1"}, env("new_routers=fe80::1", "new_expiry="+hour), want{Malformed: "new_routers \"fe80::1\": \"fe80::1\" is not an IPv4 address"}},
		tcase{"router is mapped", "dhclient", []string{"BOUND", "em1"}, env("new_routers=::ffff:10.0.0.1", "new_expiry="+hour), want{Malformed: "new_routers \"::ffff:10.0.0.1\": \"::ffff:10.0.0.1\" is not an IPv4 address"}},
		tcase{"router is broadcast", "dhclient", []string{"BOUND", "em1"}, env("new_routers=255.255.255.255", "new_expiry="+hour), want{Malformed: "new_routers \"255.255.255.255\": 255.255.255.255 is not a unicast address"}},
		tcase{"router is zero", "dhclient", []string{"BOUND", "em1"}, env("new_routers=0.0.0.0", "new_expiry="+hour), want{Malformed: "new_routers \"0.0.0.0\": 0.0.0.0 is not a unicast address"}},
		tcase{"router is multicast", "dhclient", []string{"BOUND", "em1"}, env("new_routers=224.0.0.1", "new_expiry="+hour), want{Malformed: "new_routers \"224.0.0.1\": 224.0.0.1 is not a unicast address"}},
		tcase{"router is loopback", "dhclient", []string{"BOUND", "em1"}, env("new_routers=127.0.0.1", "new_expiry="+hour), want{Malformed: "new_routers \"127.0.0.1\": 127.0.0.1 is not a unicast address"}},
		tcase{"router with leading zeros", "dhclient", []string{"BOUND", "em1"}, env("new_routers=010.0.0.1", "new_expiry="+hour), want{Malformed: "new_routers \"010.0.0.1\": \"010.0.0.1\" is not an IPv4 address"}},
		tcase{"router with substitution", "dhclient", []string{"BOUND", "em1"}, env("new_routers=$(>m)", "new_expiry="+hour), want{Malformed: "new_routers \"$(>m)\": \"$(>m)\" is not an IPv4 address"}},
		tcase{"router with command", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1;>m", "new_expiry="+hour), want{Malformed: "new_routers \"10.0.0.1;>m\": \"10.0.0.1;>m\" is not an IPv4 address"}},
		tcase{"second router with backticks", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1 `>m`", "new_expiry="+hour), want{Malformed: "new_routers \"10.0.0.1 `>m`\": \"`>m`\" is not an IPv4 address"}},
		tcase{"router with newline", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1\n>m", "new_expiry="+hour), want{Malformed: "new_routers \"10.0.0.1\\n>m\": \">m\" is not an IPv4 address"}},
		tcase{"routers too long", "dhclient", []string{"BOUND", "em1"}, env("new_routers="+strings.Repeat("10.0.0.1 ", 1000), "new_expiry="+hour), want{Malformed: "new_routers \"10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.1 1\"... (9000 bytes) is too long"}},
		tcase{"expiry with substitution", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry=$(>m)"), want{Malformed: "new_expiry \"$(>m)\" is not a number of seconds"}},
		tcase{"expiry negative", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry=-5"), want{Malformed: "new_expiry \"-5\" is not a number of seconds"}},
		tcase{"expiry float", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry=1e10"), want{Malformed: "new_expiry \"1e10\" is not a number of seconds"}},
		tcase{"expiry too long", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry="+strings.Repeat("9", 5000)), want{Malformed: "new_expiry \"9999999999999999999999999999999999999999999999999999999999999999\"... (5000 bytes) is too long"}},
		tcase{"expiry overflows", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_expiry=99999999999999999999"), want{Malformed: "new_expiry \"99999999999999999999\": strconv.ParseUint: parsing \"99999999999999999999\": value out of range"}},
		tcase{"new_routers twice", "dhclient", []string{"BOUND", "em1"}, env("new_routers=10.0.0.1", "new_routers=10.0.0.9", "new_expiry="+hour), want{Malformed: "environment variable new_routers given twice"}},
		tcase{"release with bad routers still drops", "dhclient", []string{"RELEASE", "em1"}, env("new_routers=$(>m)"), want{Iface: "em1", Action: "RELEASE", Pass: true, Lease: LeaseDrop}},
		tcase{"reason with command", "dhclient", []string{"BOUND;>m", "em1"}, env("new_routers=10.0.0.1", "new_expiry="+hour), want{Malformed: "reason \"BOUND;>m\" is not a plain word"}},
		tcase{"reason with substitution", "dhclient", []string{"$(>m)", "em1"}, nil, want{Malformed: "reason \"$(>m)\" is not a plain word"}},
		tcase{"reason with newline", "dhclient", []string{"BOUND\n", "em1"}, nil, want{Malformed: "reason \"BOUND\\n\" is not a plain word"}},
		tcase{"reason empty", "dhclient", []string{"", "em1"}, nil, want{Malformed: "reason is empty"}},
		tcase{"interface empty", "dhclient", []string{"BOUND", ""}, nil, want{Malformed: "interface name \"\" is not a valid Linux interface name"}},
		tcase{"interface with substitution and space", "dhclient", []string{"BOUND", "$(touch m)"}, nil, want{Malformed: "interface name \"$(touch m)\" is not a valid Linux interface name"}},
		tcase{"interface with newline", "dhclient", []string{"BOUND", "em1\n"}, nil, want{Malformed: "interface name \"em1\\n\" is not a valid Linux interface name"}},
		tcase{"interface with colon", "dhclient", []string{"BOUND", "em1:0"}, nil, want{Malformed: "interface name \"em1:0\" is not a valid Linux interface name"}},
		tcase{"interface very long", "dhclient", []string{"BOUND", strings.Repeat("$(>m)", 2000)}, nil, want{Malformed: "interface name \"$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m)$(>m\"... (10000 bytes) is not a valid Linux interface name"}},
		tcase{"one arg", "dhclient", []string{"BOUND"}, env("interface=em1"), want{Malformed: "want 2 arguments (reason interface) or none, got 1"}},
		tcase{"hostile name recorded as data", "dhclient", []string{"BOUND", "$(>m)"}, env("new_routers=10.0.0.1", "new_expiry="+hour),
			want{Iface: "$(>m)", Action: "BOUND", Pass: true, Lease: LeaseRecord, Router: "10.0.0.1", Expiry: at}},
	)
	run(t, cases)
}

func TestDhcpcd(t *testing.T) {
	// What dhcpcd 9 hands its hooks for a bind (measured), less what is
	// not read.
	env := func(kv ...string) []string {
		return append([]string{"PATH=/usr/bin", "ifmetric=1003", "new_subnet_cidr=24", "old_routers=1.2.3.4"}, kv...)
	}
	bound := env("new_ip_address=192.168.0.124", "new_routers=192.168.0.253", "new_dhcp_lease_time=120",
		"new_classless_static_routes=0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7")
	end := now.Add(2 * time.Minute)
	rec := func(reason, router string, at time.Time) want {
		return want{Iface: "em1", Action: reason, Pass: true, Lease: LeaseRecord, Router: router, Expiry: at, Addr: "192.168.0.124", Stack: "dhcpcd"}
	}
	drop := func(reason string) want { return want{Iface: "em1", Action: reason, Pass: true, Lease: LeaseDrop} }
	var cases []tcase
	for _, r := range []string{"BOUND", "RENEW", "REBIND", "REBOOT"} {
		cases = append(cases, tcase{r, "dhcpcd", []string{r, "em1"}, bound, rec(r, "192.168.0.1", end)})
	}
	for _, r := range []string{"EXPIRE", "FAIL", "RELEASE", "STOP", "STOPPED", "NOCARRIER", "DEPARTED"} {
		cases = append(cases, tcase{r, "dhcpcd", []string{r, "em1"}, bound, drop(r)})
	}
	for _, r := range []string{"TIMEOUT", "INFORM", "STATIC", "IPV4LL", "3RDPARTY", "ROUTERADVERT", "CARRIER",
		"BOUND6", "RENEW6", "REBIND6", "REBOOT6", "EXPIRE6", "RELEASE6", "STOP6", "INFORM6", "DELEGATED6"} {
		cases = append(cases, tcase{r, "dhcpcd", []string{r, "em1"}, bound, want{Iface: "em1", Action: r, Pass: true}})
	}
	for _, r := range []string{"PREINIT", "TEST", "DUMP", "NOCARRIER_ROAMING", "UNKNOWN"} {
		cases = append(cases, tcase{r, "dhcpcd", []string{r, "em1"}, nil, want{Iface: "em1", Action: r}})
	}
	cases = append(cases,
		tcase{"from the environment", "dhcpcd", nil, []string{"reason=BOUND", "interface=em2"}, want{Iface: "em2", Action: "BOUND", Pass: true, Lease: LeaseDrop}},
		tcase{"routers without classless routes", "dhcpcd", []string{"BOUND", "em1"},
			env("new_ip_address=192.168.0.124", "new_routers=192.168.0.1 192.168.0.2", "new_dhcp_lease_time=120"), rec("BOUND", "192.168.0.1", end)},
		tcase{"classless routes without a default", "dhcpcd", []string{"BOUND", "em1"},
			env("new_ip_address=192.168.0.124", "new_routers=192.168.0.1", "new_dhcp_lease_time=120", "new_classless_static_routes=10.9.0.0/16 192.168.0.7"), drop("BOUND")},
		tcase{"infinite lease", "dhcpcd", []string{"BOUND", "em1"},
			env("new_ip_address=192.168.0.124", "new_routers=192.168.0.1", "new_dhcp_lease_time=4294967295"), rec("BOUND", "192.168.0.1", now.Add(MaxLeaseLife))},
		tcase{"no address", "dhcpcd", []string{"BOUND", "em1"}, env("new_routers=192.168.0.1", "new_dhcp_lease_time=120"),
			want{Iface: "em1", Action: "BOUND", Pass: true, Lease: LeaseRecord, Router: "192.168.0.1", Expiry: end, Stack: "dhcpcd"}},
		tcase{"no lease time", "dhcpcd", []string{"BOUND", "em1"}, env("new_ip_address=192.168.0.124", "new_routers=192.168.0.1"), drop("BOUND")},
		tcase{"lease time zero", "dhcpcd", []string{"BOUND", "em1"}, env("new_ip_address=192.168.0.124", "new_routers=192.168.0.1", "new_dhcp_lease_time=0"), drop("BOUND")},
		tcase{"no router", "dhcpcd", []string{"BOUND", "em1"}, env("new_ip_address=192.168.0.124", "new_dhcp_lease_time=120"), drop("BOUND")},
		tcase{"classless, odd count", "dhcpcd", []string{"BOUND", "em1"}, env("new_dhcp_lease_time=120", "new_classless_static_routes=0.0.0.0/0"),
			want{Malformed: "new_classless_static_routes \"0.0.0.0/0\": not a list of destination and router pairs"}},
		tcase{"classless, bad router", "dhcpcd", []string{"BOUND", "em1"}, env("new_dhcp_lease_time=120", "new_classless_static_routes=0.0.0.0/0 $(>m)"),
			want{Malformed: "new_classless_static_routes \"0.0.0.0/0 $(>m)\": \"$(>m)\" is not an IPv4 address"}},
		tcase{"address is IPv6", "dhcpcd", []string{"BOUND", "em1"}, env("new_ip_address=fe80::1", "new_routers=192.168.0.1", "new_dhcp_lease_time=120"),
			want{Malformed: "new_ip_address \"fe80::1\": \"fe80::1\" is not an IPv4 address"}},
		tcase{"address with command", "dhcpcd", []string{"BOUND", "em1"}, env("new_ip_address=192.168.0.1;>m", "new_routers=192.168.0.1", "new_dhcp_lease_time=120"),
			want{Malformed: "new_ip_address \"192.168.0.1;>m\": \"192.168.0.1;>m\" is not an IPv4 address"}},
		tcase{"lease time negative", "dhcpcd", []string{"BOUND", "em1"}, env("new_routers=192.168.0.1", "new_dhcp_lease_time=-1"),
			want{Malformed: "new_dhcp_lease_time \"-1\" is not a number of seconds"}},
		tcase{"release with a bad router still drops", "dhcpcd", []string{"RELEASE", "em1"}, env("new_routers=$(>m)"), drop("RELEASE")},
		tcase{"reason with substitution", "dhcpcd", []string{"`>m`", "em1"}, nil, want{Malformed: "reason \"`>m`\" is not a plain word"}},
		tcase{"interface with newline", "dhcpcd", []string{"BOUND", "em1\n>m"}, nil, want{Malformed: "interface name \"em1\\n>m\" is not a valid Linux interface name"}},
		tcase{"reason twice in env", "dhcpcd", nil, []string{"reason=BOUND", "interface=em2", "reason=STOP"}, want{Malformed: "environment variable reason given twice"}},
		tcase{"routers twice in env", "dhcpcd", []string{"BOUND", "em1"}, env("new_routers=192.168.0.1", "new_routers=10.0.0.1"), want{Malformed: "environment variable new_routers given twice"}},
	)
	run(t, cases)
}

// NetworkManager's dispatcher environment, as 1.42 hands it (measured):
// up carries the lease; the dhcp4-change run while the device activates
// does not.
func TestNMLease(t *testing.T) {
	lease := []string{"DEVICE_IFACE=em2", "DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.253", "DHCP4_EXPIRY=" + expiry(2*time.Minute),
		"DHCP4_DHCP_LEASE_TIME=120", "DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES=0.0.0.0/0 192.168.0.1 10.9.0.0/16 192.168.0.7", "IP4_GATEWAY=0.0.0.0"}
	at := time.Unix(now.Add(2*time.Minute).Unix(), 0)
	rec := func(action, router string) want {
		return want{Iface: "em2", Action: action, Pass: true, Lease: LeaseRecord, Router: router, Expiry: at, Addr: "192.168.0.123", Stack: "NetworkManager"}
	}
	drop := func(action string) want { return want{Iface: "em2", Action: action, Pass: true, Lease: LeaseDrop} }
	keep := func(action string) want { return want{Iface: "em2", Action: action, Pass: true} }
	noLease := []string{"DEVICE_IFACE=em2", "CONNECTION_ID=em2"}
	run(t, []tcase{
		{"up", "nm", []string{"em2", "up"}, lease, rec("up", "192.168.0.1")},
		{"dhcp4-change", "nm", []string{"em2", "dhcp4-change"}, lease, rec("dhcp4-change", "192.168.0.1")},
		{"reapply", "nm", []string{"em2", "reapply"}, lease, rec("reapply", "192.168.0.1")},
		{"down", "nm", []string{"em2", "down"}, lease, drop("down")},
		{"up without a lease", "nm", []string{"em2", "up"}, noLease, drop("up")},
		{"reapply without a lease", "nm", []string{"em2", "reapply"}, noLease, drop("reapply")},
		{"dhcp4-change while activating", "nm", []string{"em2", "dhcp4-change"}, noLease, keep("dhcp4-change")},
		{"dhcp6-change", "nm", []string{"em2", "dhcp6-change"}, lease, keep("dhcp6-change")},
		{"vpn-up", "nm", []string{"em2", "vpn-up"}, lease, keep("vpn-up")},
		{"routers only", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.1 192.168.0.2", "DHCP4_EXPIRY=" + expiry(2*time.Minute)},
			rec("up", "192.168.0.1")},
		{"NetworkManager with dhclient", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.253",
			"DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES=0 192 168 0 1", "DHCP4_EXPIRY=" + expiry(2*time.Minute)}, rec("up", "192.168.0.1")},
		{"no router", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_EXPIRY=" + expiry(2*time.Minute)}, drop("up")},
		// Tied to its address, a record outlives an expiry no hook
		// refreshes; one that has passed already is no lease.
		{"expired", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.1", "DHCP4_EXPIRY=" + expiry(-time.Second)}, drop("up")},
		{"router with substitution", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=$(>m)", "DHCP4_EXPIRY=1"},
			want{Malformed: "DHCP4_ROUTERS \"$(>m)\": \"$(>m)\" is not an IPv4 address"}},
		{"address is broadcast", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=255.255.255.255", "DHCP4_ROUTERS=192.168.0.1", "DHCP4_EXPIRY=1"},
			want{Malformed: "DHCP4_IP_ADDRESS \"255.255.255.255\": 255.255.255.255 is not a unicast address"}},
		{"expiry with command", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.1", "DHCP4_EXPIRY=1;>m"},
			want{Malformed: "DHCP4_EXPIRY \"1;>m\" is not a number of seconds"}},
		{"routers twice", "nm", []string{"em2", "up"}, []string{"DHCP4_IP_ADDRESS=192.168.0.123", "DHCP4_ROUTERS=192.168.0.1", "DHCP4_ROUTERS=10.0.0.1"},
			want{Malformed: "environment variable DHCP4_ROUTERS given twice"}},
		{"down with a bad lease still drops", "nm", []string{"em2", "down"}, []string{"DHCP4_ROUTERS=$(>m)"}, drop("down")},
	})
}

func TestIfupdown(t *testing.T) {
	e := func(iface, mode, phase string) []string {
		env := []string{"IFACE=" + iface, "LOGICAL=" + iface, "ADDRFAM=inet", "METHOD=dhcp"}
		if mode != "" {
			env = append(env, "MODE="+mode)
		}
		if phase != "" {
			env = append(env, "PHASE="+phase)
		}
		return env
	}
	run(t, []tcase{
		{"post-up", "ifupdown", nil, e("em1", "start", "post-up"), want{Iface: "em1", Action: "post-up", Pass: true}},
		{"post-down", "ifupdown", nil, e("em1", "stop", "post-down"), want{Iface: "em1", Action: "post-down", Pass: true}},
		{"pre-up", "ifupdown", nil, e("em1", "start", "pre-up"), want{Iface: "em1", Action: "pre-up"}},
		{"pre-down", "ifupdown", nil, e("em1", "stop", "pre-down"), want{Iface: "em1", Action: "pre-down"}},
		{"unknown phase", "ifupdown", nil, e("em1", "start", "sideways"), want{Iface: "em1", Action: "sideways"}},
		{"old ifupdown start", "ifupdown", nil, e("em1", "start", ""), want{Iface: "em1", Action: "start", Pass: true}},
		{"old ifupdown stop", "ifupdown", nil, e("em1", "stop", ""), want{Iface: "em1", Action: "stop", Pass: true}},
		{"old ifupdown odd mode", "ifupdown", nil, e("em1", "query", ""), want{Iface: "em1", Action: "query"}},
		{"all", "ifupdown", nil, e("--all", "start", "post-up"), want{Iface: "--all", Action: "post-up", Pass: true}},
		{"alias", "ifupdown", nil, e("eth0:1", "start", "post-up"), want{Iface: "eth0:1", Action: "post-up", Pass: true}},
		{"vlan", "ifupdown", nil, e("eth0.100", "stop", "post-down"), want{Iface: "eth0.100", Action: "post-down", Pass: true}},
		{"alias too long", "ifupdown", nil, e("eth0:12345678901", "start", "post-up"), want{Malformed: "IFACE \"eth0:12345678901\" is neither an interface name nor an alias label"}},
		{"alias twice", "ifupdown", nil, e("eth0:1:2", "start", "post-up"), want{Malformed: "IFACE \"eth0:1:2\" is neither an interface name nor an alias label"}},
		{"no IFACE", "ifupdown", nil, []string{"MODE=start", "PHASE=post-up"}, want{Malformed: "interface name \"\" is not a valid Linux interface name"}},
		{"no MODE nor PHASE", "ifupdown", nil, []string{"IFACE=em1"}, want{Malformed: "MODE is empty"}},
		{"arguments", "ifupdown", []string{"em1"}, e("em1", "start", "post-up"), want{Malformed: "want no arguments (ifupdown passes IFACE, MODE and PHASE in the environment), got 1"}},
		{"IFACE with newline", "ifupdown", nil, e("em1\n>m", "start", "post-up"), want{Malformed: "interface name \"em1\\n>m\" is not a valid Linux interface name"}},
		{"IFACE with substitution", "ifupdown", nil, e("$(>m)", "start", "post-up"), want{Iface: "$(>m)", Action: "post-up", Pass: true}},
		{"PHASE with command", "ifupdown", nil, e("em1", "start", "post-up;>m"), want{Malformed: "PHASE \"post-up;>m\" is not a plain word"}},
		{"MODE with command", "ifupdown", nil, e("em1", "`>m`", ""), want{Malformed: "MODE \"`>m`\" is not a plain word"}},
	})
}

func TestTimerAndUnknown(t *testing.T) {
	run(t, []tcase{
		{"timer", "timer", nil, nil, want{Pass: true}},
		{"timer with args", "timer", []string{"x"}, []string{"IFACE=$(>m)"}, want{Pass: true}},
		{"unknown source", "cron", []string{"em1", "up"}, nil, want{Malformed: "unknown source \"cron\""}},
	})
}

func TestApplyLease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "leases")
	env := []string{"new_routers=192.168.0.1", "new_expiry=" + expiry(time.Hour)}
	tr := Decide("dhclient", []string{"BOUND", "em2"}, env, now)
	if err := tr.ApplyLease(dir); err != nil {
		t.Fatal(err)
	}
	recs, err := lease.Read(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	wantRec := []lease.Record{{Iface: "em2", Router: netip.MustParseAddr("192.168.0.1"), Expiry: time.Unix(now.Add(time.Hour).Unix(), 0)}}
	if diff := cmp.Diff(wantRec, recs, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("after BOUND (-want +got):\n%s", diff)
	}
	// A refused hook call leaves the record alone.
	bad := Decide("dhclient", []string{"RELEASE", "em2\n"}, nil, now)
	if err := bad.ApplyLease(dir); err != nil {
		t.Fatal(err)
	}
	if recs, _ := lease.Read(dir, now); len(recs) != 1 {
		t.Errorf("a malformed RELEASE changed the records: %v", recs)
	}
	rel := Decide("dhclient", []string{"RELEASE", "em2"}, nil, now)
	if err := rel.ApplyLease(dir); err != nil {
		t.Fatal(err)
	}
	if recs, _ := lease.Read(dir, now); len(recs) != 0 {
		t.Errorf("after RELEASE: %v", recs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after RELEASE the directory holds %v", ents)
	}
}

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	Decide("nm", []string{"em1", "hostname"}, nil, now).Log(log)
	if buf.Len() != 0 {
		t.Errorf("an ignored action logs at info: %s", buf.String())
	}
	Decide("nm", []string{"em1\n$(reboot)" + strings.Repeat("x", 5000), "up"}, nil, now).Log(log)
	out := buf.String()
	if strings.Count(out, "\n") != 1 || len(out) > 400 || !strings.Contains(out, "malformed") {
		t.Errorf("malformed input should log one short info line, got %d bytes:\n%s", len(out), out)
	}
}
