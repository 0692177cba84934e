package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/symroute/symroute/hooks"
	"github.com/symroute/symroute/sync/plan"
)

// Defaults, as documented in the man page.
const (
	DefaultConfigFile = "/etc/symroute/symroute.conf"
	DefaultLockFile   = "/run/symroute/sync.lock"
	// MinResyncInterval is the shortest resync-interval: a no-op pass over
	// a full table takes a tenth of a second or more, and a listener that
	// spent most of its time passing would be a busy loop with extra steps.
	MinResyncInterval = time.Second
)

// Mode is what one run does.
type Mode int

// Modes; ModeNone only comes with --help or --version.
const (
	ModeNone Mode = iota
	ModeOnce
	ModeCheck
	ModeStatus
	ModeFlush
	ModeListen
	ModeExplain
)

// String returns the mode's flag name without dashes ("once"), "" for none.
func (m Mode) String() string {
	switch m {
	case ModeOnce:
		return "once"
	case ModeCheck:
		return "check"
	case ModeStatus:
		return "status"
	case ModeFlush:
		return "flush"
	case ModeListen:
		return "listen"
	case ModeExplain:
		return "explain"
	}
	return ""
}

// Config is one run's parsed command line and config file.
type Config struct {
	Mode    Mode
	DryRun  bool // --dry-run: with ModeOnce print the plan, with ModeFlush the flush
	JSON    bool // --status or --explain --json
	Verbose bool // -v
	Version bool // --version: print the version and exit 0; nothing else is checked
	Help    bool // -h/--help: print Usage() and exit 0; nothing else is checked
	// Trigger is the --trigger source ("" when run by hand), TriggerArgs the
	// hook's own arguments after "--", verbatim (nil if none).
	Trigger     string
	TriggerArgs []string
	ConfigFile  string // the file named or defaulted (it may not exist if defaulted)
	LockFile    string
	// Explain is --explain's flow: destination, --from, --iif and --oif
	// (link names, "" for none).
	Explain Explain
	// MetricsFile is where --once and --check write their gauges for
	// node_exporter's textfile collector; "" for nowhere.
	MetricsFile string
	// ResyncInterval, when not 0, makes the listener also run a pass that
	// long after the last one: a pod has no systemd timer, and a host
	// without a system bus has no signals at all.
	ResyncInterval time.Duration
	// Options has Exclude nil for the default list, non-nil (maybe empty)
	// when given; Flush is set for ModeFlush.
	Options plan.Options
}

// Explain is the flow --explain asks about.
type Explain struct {
	Dst, From netip.Addr
	Iif       string
	// Oif is the link a socket sending the flow is bound to.
	Oif string
}

// UsageError is every error Parse returns: a bad command line or config
// file. The binary prints it with a hint to --help and exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// optionKeys are the flags that are also config file keys, in the order
// their errors are reported.
var optionKeys = []string{"table-base", "priority", "exclude", "include", "set-route-metric", "lock-file",
	"follow-ingress", "ingress-mark-mask", "metrics-file", "gateway", "oif-rules", "resync-interval"}

func isList(key string) bool {
	return key == "exclude" || key == "include" || key == "set-route-metric" || key == "gateway"
}

func isOptionKey(key string) bool { return slices.Contains(optionKeys, key) }

// flags holds the command line's values as pflag fills them; options are
// taken as strings so that their errors are ours, not strconv's.
type flags struct {
	once, dryRun, check, status, json, flush, listen bool
	verbose, version, help                           bool
	trigger, configFile                              string
	explain, from, iif, oif                          string
	// options by key; read through these, not GetStringArray, which
	// round-trips through CSV and loses an empty value.
	scalars map[string]*string
	lists   map[string]*[]string
}

func newFlagSet() (*pflag.FlagSet, *flags) {
	fs := pflag.NewFlagSet("symroute-sync", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	f := &flags{scalars: map[string]*string{}, lists: map[string]*[]string{}}
	for _, k := range optionKeys {
		if isList(k) {
			f.lists[k] = new([]string)
		} else {
			f.scalars[k] = new(string)
		}
	}
	fs.BoolVar(&f.once, "once", false, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.check, "check", false, "")
	fs.BoolVar(&f.status, "status", false, "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.BoolVar(&f.flush, "flush", false, "")
	fs.BoolVar(&f.listen, "listen", false, "")
	fs.StringVar(&f.explain, "explain", "", "")
	fs.StringVar(&f.from, "from", "", "")
	fs.StringVar(&f.iif, "iif", "", "")
	fs.StringVar(&f.oif, "oif", "", "")
	fs.StringVar(&f.trigger, "trigger", "", "")
	fs.StringVar(&f.configFile, "config", "", "")
	fs.StringVar(f.scalars["table-base"], "table-base", "", "")
	fs.StringVar(f.scalars["priority"], "priority", "", "")
	fs.StringArrayVar(f.lists["exclude"], "exclude", nil, "")
	fs.StringArrayVar(f.lists["include"], "include", nil, "")
	fs.StringArrayVar(f.lists["set-route-metric"], "set-route-metric", nil, "")
	fs.StringVar(f.scalars["lock-file"], "lock-file", "", "")
	fs.StringVar(f.scalars["follow-ingress"], "follow-ingress", "", "")
	// A bare --follow-ingress switches it on; =false too is accepted, so
	// a flag can turn off what the config file turned on.
	fs.Lookup("follow-ingress").NoOptDefVal = "true"
	fs.StringVar(f.scalars["ingress-mark-mask"], "ingress-mark-mask", "", "")
	fs.StringVar(f.scalars["metrics-file"], "metrics-file", "", "")
	fs.StringArrayVar(f.lists["gateway"], "gateway", nil, "")
	fs.StringVar(f.scalars["oif-rules"], "oif-rules", "", "")
	fs.Lookup("oif-rules").NoOptDefVal = "true"
	fs.StringVar(f.scalars["resync-interval"], "resync-interval", "", "")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "")
	fs.BoolVar(&f.version, "version", false, "")
	fs.BoolVarP(&f.help, "help", "h", false, "")
	return fs, f
}

// Parse parses args (without argv[0]) and the config file: --config's, or
// DefaultConfigFile if it exists.
func Parse(args []string) (*Config, error) {
	return parse(args, DefaultConfigFile)
}

func parse(args []string, defaultConfigFile string) (*Config, error) {
	fs, f := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, &UsageError{Err: err}
	}
	c := &Config{
		Verbose:    f.verbose,
		Version:    f.version,
		Help:       f.help,
		ConfigFile: defaultConfigFile,
		LockFile:   DefaultLockFile,
		Options:    plan.DefaultOptions(),
	}
	if c.Help || c.Version {
		return c, nil
	}
	if err := c.setMode(f, fs.Changed("trigger"), fs.Changed("explain")); err != nil {
		return nil, err
	}
	if err := c.setExplain(f, fs.Changed("from"), fs.Changed("iif"), fs.Changed("oif")); err != nil {
		return nil, err
	}
	if err := c.setTriggerArgs(fs); err != nil {
		return nil, err
	}
	// Only a flag: the file is every mode's, and one key in it must not
	// make the hooks' and the timer's passes fail.
	if fs.Changed("resync-interval") && c.Mode != ModeListen {
		return nil, usagef("--resync-interval works only with --listen")
	}

	cmdline := newOptionSet()
	for _, key := range optionKeys {
		if !fs.Changed(key) {
			continue
		}
		var values []string
		if isList(key) {
			values = *f.lists[key]
		} else {
			values = []string{*f.scalars[key]}
		}
		for _, v := range values {
			if err := cmdline.set(key, v); err != nil {
				return nil, usagef("--%v", err)
			}
		}
	}

	file := newOptionSet()
	if fs.Changed("config") {
		if f.configFile == "" {
			return nil, usagef(`--config "": no file named`)
		}
		c.ConfigFile = f.configFile
	}
	if err := readFile(c.ConfigFile, fs.Changed("config"), file); err != nil {
		return nil, err
	}

	file.applyTo(c)
	cmdline.applyTo(c)
	if len(c.Options.Include) == 0 {
		c.Options.Include = nil
	}
	if len(c.Options.RouteMetrics) == 0 {
		c.Options.RouteMetrics = nil
	}
	c.Options.Flush = c.Mode == ModeFlush
	if err := c.validate(cmdline, file); err != nil {
		return nil, err
	}
	return c, nil
}

// validate is the planner's last word on the whole set of options: every
// value was checked where it was read. Its error names where the value
// came from: the flag, else the file.
func (c *Config) validate(cmdline, file *optionSet) error {
	err := c.Options.Validate()
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, k := range optionKeys {
		switch {
		case !strings.HasPrefix(msg, k+" "):
		case cmdline.given[k]:
			return usagef("--%s", msg)
		case file.given[k]:
			return usagef("%s: %s", c.ConfigFile, msg)
		}
	}
	return usagef("options: %s", msg)
}

func (c *Config) setMode(f *flags, trigger, explain bool) error {
	modes := []struct {
		on   bool
		flag string
		mode Mode
	}{
		{f.once, "--once", ModeOnce},
		{f.check, "--check", ModeCheck},
		{f.status, "--status", ModeStatus},
		{f.flush, "--flush", ModeFlush},
		{f.listen, "--listen", ModeListen},
		{explain, "--explain", ModeExplain},
	}
	var given []string
	for _, m := range modes {
		if m.on {
			given = append(given, m.flag)
			c.Mode = m.mode
		}
	}
	switch {
	case len(given) > 1:
		return usagef("%s cannot be combined: give one mode", joinAnd(given))
	case len(given) == 0 && !f.dryRun:
		return usagef("no mode given: use one of --once, --dry-run, --check, --status, --flush, --listen or --explain (see --help)")
	case len(given) == 0:
		c.Mode = ModeOnce
	}
	c.DryRun = f.dryRun
	if c.DryRun && c.Mode != ModeOnce && c.Mode != ModeFlush {
		return usagef("--dry-run cannot be combined with --%s (only with --once or --flush)", c.Mode)
	}
	if f.json && c.Mode != ModeStatus && c.Mode != ModeExplain {
		return usagef("--json works only with --status or --explain")
	}
	c.JSON = f.json
	if trigger {
		if c.Mode != ModeOnce {
			return usagef("--trigger works only with --once or --dry-run, not --%s", c.Mode)
		}
		if !slices.Contains(hooks.Sources, f.trigger) {
			return usagef("--trigger %q: unknown source (known: %s)", f.trigger, strings.Join(hooks.Sources, ", "))
		}
		c.Trigger = f.trigger
	}
	return nil
}

// setExplain checks --explain's flow: addresses of one family, --iif only
// with --from (a packet arriving on a link has a source), --oif (sent from
// a socket bound to the link) not with --iif.
func (c *Config) setExplain(f *flags, from, iif, oif bool) error {
	if c.Mode != ModeExplain {
		if from || iif || oif {
			return usagef("--from, --iif and --oif work only with --explain")
		}
		return nil
	}
	dst, err := netip.ParseAddr(f.explain)
	if err != nil || dst.Zone() != "" {
		return usagef("--explain %q: not an IPv4 or IPv6 address (without a %%zone)", f.explain)
	}
	c.Explain.Dst = dst.Unmap()
	if from {
		src, err := netip.ParseAddr(f.from)
		if err != nil || src.Zone() != "" {
			return usagef("--from %q: not an IPv4 or IPv6 address (without a %%zone)", f.from)
		}
		if c.Explain.From = src.Unmap(); c.Explain.From.Is4() != c.Explain.Dst.Is4() {
			return usagef("--from %s and --explain %s are of different families", c.Explain.From, c.Explain.Dst)
		}
	}
	if iif {
		switch {
		case !from:
			return usagef("--iif needs --from: a packet arriving on a link comes from somewhere")
		case !validLinkName(f.iif):
			return usagef("--iif %q: not a link name", f.iif)
		}
		c.Explain.Iif = f.iif
	}
	if oif {
		switch {
		case iif:
			return usagef("--oif and --iif cannot be combined: a packet is sent by this host or arrives on a link")
		case !validLinkName(f.oif):
			return usagef("--oif %q: not a link name", f.oif)
		}
		c.Explain.Oif = f.oif
	}
	return nil
}

// validLinkName is the kernel's rule for a link name (dev_valid_name): 1 to
// 15 bytes, not "." or "..", and no '/', ':' or white space.
func validLinkName(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\v\f\r")
}

// setTriggerArgs keeps what follows "--" verbatim: pflag stops parsing there,
// so a hook's "--priority=1" (an interface name) is never taken for a flag.
func (c *Config) setTriggerArgs(fs *pflag.FlagSet) error {
	rest := fs.Args()
	before, after := rest, []string(nil)
	if n := fs.ArgsLenAtDash(); n >= 0 {
		before, after = rest[:n], rest[n:]
	}
	if len(before) > 0 {
		if b := strings.ToLower(before[0]); b == "true" || b == "false" {
			return usagef("unexpected argument %q: a flag's true or false goes after =, as --follow-ingress=%s", before[0], before[0])
		}
		return usagef("unexpected argument %q: a hook's own arguments go after --trigger SOURCE --", before[0])
	}
	if len(after) > 0 && c.Trigger == "" {
		return usagef("unexpected argument %q after --: only --trigger SOURCE takes arguments", after[0])
	}
	if len(after) > 0 {
		c.TriggerArgs = append([]string(nil), after...)
	}
	return nil
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// optionSet is one source's options: the command line's or the file's.
type optionSet struct {
	given               map[string]bool
	tableBase, priority uint32
	lockFile            string
	metricsFile         string
	exclude, include    []string
	metrics             []plan.Metric
	// bools are the true-or-false options by key.
	bools       map[string]bool
	ingressMask uint32
	gateways    []plan.Gateway
	resync      time.Duration
}

func newOptionSet() *optionSet { return &optionSet{given: map[string]bool{}, bools: map[string]bool{}} }

// set checks and records one value. Its error starts with the key, so the
// caller only adds "--" or "FILE:LINE: ".
func (s *optionSet) set(key, value string) error {
	s.given[key] = true
	switch key {
	case "table-base", "priority":
		n, err := parseUint32(value)
		if err != nil {
			return fmt.Errorf("%s %q: %v", key, value, err)
		}
		// The planner owns the rule for each number; ask it about this
		// one alone so the error points here.
		o := plan.DefaultOptions()
		if key == "table-base" {
			o.TableBase, s.tableBase = n, n
		} else {
			o.Priority, s.priority = n, n
		}
		return o.Validate()
	case "exclude", "include":
		return s.addGlob(key, value)
	case "set-route-metric":
		if value == "" {
			return nil // explicitly none
		}
		m, err := plan.ParseMetricSetting(value)
		if err != nil {
			return fmt.Errorf("%s %v", key, err)
		}
		for _, o := range s.metrics {
			if o.ID == m.ID {
				return fmt.Errorf("%s %q: %s is already set (%s)", key, value, plan.MetricName(m.ID), plan.EncodeMetrics([]plan.Metric{o}))
			}
		}
		s.metrics = append(s.metrics, m)
	case "follow-ingress", "oif-rules":
		return s.setBool(key, value)
	case "ingress-mark-mask":
		n, err := parseMask(value)
		if err != nil {
			return fmt.Errorf("%s %q: %v", key, value, err)
		}
		s.ingressMask = n
		o := plan.DefaultOptions()
		o.IngressMask = n
		return o.Validate()
	case "lock-file", "metrics-file":
		return s.setFile(key, value)
	case "gateway":
		if value == "" {
			return nil // explicitly none
		}
		g, err := plan.ParseGateway(value)
		if err != nil {
			return err
		}
		s.gateways = append(s.gateways, g)
	case "resync-interval":
		d, err := parseInterval(value)
		if err != nil {
			return fmt.Errorf("%s %q: %v", key, value, err)
		}
		s.resync = d
	default:
		return fmt.Errorf("%s: not an option", key)
	}
	return nil
}

// setFile checks and records the lock file or the metrics file.
func (s *optionSet) setFile(key, value string) error {
	if key == "lock-file" {
		// Hooks run with any working directory; a relative lock file
		// would let two passes hold different locks.
		if !filepath.IsAbs(value) {
			return fmt.Errorf("%s %q: must be an absolute path", key, value)
		}
		s.lockFile = value
		return nil
	}
	switch {
	case value == "":
		// explicitly none: a flag turns off the file's
	case !filepath.IsAbs(value) || strings.HasSuffix(value, "/"):
		return fmt.Errorf("%s %q: must be an absolute path to a file", key, value)
	case !strings.HasSuffix(value, ".prom"):
		// The collector reads *.prom files only: anything else would be
		// written every pass and never read.
		return fmt.Errorf("%s %q: must end in .prom (node_exporter's textfile collector reads no other file)", key, value)
	}
	s.metricsFile = value
	return nil
}

// addGlob adds value to the exclude or include list; an empty value gives
// an explicitly empty list.
func (s *optionSet) addGlob(key, value string) error {
	list := &s.exclude
	if key == "include" {
		list = &s.include
	}
	if *list == nil {
		*list = []string{}
	}
	if value == "" {
		return nil // explicitly empty
	}
	if strings.ContainsAny(value, " \t\n\v\f\r") {
		return fmt.Errorf("%s %q: a glob cannot contain spaces (link names have none); give one glob per %s", key, value, key)
	}
	if _, err := path.Match(value, ""); err != nil {
		return fmt.Errorf("%s %q: bad glob: %v", key, value, err)
	}
	*list = append(*list, value)
	return nil
}

// setBool checks and records a true-or-false option.
func (s *optionSet) setBool(key, value string) error {
	b, err := parseBool(value)
	if err != nil {
		return fmt.Errorf("%s %q: %v", key, value, err)
	}
	s.bools[key] = b
	return nil
}

// applyTo lays the given options over c's.
func (s *optionSet) applyTo(c *Config) {
	if s.given["table-base"] {
		c.Options.TableBase = s.tableBase
	}
	if s.given["priority"] {
		c.Options.Priority = s.priority
	}
	if s.given["exclude"] {
		c.Options.Exclude = s.exclude
	}
	if s.given["include"] {
		c.Options.Include = s.include
	}
	if s.given["set-route-metric"] {
		c.Options.RouteMetrics = s.metrics
	}
	if s.given["lock-file"] {
		c.LockFile = s.lockFile
	}
	if s.given["metrics-file"] {
		c.MetricsFile = s.metricsFile
	}
	if s.given["follow-ingress"] {
		c.Options.FollowIngress = s.bools["follow-ingress"]
	}
	if s.given["oif-rules"] {
		c.Options.OifRules = s.bools["oif-rules"]
	}
	if s.given["ingress-mark-mask"] {
		c.Options.IngressMask = s.ingressMask
	}
	if s.given["gateway"] {
		c.Options.Gateways = s.gateways
	}
	if s.given["resync-interval"] {
		c.ResyncInterval = s.resync
	}
}

// parseInterval takes a Go duration (60s, 5m, 1h30m) of at least
// MinResyncInterval, or 0 (or nothing) for none: a flag can turn off what
// the file turned on. A bare number is refused rather than guessed at: 60
// could be seconds or minutes.
func parseInterval(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("not a duration (a number and a unit: 60s, 5m, 1h)")
	case d < 0:
		return 0, errors.New("must not be negative")
	case d == 0:
		return 0, nil
	case d < MinResyncInterval:
		return 0, fmt.Errorf("shorter than the minimum, %v", MinResyncInterval)
	}
	return d, nil
}

// parseBool takes the words a config file is likely to hold.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, errors.New("want true or false")
}

// parseMask takes a mark mask as ip-rule(8) and nft(8) print it: 0x and
// hex digits, or decimal digits without a leading zero (which some tools
// would read as octal).
func parseMask(s string) (uint32, error) {
	base, digits := 10, s
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		base, digits = 16, s[2:]
	} else if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("ambiguous leading zero: write hex as 0x...")
	}
	allowed := "0123456789"
	if base == 16 {
		allowed += "abcdefABCDEF"
	}
	if digits == "" || strings.Trim(digits, allowed) != "" {
		return 0, errors.New("not a number (0x and hex digits, or decimal)")
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, errors.New("not a 32-bit number")
	}
	return uint32(n), nil
}

// parseUint32 accepts plain decimal digits only: no sign, base prefix or
// spaces, which in a table number are more likely a typo than a wish.
func parseUint32(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	switch {
	case err == nil:
		return uint32(n), nil
	case errors.Is(err, strconv.ErrRange):
		return 0, errors.New("too large (at most 4294967295)")
	case len(s) > 1 && s[0] == '-' && strings.Trim(s[1:], "0123456789") == "":
		return 0, errors.New("must not be negative")
	}
	return 0, errors.New("not a number")
}
