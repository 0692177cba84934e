package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"

	"github.com/symroute/symroute/hooks"
	"github.com/symroute/symroute/internal/testns"
	"github.com/symroute/symroute/sync/plan"
)

// setup writes conf (if not "") as CONF in a fresh directory with perm, and
// returns args with "CONF" and "DIR" replaced and CONF's path, which is also
// the default config file the test parses with.
func setup(t *testing.T, args []string, conf string, perm os.FileMode) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "symroute.conf")
	if conf != "" {
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if perm == 0 {
			perm = 0o644
		}
		// Explicitly, past the umask.
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for _, a := range args {
		a = strings.ReplaceAll(a, "CONF", path)
		out = append(out, strings.ReplaceAll(a, "DIR", dir))
	}
	return out, path
}

func metric(t *testing.T, s string) plan.Metric {
	t.Helper()
	m, err := plan.ParseMetricSetting(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		conf string // the config file's content; "" for no file
		perm os.FileMode
		want func(c *Config) // applied to the defaults with Mode once
	}{
		{
			name: "defaults",
			args: []string{"--once"},
			want: func(c *Config) {},
		},
		{
			name: "verbose short",
			args: []string{"--once", "-v"},
			want: func(c *Config) { c.Verbose = true },
		},
		{
			name: "verbose long",
			args: []string{"--verbose", "--once"},
			want: func(c *Config) { c.Verbose = true },
		},
		{
			name: "dry-run alone means once",
			args: []string{"--dry-run"},
			want: func(c *Config) { c.DryRun = true },
		},
		{
			name: "once and dry-run",
			args: []string{"--once", "--dry-run"},
			want: func(c *Config) { c.DryRun = true },
		},
		{
			name: "check",
			args: []string{"--check"},
			want: func(c *Config) { c.Mode = ModeCheck },
		},
		{
			name: "status",
			args: []string{"--status"},
			want: func(c *Config) { c.Mode = ModeStatus },
		},
		{
			name: "status json",
			args: []string{"--status", "--json"},
			want: func(c *Config) { c.Mode, c.JSON = ModeStatus, true },
		},
		{
			name: "flush",
			args: []string{"--flush"},
			want: func(c *Config) { c.Mode, c.Options.Flush = ModeFlush, true },
		},
		{
			name: "flush dry-run",
			args: []string{"--dry-run", "--flush"},
			want: func(c *Config) { c.Mode, c.Options.Flush, c.DryRun = ModeFlush, true, true },
		},
		{
			name: "gateways in the file, in order; a flag's replace them",
			args: []string{"--once"},
			conf: "gateway = em2=192.168.0.1\ngateway = em2=fe80::1\ngateway = eth*=first-host\n",
			want: func(c *Config) {
				c.Options.Gateways = []plan.Gateway{{Links: "em2", Addr: netip.MustParseAddr("192.168.0.1")},
					{Links: "em2", Addr: netip.MustParseAddr("fe80::1")}, {Links: "eth*", FirstHost: true}}
			},
		},
		{
			name: "a gateway flag replaces the file's",
			args: []string{"--once", "--gateway", "em3=10.3.0.1"},
			conf: "gateway = em2=192.168.0.1\n",
			want: func(c *Config) {
				c.Options.Gateways = []plan.Gateway{{Links: "em3", Addr: netip.MustParseAddr("10.3.0.1")}}
			},
		},
		{
			name: "flush with options",
			args: []string{"--flush", "--table-base", "5000"},
			want: func(c *Config) { c.Mode, c.Options.Flush, c.Options.TableBase = ModeFlush, true, 5000 },
		},
		{
			name: "follow-ingress bare",
			args: []string{"--once", "--follow-ingress"},
			want: func(c *Config) { c.Options.FollowIngress = true },
		},
		{
			name: "follow-ingress from the file, mask in hex",
			args: []string{"--once"},
			conf: "follow-ingress = yes\ningress-mark-mask = 0x00F0\n",
			want: func(c *Config) { c.Options.FollowIngress, c.Options.IngressMask = true, 0xf0 },
		},
		{
			name: "follow-ingress=false overrides the file",
			args: []string{"--once", "--follow-ingress=false", "--ingress-mark-mask", "3221225472"},
			conf: "follow-ingress = true\n",
			want: func(c *Config) { c.Options.IngressMask = 0xc0000000 },
		},
		{
			name: "oif-rules off in the file",
			args: []string{"--once"},
			conf: "oif-rules = no\n",
			want: func(c *Config) { c.Options.OifRules = false },
		},
		{
			name: "oif-rules bare overrides the file",
			args: []string{"--once", "--oif-rules"},
			conf: "oif-rules = off\n",
			want: func(c *Config) {},
		},
		{
			name: "oif-rules=false",
			args: []string{"--once", "--oif-rules=false"},
			want: func(c *Config) { c.Options.OifRules = false },
		},
		{
			name: "listen",
			args: []string{"--listen"},
			want: func(c *Config) { c.Mode = ModeListen },
		},
		{
			name: "mode flag set to false is no mode",
			args: []string{"--check=false", "--once"},
			want: func(c *Config) {},
		},
		{
			name: "trigger with hook args",
			args: []string{"--once", "--trigger", "nm", "--", "eth0", "up"},
			want: func(c *Config) { c.Trigger, c.TriggerArgs = "nm", []string{"eth0", "up"} },
		},
		{
			name: "trigger with dry-run",
			args: []string{"--dry-run", "--trigger=timer"},
			want: func(c *Config) { c.DryRun, c.Trigger = true, "timer" },
		},
		{
			name: "trigger args kept verbatim, never parsed",
			args: []string{"--once", "--trigger", "dhclient", "--", "--priority=1", "$(reboot)", "--", "-v", "", "--help", "a b;c"},
			want: func(c *Config) {
				c.Trigger = "dhclient"
				c.TriggerArgs = []string{"--priority=1", "$(reboot)", "--", "-v", "", "--help", "a b;c"}
			},
		},
		{
			name: "trigger without args",
			args: []string{"--once", "--trigger", "timer"},
			want: func(c *Config) { c.Trigger = "timer" },
		},
		{
			name: "trigger with empty --",
			args: []string{"--once", "--trigger", "networkd", "--"},
			want: func(c *Config) { c.Trigger = "networkd" },
		},
		{
			name: "bare -- without trigger",
			args: []string{"--once", "--"},
			want: func(c *Config) {},
		},
		{
			name: "flags after mode in any order",
			args: []string{"-v", "--priority", "100", "--once", "--table-base=2000"},
			want: func(c *Config) { c.Verbose, c.Options.Priority, c.Options.TableBase = true, 100, 2000 },
		},
		{
			name: "smallest table base",
			args: []string{"--once", "--table-base", "255"},
			want: func(c *Config) { c.Options.TableBase = 255 },
		},
		{
			name: "largest table base",
			args: []string{"--once", "--table-base", "2147483648"},
			want: func(c *Config) { c.Options.TableBase = 2147483648 },
		},
		{
			name: "leading zeros are decimal",
			args: []string{"--once", "--table-base", "01000"},
			want: func(c *Config) { c.Options.TableBase = 1000 },
		},
		{
			name: "priority bounds",
			args: []string{"--once", "--priority", "1"},
			want: func(c *Config) { c.Options.Priority = 1 },
		},
		{
			name: "priority 32765",
			args: []string{"--once", "--priority=32765"},
			want: func(c *Config) { c.Options.Priority = 32765 },
		},
		{
			name: "last scalar flag wins",
			args: []string{"--once", "--priority=10", "--priority=20"},
			want: func(c *Config) { c.Options.Priority = 20 },
		},
		{
			name: "exclude and include repeat",
			args: []string{"--once", "--exclude", "veth*", "--include", "eth*", "--exclude=docker?", "--include", "en[ops]*"},
			want: func(c *Config) {
				c.Options.Exclude = []string{"veth*", "docker?"}
				c.Options.Include = []string{"eth*", "en[ops]*"}
			},
		},
		{
			name: "comma stays in a glob",
			args: []string{"--once", "--exclude", "a,b"},
			want: func(c *Config) { c.Options.Exclude = []string{"a,b"} },
		},
		{
			name: "empty exclude excludes nothing",
			args: []string{"--once", "--exclude="},
			want: func(c *Config) { c.Options.Exclude = []string{} },
		},
		{
			name: "empty exclude among others",
			args: []string{"--once", "--exclude=", "--exclude", "tap*"},
			want: func(c *Config) { c.Options.Exclude = []string{"tap*"} },
		},
		{
			name: "empty include is no limit",
			args: []string{"--once", "--include="},
			want: func(c *Config) {},
		},
		{
			name: "route metrics",
			args: []string{"--once", "--set-route-metric", "mtu=1400", "--set-route-metric=advmss=1360",
				"--set-route-metric", "congctl=bbr", "--set-route-metric", "features=ecn"},
			want: func(c *Config) {
				c.Options.RouteMetrics = []plan.Metric{
					{ID: 2, Value: 1400}, {ID: 8, Value: 1360},
					{ID: plan.MetricCongctl, Name: "bbr"}, {ID: 12, Value: 1},
				}
			},
		},
		{
			name: "lock file",
			args: []string{"--once", "--lock-file", "/var/lock/symroute.lock"},
			want: func(c *Config) { c.LockFile = "/var/lock/symroute.lock" },
		},
		{
			name: "explain",
			args: []string{"--explain", "198.51.100.7", "--from", "::ffff:10.0.0.2", "--iif", "em2", "--json"},
			want: func(c *Config) {
				c.Mode, c.JSON = ModeExplain, true
				c.Explain = Explain{Dst: netip.MustParseAddr("198.51.100.7"), From: netip.MustParseAddr("10.0.0.2"), Iif: "em2"}
			},
		},
		{
			name: "explain a socket bound to a link",
			args: []string{"--explain", "198.51.100.7", "--oif", "em2"},
			want: func(c *Config) {
				c.Mode = ModeExplain
				c.Explain = Explain{Dst: netip.MustParseAddr("198.51.100.7"), Oif: "em2"}
			},
		},
		{
			name: "metrics file",
			args: []string{"--check", "--metrics-file", "/var/lib/prometheus/node-exporter/symroute.prom"},
			want: func(c *Config) {
				c.Mode = ModeCheck
				c.MetricsFile = "/var/lib/prometheus/node-exporter/symroute.prom"
			},
		},
		{
			name: "an empty metrics file flag turns off the file's",
			args: []string{"--once", "--metrics-file="},
			conf: "metrics-file = /m/s.prom\n",
			want: func(c *Config) {},
		},
		{
			name: "resync interval",
			args: []string{"--listen", "--resync-interval", "60s"},
			want: func(c *Config) { c.Mode, c.ResyncInterval = ModeListen, time.Minute },
		},
		{
			name: "resync interval, compound",
			args: []string{"--listen", "--resync-interval=1m0.5s"},
			want: func(c *Config) { c.Mode, c.ResyncInterval = ModeListen, time.Minute+500*time.Millisecond },
		},
		{
			name: "resync interval at the minimum",
			args: []string{"--listen", "--resync-interval", "1s"},
			want: func(c *Config) { c.Mode, c.ResyncInterval = ModeListen, time.Second },
		},
		{
			name: "resync interval in the file is every mode's",
			args: []string{"--once"},
			conf: "resync-interval = 5m\n",
			want: func(c *Config) { c.ResyncInterval = 5 * time.Minute },
		},
		{
			name: "resync interval 0 on the command line turns off the file's",
			args: []string{"--listen", "--resync-interval", "0"},
			conf: "resync-interval = 1s\n",
			want: func(c *Config) { c.Mode = ModeListen },
		},
		{
			name: "resync interval empty is none",
			args: []string{"--listen", "--resync-interval="},
			want: func(c *Config) { c.Mode = ModeListen },
		},
		{
			name: "missing default file is fine",
			args: []string{"--check"},
			want: func(c *Config) { c.Mode = ModeCheck },
		},
		{
			name: "default file is read",
			args: []string{"--once"},
			conf: "priority = 500\n",
			want: func(c *Config) { c.Options.Priority = 500 },
		},
		{
			name: "every key, comments, blanks, CRLF",
			args: []string{"--once"},
			conf: "# symroute.conf\n" +
				"\n" +
				"   # indented comment\n" +
				"table-base = 3000\n" +
				"priority=1234\r\n" +
				"\texclude\t=\tveth*   # containers\n" +
				"exclude = eth#1\n" +
				"exclude = tap*\t# tunnels\n" +
				"include = e*\n" +
				"set-route-metric = mtu=9000\n" +
				"set-route-metric = advmss=8960 # jumbo\n" +
				"lock-file = /var/run/x.lock\n" +
				"metrics-file = /var/lib/node/symroute.prom\n" +
				"  \n" +
				"# end, no newline after the last line\n" +
				"include = w*",
			want: func(c *Config) {
				c.Options.TableBase = 3000
				c.Options.Priority = 1234
				c.Options.Exclude = []string{"veth*", "eth#1", "tap*"}
				c.Options.Include = []string{"e*", "w*"}
				c.Options.RouteMetrics = []plan.Metric{{ID: 2, Value: 9000}, {ID: 8, Value: 8960}}
				c.LockFile = "/var/run/x.lock"
				c.MetricsFile = "/var/lib/node/symroute.prom"
			},
		},
		{
			name: "empty exclude in the file excludes nothing",
			args: []string{"--once"},
			conf: "exclude =\n",
			want: func(c *Config) { c.Options.Exclude = []string{} },
		},
		{
			name: "flags win over the file",
			args: []string{"--once", "--priority", "200", "--exclude", "c*", "--set-route-metric", "advmss=1000", "--lock-file", "/l2"},
			conf: "priority = 100\ntable-base = 4000\nexclude = a*\nexclude = b*\ninclude = x*\nset-route-metric = mtu=1400\nlock-file = /l1\n",
			want: func(c *Config) {
				c.Options.Priority = 200
				c.Options.TableBase = 4000
				c.Options.Exclude = []string{"c*"}
				c.Options.Include = []string{"x*"}
				c.Options.RouteMetrics = []plan.Metric{{ID: 8, Value: 1000}}
				c.LockFile = "/l2"
			},
		},
		{
			name: "empty flag clears the file's list",
			args: []string{"--once", "--exclude=", "--include=", "--set-route-metric="},
			conf: "exclude = a*\ninclude = x*\nset-route-metric = mtu=1400\n",
			want: func(c *Config) { c.Options.Exclude = []string{} },
		},
		{
			name: "read-only file is fine",
			args: []string{"--once"},
			conf: "priority = 7\n",
			perm: 0o400,
			want: func(c *Config) { c.Options.Priority = 7 },
		},
		{
			name: "executable by others is fine",
			args: []string{"--once"},
			conf: "priority = 7\n",
			perm: 0o755,
			want: func(c *Config) { c.Options.Priority = 7 },
		},
		{
			name: "empty file",
			args: []string{"--status"},
			conf: "\n",
			want: func(c *Config) { c.Mode = ModeStatus },
		},
		{
			name: "version without a mode",
			args: []string{"--version"},
			want: func(c *Config) { c.Mode, c.Version = ModeNone, true },
		},
		{
			name: "version skips a broken config file",
			args: []string{"--version"},
			conf: "bogus\n",
			perm: 0o666,
			want: func(c *Config) { c.Mode, c.Version = ModeNone, true },
		},
		{
			name: "help without a mode",
			args: []string{"--help"},
			want: func(c *Config) { c.Mode, c.Help = ModeNone, true },
		},
		{
			name: "short help with conflicting modes",
			args: []string{"-h", "--once", "--check", "stray"},
			want: func(c *Config) { c.Mode, c.Help = ModeNone, true },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, conf := setup(t, tc.args, tc.conf, tc.perm)
			want := Config{Mode: ModeOnce, ConfigFile: conf, LockFile: DefaultLockFile, Options: plan.DefaultOptions()}
			tc.want(&want)
			got, err := parse(args, conf)
			if err != nil {
				t.Fatalf("parse(%q): %v", args, err)
			}
			if diff := cmp.Diff(&want, got, eqAddr); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", args, diff)
			}
		})
	}
}

func TestParseNamedFile(t *testing.T) {
	dir := t.TempDir()
	named := filepath.Join(dir, "other.conf")
	if err := os.WriteFile(named, []byte("priority = 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The default file exists too and must be ignored.
	def := filepath.Join(dir, "symroute.conf")
	if err := os.WriteFile(def, []byte("priority = 1\ntable-base = 9000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--once", "--config", named}, {"--config=" + named, "--once"}} {
		got, err := parse(args, def)
		if err != nil {
			t.Fatalf("parse(%q): %v", args, err)
		}
		want := &Config{Mode: ModeOnce, ConfigFile: named, LockFile: DefaultLockFile, Options: plan.DefaultOptions()}
		want.Options.Priority = 42
		if diff := cmp.Diff(want, got, eqAddr); diff != "" {
			t.Errorf("parse(%q) (-want +got):\n%s", args, diff)
		}
	}
}

func TestParseTriggerSources(t *testing.T) {
	for _, src := range []string{"nm", "networkd", "dhclient", "dhcpcd", "ifupdown", "timer"} {
		t.Run(src, func(t *testing.T) {
			got, err := parse([]string{"--once", "--trigger", src, "--", "x"}, filepath.Join(t.TempDir(), "none"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{src, "x"}, append([]string{got.Trigger}, got.TriggerArgs...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		conf string
		perm os.FileMode
		want string // the message's start, with CONF and DIR replaced
	}{
		// Modes.
		{name: "no args", args: nil, want: "no mode given: use one of --once, --dry-run, --check, --status, --flush, --listen or --explain (see --help)"},
		{name: "options but no mode", args: []string{"-v", "--priority", "5"}, want: "no mode given"},
		{name: "two modes", args: []string{"--once", "--check"}, want: "--once and --check cannot be combined: give one mode"},
		{name: "three modes", args: []string{"--listen", "--flush", "--status"}, want: "--status, --flush and --listen cannot be combined: give one mode"},
		{name: "dry-run check", args: []string{"--dry-run", "--check"}, want: "--dry-run cannot be combined with --check (only with --once or --flush)"},
		{name: "dry-run status", args: []string{"--status", "--dry-run"}, want: "--dry-run cannot be combined with --status"},
		{name: "dry-run listen", args: []string{"--listen", "--dry-run"}, want: "--dry-run cannot be combined with --listen"},
		{name: "json without status", args: []string{"--check", "--json"}, want: "--json works only with --status"},
		{name: "json with dry-run", args: []string{"--dry-run", "--json"}, want: "--json works only with --status"},
		{name: "explain a name", args: []string{"--explain", "example.com"}, want: `--explain "example.com": not an IPv4 or IPv6 address`},
		{name: "explain nothing", args: []string{"--explain="}, want: `--explain "": not an IPv4 or IPv6 address`},
		{name: "explain from a prefix", args: []string{"--explain", "1.1.1.1", "--from", "10.0.0.0/8"}, want: `--from "10.0.0.0/8": not an IPv4 or IPv6 address`},
		{name: "explain across families", args: []string{"--explain", "2001:db8::1", "--from", "10.0.0.2"}, want: "--from 10.0.0.2 and --explain 2001:db8::1 are of different families"},
		{name: "iif without from", args: []string{"--explain", "1.1.1.1", "--iif", "em1"}, want: "--iif needs --from"},
		{name: "iif not a name", args: []string{"--explain", "1.1.1.1", "--from", "10.0.0.2", "--iif", "a/b"}, want: `--iif "a/b": not a link name`},
		{name: "iif with a colon", args: []string{"--explain", "1.1.1.1", "--from", "10.0.0.2", "--iif", "em1:0"}, want: `--iif "em1:0": not a link name`},
		{name: "iif dot dot", args: []string{"--explain", "1.1.1.1", "--from", "10.0.0.2", "--iif", ".."}, want: `--iif "..": not a link name`},
		{name: "explain a zoned address", args: []string{"--explain", "fe80::1%em1"}, want: `--explain "fe80::1%em1": not an IPv4 or IPv6 address (without a %zone)`},
		{name: "from without explain", args: []string{"--once", "--from", "10.0.0.2"}, want: "--from, --iif and --oif work only with --explain"},
		{name: "explain with a mode", args: []string{"--status", "--explain", "1.1.1.1"}, want: "--status and --explain cannot be combined"},
		{name: "trigger without mode", args: []string{"--trigger", "nm"}, want: "no mode given"},
		{name: "trigger with check", args: []string{"--check", "--trigger", "nm"}, want: "--trigger works only with --once or --dry-run, not --check"},
		{name: "trigger with flush", args: []string{"--flush", "--trigger", "timer"}, want: "--trigger works only with --once or --dry-run, not --flush"},
		{name: "trigger with listen", args: []string{"--listen", "--trigger", "nm", "--", "x"}, want: "--trigger works only with --once or --dry-run, not --listen"},
		{name: "unknown trigger", args: []string{"--once", "--trigger", "udev"}, want: `--trigger "udev": unknown source (known: nm, networkd, dhclient, dhcpcd, ifupdown, timer)`},
		{name: "empty trigger", args: []string{"--once", "--trigger="}, want: `--trigger "": unknown source`},
		{name: "trigger takes the next word", args: []string{"--trigger", "--once"}, want: "no mode given"},
		{name: "trigger missing value", args: []string{"--once", "--trigger"}, want: "flag needs an argument: --trigger"},

		// Arguments.
		{name: "positional", args: []string{"--once", "eth0"}, want: `unexpected argument "eth0": a hook's own arguments go after --trigger SOURCE --`},
		{name: "positional before --", args: []string{"--once", "--trigger", "nm", "eth0", "--", "up"}, want: `unexpected argument "eth0"`},
		{name: "args after -- without trigger", args: []string{"--once", "--", "--priority=1"}, want: `unexpected argument "--priority=1" after --: only --trigger SOURCE takes arguments`},
		{name: "unknown flag", args: []string{"--once", "--frobnicate"}, want: "unknown flag: --frobnicate"},
		{name: "unknown short flag", args: []string{"--once", "-x"}, want: `unknown shorthand flag: 'x' in -x`},
		{name: "no prefix matching", args: []string{"--onc"}, want: "unknown flag: --onc"},
		{name: "missing value", args: []string{"--once", "--priority"}, want: "flag needs an argument: --priority"},
		{name: "bad bool", args: []string{"--once=maybe"}, want: `invalid argument "maybe" for "--once" flag`},

		// Numbers.
		{name: "table-base junk", args: []string{"--once", "--table-base", "abc"}, want: `--table-base "abc": not a number`},
		{name: "table-base empty", args: []string{"--once", "--table-base="}, want: `--table-base "": not a number`},
		{name: "table-base hex", args: []string{"--once", "--table-base", "0x400"}, want: `--table-base "0x400": not a number`},
		{name: "table-base plus", args: []string{"--once", "--table-base", "+1000"}, want: `--table-base "+1000": not a number`},
		{name: "table-base space", args: []string{"--once", "--table-base", " 1000"}, want: `--table-base " 1000": not a number`},
		{name: "table-base negative", args: []string{"--once", "--table-base=-1"}, want: `--table-base "-1": must not be negative`},
		{name: "table-base overflow", args: []string{"--once", "--table-base", "4294967296"}, want: `--table-base "4294967296": too large (at most 4294967295)`},
		{name: "table-base huge", args: []string{"--once", "--table-base", "99999999999999999999999"}, want: `--table-base "99999999999999999999999": too large`},
		{name: "table-base reserved", args: []string{"--once", "--table-base", "100"}, want: "--table-base 100: base + ifindex could be a reserved table"},
		{name: "table-base zero", args: []string{"--once", "--table-base", "0"}, want: "--table-base 0: "},
		{name: "table-base 254", args: []string{"--once", "--table-base", "254"}, want: "--table-base 254: "},
		{name: "table-base wraps", args: []string{"--once", "--table-base", "4294967295"}, want: "--table-base 4294967295: base + ifindex could pass the largest table number"},
		{name: "table-base just too big", args: []string{"--once", "--table-base", "2147483649"}, want: "--table-base 2147483649: "},
		{name: "priority zero", args: []string{"--once", "--priority", "0"}, want: "--priority 0: must be from 1 to 32765"},
		{name: "priority main", args: []string{"--once", "--priority", "32766"}, want: "--priority 32766: must be from 1 to 32765"},
		{name: "priority max uint32", args: []string{"--once", "--priority", "4294967295"}, want: "--priority 4294967295: must be from 1 to 32765"},
		{name: "priority negative", args: []string{"--once", "--priority", "-5"}, want: `--priority "-5": must not be negative`},
		{name: "priority junk", args: []string{"--once", "--priority", "high"}, want: `--priority "high": not a number`},
		{name: "priority fraction", args: []string{"--once", "--priority", "1.5"}, want: `--priority "1.5": not a number`},

		// Globs, metrics, lock file.
		{name: "bad exclude glob", args: []string{"--once", "--exclude", "veth["}, want: `--exclude "veth[": bad glob: syntax error in pattern`},
		{name: "bad include glob", args: []string{"--once", "--include", `eth\`}, want: `--include "eth\\": bad glob`},
		{name: "glob with spaces", args: []string{"--once", "--exclude", "veth* docker*"}, want: `--exclude "veth* docker*": a glob cannot contain spaces`},
		{name: "metric without value", args: []string{"--once", "--set-route-metric", "mtu"}, want: `--set-route-metric "mtu" is not NAME=VALUE`},
		{name: "metric empty value", args: []string{"--once", "--set-route-metric", "mtu="}, want: `--set-route-metric "mtu=" is not NAME=VALUE`},
		{name: "metric unknown", args: []string{"--once", "--set-route-metric", "bogus=1"}, want: `--set-route-metric "bogus=1": unknown route metric "bogus"`},
		{name: "metric junk value", args: []string{"--once", "--set-route-metric", "mtu=big"}, want: `--set-route-metric "mtu=big": value must be a whole number`},
		{name: "metric negative", args: []string{"--once", "--set-route-metric", "mtu=-1"}, want: `--set-route-metric "mtu=-1": value must be a whole number`},
		{name: "metric overflow", args: []string{"--once", "--set-route-metric", "mtu=4294967296"}, want: `--set-route-metric "mtu=4294967296": value must be a whole number`},
		{name: "metric shell in congctl", args: []string{"--once", "--set-route-metric", "congctl=bbr;reboot"}, want: `--set-route-metric "congctl=bbr;reboot": bad congestion control name`},
		{name: "metric twice", args: []string{"--once", "--set-route-metric", "mtu=1400", "--set-route-metric", "mtu=1500"}, want: `--set-route-metric "mtu=1500": mtu is already set (mtu 1400)`},
		{name: "oif-rules junk", args: []string{"--once", "--oif-rules=sometimes"}, want: `--oif-rules "sometimes": want true or false`},
		{name: "oif-rules junk in the file", args: []string{"--once"}, conf: "oif-rules = 2\n", want: `CONF:1: oif-rules "2": want true or false`},
		{name: "oif with iif", args: []string{"--explain", "1.1.1.1", "--from", "10.0.0.2", "--iif", "em1", "--oif", "em2"}, want: "--oif and --iif cannot be combined"},
		{name: "oif not a name", args: []string{"--explain", "1.1.1.1", "--oif", "a b"}, want: `--oif "a b": not a link name`},
		{name: "oif without explain", args: []string{"--once", "--oif", "em2"}, want: "--from, --iif and --oif work only with --explain"},
		{name: "follow-ingress junk", args: []string{"--once", "--follow-ingress=maybe"}, want: `--follow-ingress "maybe": want true or false`},
		{name: "follow-ingress junk in the file", args: []string{"--once"}, conf: "follow-ingress = 2\n", want: `CONF:1: follow-ingress "2": want true or false`},
		{name: "follow-ingress with priority 1", args: []string{"--once", "--follow-ingress", "--priority", "1"}, want: "--priority 1: follow-ingress puts its rules at priority-1 and priority-2, so it needs 3 or more"},
		{name: "gateway without an address", args: []string{"--once", "--gateway", "em2"}, want: `--gateway "em2": want LINK=ADDR, GLOB=first-host or GLOB=none`},
		{name: "gateway with a prefix", args: []string{"--once", "--gateway", "em2=192.168.0.1/24"}, want: `--gateway "em2=192.168.0.1/24": "192.168.0.1/24" is neither an address, first-host nor none`},
		{name: "gateway first-host misspelled", args: []string{"--once", "--gateway", "em*=firsthost"}, want: `--gateway "em*=firsthost": "firsthost" is neither an address, first-host nor none`},
		{name: "gateway multicast, in the file", args: []string{"--once"}, conf: "gateway = em2=224.0.0.1\n", want: `CONF:1: gateway "em2=224.0.0.1": 224.0.0.1 is not a unicast address a route can go via`},
		{name: "gateway with an empty link", args: []string{"--once", "--gateway", "=10.0.0.1"}, want: `--gateway "=10.0.0.1": want LINK=ADDR, GLOB=first-host or GLOB=none`},
		{name: "follow-ingress with priority 2", args: []string{"--once", "--follow-ingress", "--priority", "2"}, want: "--priority 2: follow-ingress puts its rules at priority-1 and priority-2, so it needs 3 or more"},
		{name: "mask zero", args: []string{"--once", "--ingress-mark-mask", "0"}, want: "--ingress-mark-mask 0x00000000: must have at least two bits set (one value per link, 0 meaning none)"},
		{name: "mask one bit", args: []string{"--once", "--ingress-mark-mask", "0x100"}, want: "--ingress-mark-mask 0x00000100: must have at least two bits set"},
		{name: "mask junk", args: []string{"--once", "--ingress-mark-mask", "0xfg"}, want: `--ingress-mark-mask "0xfg": not a number (0x and hex digits, or decimal)`},
		{name: "mask empty", args: []string{"--once", "--ingress-mark-mask="}, want: `--ingress-mark-mask "": not a number`},
		{name: "mask octal-looking", args: []string{"--once", "--ingress-mark-mask", "0377"}, want: `--ingress-mark-mask "0377": ambiguous leading zero: write hex as 0x...`},
		{name: "mask too wide", args: []string{"--once", "--ingress-mark-mask", "0x1ff000000"}, want: `--ingress-mark-mask "0x1ff000000": not a 32-bit number`},
		{name: "mask negative", args: []string{"--once", "--ingress-mark-mask", "-1"}, want: `--ingress-mark-mask "-1": not a number`},
		{name: "mask in the file", args: []string{"--once"}, conf: "ingress-mark-mask = 0x80\n", want: "CONF:1: ingress-mark-mask 0x00000080: must have at least two bits set"},
		{name: "mask decimal with hex digits", args: []string{"--once", "--ingress-mark-mask", "12ab"}, want: `--ingress-mark-mask "12ab": not a number (0x and hex digits, or decimal)`},
		{name: "follow-ingress value after a space", args: []string{"--once", "--follow-ingress", "false"}, want: `unexpected argument "false": a flag's true or false goes after =, as --follow-ingress=false`},
		{name: "follow-ingress with priority 1, both in the file", args: []string{"--once"}, conf: "priority = 1\nfollow-ingress = yes\n", want: "CONF: priority 1: follow-ingress puts its rules at priority-1 and priority-2, so it needs 3 or more"},
		{name: "resync interval without a unit", args: []string{"--listen", "--resync-interval", "60"}, want: `--resync-interval "60": not a duration (a number and a unit: 60s, 5m, 1h)`},
		{name: "resync interval junk", args: []string{"--listen", "--resync-interval", "often"}, want: `--resync-interval "often": not a duration`},
		{name: "resync interval negative", args: []string{"--listen", "--resync-interval=-5s"}, want: `--resync-interval "-5s": must not be negative`},
		{name: "resync interval too short", args: []string{"--listen", "--resync-interval", "500ms"}, want: `--resync-interval "500ms": shorter than the minimum, 1s`},
		{name: "resync interval overflow", args: []string{"--listen", "--resync-interval", "9999999999h"}, want: `--resync-interval "9999999999h": not a duration`},
		{name: "resync interval without --listen", args: []string{"--once", "--resync-interval", "60s"}, want: "--resync-interval works only with --listen"},
		{name: "resync interval with --check", args: []string{"--check", "--resync-interval", "60s"}, want: "--resync-interval works only with --listen"},
		{name: "resync interval too short in the file", args: []string{"--once"}, conf: "resync-interval = 10ms\n", want: `CONF:1: resync-interval "10ms": shorter than the minimum, 1s`},
		{name: "relative lock file", args: []string{"--once", "--lock-file", "sync.lock"}, want: `--lock-file "sync.lock": must be an absolute path`},
		{name: "empty lock file", args: []string{"--once", "--lock-file="}, want: `--lock-file "": must be an absolute path`},
		{name: "relative metrics file", args: []string{"--once", "--metrics-file", "s.prom"}, want: `--metrics-file "s.prom": must be an absolute path to a file`},
		{name: "metrics directory", args: []string{"--once", "--metrics-file", "/var/lib/node/"}, want: `--metrics-file "/var/lib/node/": must be an absolute path to a file`},
		{name: "metrics file not .prom", args: []string{"--check", "--metrics-file", "/var/lib/node/symroute.txt"}, want: `--metrics-file "/var/lib/node/symroute.txt": must end in .prom`},

		// Config file: finding it.
		{name: "empty config name", args: []string{"--once", "--config="}, want: `--config "": no file named`},
		{name: "missing named file", args: []string{"--once", "--config", "DIR/nope.conf"}, want: "config file DIR/nope.conf: no such file or directory"},
		{name: "named default path missing", args: []string{"--once", "--config", "CONF"}, want: "config file CONF: no such file or directory"},
		{name: "config is a directory", args: []string{"--once", "--config", "DIR"}, want: "config file DIR: not a regular file (a directory)"},
		{name: "config is a device", args: []string{"--once", "--config", "/dev/null"}, want: "config file /dev/null: not a regular file (a device)"},
		{name: "group-writable", args: []string{"--once"}, conf: "priority = 5\n", perm: 0o664, want: "config file CONF: mode 0664 lets group or others write it; refusing it (chmod go-w CONF)"},
		{name: "world-writable", args: []string{"--once"}, conf: "priority = 5\n", perm: 0o646, want: "config file CONF: mode 0646 lets group or others write it"},
		{name: "writable by all", args: []string{"--check"}, conf: "priority = 5\n", perm: 0o666, want: "config file CONF: mode 0666 lets group or others write it"},
		{name: "group-writable only", args: []string{"--check"}, conf: "priority = 5\n", perm: 0o620, want: "config file CONF: mode 0620 lets group or others write it"},
		{name: "named group-writable", args: []string{"--once", "--config", "CONF"}, conf: "priority = 5\n", perm: 0o660, want: "config file CONF: mode 0660"},

		// Config file: its lines.
		{name: "unknown key", args: []string{"--once"}, conf: "# comment\n\npriority = 5\nfoo = 1\n", want: `CONF:4: unknown key "foo" (keys: table-base, priority, exclude, include, set-route-metric, lock-file, follow-ingress, ingress-mark-mask, metrics-file, gateway, oif-rules, resync-interval)`},
		{name: "flag as key", args: []string{"--once"}, conf: "once = true\n", want: `CONF:1: "once" is a command-line flag, not a config file key`},
		{name: "config as key", args: []string{"--once"}, conf: "config = /x\n", want: `CONF:1: "config" is a command-line flag, not a config file key`},
		{name: "dashed key", args: []string{"--once"}, conf: "--priority = 5\n", want: `CONF:1: unknown key "--priority"`},
		{name: "missing =", args: []string{"--once"}, conf: "\npriority 5\n", want: `CONF:2: "priority 5" is not key = value`},
		{name: "no key", args: []string{"--once"}, conf: "= 5\n", want: "CONF:1: no key before ="},
		{name: "bad number", args: []string{"--once"}, conf: "table-base = 1000\npriority = x\n", want: `CONF:2: priority "x": not a number`},
		{name: "empty number", args: []string{"--once"}, conf: "priority =\n", want: `CONF:1: priority "": not a number`},
		{name: "reserved table base", args: []string{"--once"}, conf: "\n\ntable-base = 100\n", want: "CONF:3: table-base 100: base + ifindex could be a reserved table"},
		{name: "bad priority", args: []string{"--once"}, conf: "priority = 32767 # default's\n", want: "CONF:1: priority 32767: must be from 1 to 32765"},
		{name: "bad glob", args: []string{"--once"}, conf: "exclude = veth*\nexclude = [\n", want: `CONF:2: exclude "[": bad glob`},
		{name: "several globs on a line", args: []string{"--once"}, conf: "include = eth0 eth1\n", want: `CONF:1: include "eth0 eth1": a glob cannot contain spaces`},
		{name: "quoted value", args: []string{"--once"}, conf: "exclude = \"veth*\"\n", want: `CONF:1: exclude "veth*": write the value without quotes`},
		{name: "single-quoted value", args: []string{"--once"}, conf: "lock-file = '/x'\n", want: `CONF:1: lock-file '/x': write the value without quotes`},
		{name: "bad metric", args: []string{"--once"}, conf: "set-route-metric = mtu = 1400\n", want: `CONF:1: set-route-metric "mtu = 1400": unknown route metric "mtu "`},
		{name: "unknown metric", args: []string{"--once"}, conf: "set-route-metric = foo=1\n", want: `CONF:1: set-route-metric "foo=1": unknown route metric "foo"`},
		{name: "metric twice", args: []string{"--once"}, conf: "set-route-metric = mtu=1\nset-route-metric = mtu=2\n", want: `CONF:2: set-route-metric "mtu=2": mtu is already set (mtu 1)`},
		{name: "relative lock file", args: []string{"--once"}, conf: "lock-file = run/x.lock\n", want: `CONF:1: lock-file "run/x.lock": must be an absolute path`},
		{name: "metrics file not .prom", args: []string{"--once"}, conf: "metrics-file = /m/x\n", want: `CONF:1: metrics-file "/m/x": must end in .prom`},
		{name: "scalar twice", args: []string{"--once"}, conf: "priority = 5\n# again\npriority = 6\n", want: "CONF:3: priority given twice (first on line 1)"},
		{name: "bad file value overridden by a flag", args: []string{"--once", "--priority", "5"}, conf: "priority = 0\n", want: "CONF:1: priority 0: must be from 1 to 32765"},
		{name: "line too long", args: []string{"--once"}, conf: "priority = 5\nexclude = " + strings.Repeat("x", 70000) + "\n", want: "CONF:2: line too long"},
		{name: "flag error before file error", args: []string{"--once", "--priority", "0"}, conf: "foo = 1\n", want: "--priority 0: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, conf := setup(t, tc.args, tc.conf, tc.perm)
			want := strings.ReplaceAll(tc.want, "CONF", conf)
			want = strings.ReplaceAll(want, "DIR", filepath.Dir(conf))
			got, err := parse(args, conf)
			if err == nil {
				t.Fatalf("parse(%q) = %+v, want error %q", args, got, want)
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("parse(%q): error %T is not a *UsageError: %v", args, err, err)
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("parse(%q):\n got error %q\nwant prefix %q", args, err, want)
			}
		})
	}
}

func TestParseMissingNamedFileIsNotExist(t *testing.T) {
	_, err := parse([]string{"--once", "--config", filepath.Join(t.TempDir(), "nope")}, "/nonexistent")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v: want one wrapping fs.ErrNotExist", err)
	}
}

// A FIFO would block an open until a writer came; it must be refused
// without opening it.
func TestParseRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	_, err := parse([]string{"--once", "--config", p}, "/nonexistent")
	want := "config file " + p + ": not a regular file (a named pipe)"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

func TestParseRefusesOtherOwner(t *testing.T) {
	testns.RequireRoot(t) // to give a file to another user
	p := filepath.Join(t.TempDir(), "symroute.conf")
	if err := os.WriteFile(p, []byte("priority = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	_, err := parse([]string{"--once"}, p)
	want := "config file " + p + ": owned by uid 12345, neither root nor us; refusing it"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

// --help and --version read no config file: the default one here is one
// that fails whoever reads it.
func TestParseHelpAndVersion(t *testing.T) {
	poisoned := filepath.Join(t.TempDir(), "symroute.conf")
	if err := os.WriteFile(poisoned, []byte("not key value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parse([]string{"--once"}, poisoned); err == nil {
		t.Fatal("the poisoned config file parses: the test proves nothing")
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--version"}, {"--version", "-v"}} {
		c, err := parse(args, poisoned)
		if err != nil {
			t.Fatalf("parse(%q) read the config file: %v", args, err)
		}
		if !c.Help && !c.Version {
			t.Errorf("parse(%q) = %+v: neither Help nor Version", args, c)
		}
		if c.Mode != ModeNone {
			t.Errorf("parse(%q).Mode = %v, want none", args, c.Mode)
		}
	}
}

func TestUsageNamesEveryFlag(t *testing.T) {
	fs, _ := newFlagSet()
	u := Usage()
	fs.VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(u, "--"+f.Name+" ") && !strings.Contains(u, "--"+f.Name+"]") {
			t.Errorf("usage does not mention --%s", f.Name)
		}
		if f.Shorthand != "" && !strings.Contains(u, "-"+f.Shorthand+", --"+f.Name) {
			t.Errorf("usage does not mention -%s", f.Shorthand)
		}
	})
	for _, src := range hooks.Sources {
		if !strings.Contains(u, src) {
			t.Errorf("usage does not mention trigger source %s", src)
		}
	}
}

func TestOptionKeysAreFlags(t *testing.T) {
	fs, _ := newFlagSet()
	for _, k := range optionKeys {
		if fs.Lookup(k) == nil {
			t.Errorf("config key %q has no flag", k)
		}
	}
}

func TestModeString(t *testing.T) {
	got := []string{}
	for m := ModeNone; m <= ModeListen; m++ {
		got = append(got, m.String())
	}
	want := []string{"", "once", "check", "status", "flush", "listen"}
	if diff := cmp.Diff(want, got, eqAddr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

var eqAddr = cmpopts.EquateComparable(netip.Addr{})
