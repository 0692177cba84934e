package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the parser any command line and any config file. No
// panic; every refusal is a UsageError (exit 2, nothing touched); what is
// accepted is a configuration the planner validates.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ args, conf string }{
		{"--once", ""},
		{"--once", "table-base = 2000\npriority = 100\nexclude = veth*\n# c\n"},
		{"--dry-run\x00--follow-ingress", "ingress-mark-mask = 0xff00\n"},
		{"--status\x00--json", "follow-ingress = yes\n"},
		{"--once\x00--trigger\x00dhclient\x00--\x00BOUND\x00em1", ""},
		{"--flush\x00--dry-run", "set-route-metric = mtu=1400\nset-route-metric = congctl=bbr\n"},
		{"--once\x00--priority=0", "include = 'eth*'\n"},
		{"--once", "exclude = a b\nfoo\n= 1\n"},
		{"--check\x00-v", "lock-file = relative\n"},
	} {
		f.Add(s.args, s.conf)
	}
	f.Fuzz(func(t *testing.T, args, conf string) {
		file := filepath.Join(t.TempDir(), "symroute.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		argv := []string{}
		if args != "" {
			argv = strings.Split(args, "\x00")
		}
		c, err := parse(append(argv, "--config", file), file)
		var ue *UsageError
		switch {
		case err != nil && !errors.As(err, &ue):
			t.Fatalf("refusal %v is not a UsageError", err)
		case err != nil:
			return
		case c.Help || c.Version:
			return
		}
		if err := c.Options.Validate(); err != nil {
			t.Fatalf("accepted options the planner refuses: %v (%+v)", err, c.Options)
		}
	})
}
