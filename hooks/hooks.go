package hooks

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/symroute/symroute/lease"
)

// Sources, as --trigger names them.
const (
	SourceNM       = "nm"
	SourceNetworkd = "networkd"
	SourceDhclient = "dhclient"
	SourceDhcpcd   = "dhcpcd"
	SourceIfupdown = "ifupdown"
	SourceTimer    = "timer"
)

// Sources are the values --trigger accepts, in the order usage lists them.
var Sources = []string{SourceNM, SourceNetworkd, SourceDhclient, SourceDhcpcd, SourceIfupdown, SourceTimer}

// LockWait bounds how long a hook's pass waits for another pass's lock.
// Passes take milliseconds, so a few seconds covers a burst of triggers
// (two interfaces bound at once at boot); past it the running pass or the
// next trigger (the timer at worst) covers this one. Hooks must not wait
// longer: dhclient is blocked meanwhile, and NetworkManager and dhcpcd kill
// slow hooks.
const LockWait = 3 * time.Second

// Deadline bounds a hook's whole run, pass included: past it the process
// exits 0 and leaves what is left to the next trigger (the timer at worst).
// A pass cut short is safe: the next one reads the kernel and converges.
const Deadline = 5 * time.Second

// MaxLeaseLife caps a recorded lease's life: dhclient gives an infinite
// lease an expiry near the end of time, which time.Time cannot carry
// through a record. Records live under /run, so a reboot drops them anyway.
const MaxLeaseLife = 50 * 365 * 24 * time.Hour

// LeaseChange is what a trigger does to its interface's lease record.
type LeaseChange int

// Lease changes.
const (
	LeaseKeep   LeaseChange = iota // leave the record as it is
	LeaseRecord                    // write Trigger.Lease
	LeaseDrop                      // remove the interface's record
)

func (c LeaseChange) String() string {
	switch c {
	case LeaseRecord:
		return "record"
	case LeaseDrop:
		return "drop"
	}
	return "keep"
}

// Trigger is one hook call, decided.
type Trigger struct {
	Source string
	// Iface is the interface the hook named ("" for the timer; "--all" or
	// an alias label like eth0:1 from ifupdown).
	Iface string
	// Action is NetworkManager's action, networkd's state, the DHCP
	// client's reason, or ifupdown's PHASE (MODE without it).
	Action string
	// Pass says whether the trigger warrants a pass.
	Pass bool
	// Malformed says why the input was refused, "" if it was well formed.
	// A malformed trigger never passes and never changes a lease record.
	Malformed string
	// Why says why a well-formed trigger does not pass, or why its lease
	// could not be recorded, for the logs.
	Why string
	// LeaseChange and Lease: what to do to the lease record.
	LeaseChange LeaseChange
	Lease       lease.Record
}

// String is a short description for logs: "dhclient em1 BOUND". It holds
// only validated words, so it is safe to log as is.
func (t Trigger) String() string {
	if t.Malformed != "" {
		return t.Source + " (malformed)"
	}
	s := t.Source
	if t.Iface != "" {
		s += " " + t.Iface
	}
	if t.Action != "" {
		s += " " + t.Action
	}
	return s
}

// LogAttrs are the attributes to log the decision with.
func (t Trigger) LogAttrs() []any {
	a := []any{"trigger", t.String(), "pass", t.Pass}
	if t.Malformed != "" {
		a = append(a, "malformed", t.Malformed)
	}
	if t.Why != "" {
		a = append(a, "why", t.Why)
	}
	if t.LeaseChange != LeaseKeep {
		a = append(a, "lease", t.LeaseChange.String())
	}
	if t.LeaseChange == LeaseRecord {
		a = append(a, "router", t.Lease.Router.String(), "expiry", t.Lease.Expiry.UTC().Format(time.RFC3339))
	}
	return a
}

// Log logs the decision: at info when the input was malformed (someone
// should look), at debug otherwise.
func (t Trigger) Log(log *slog.Logger) {
	if t.Malformed != "" {
		log.Info("hook input refused: no pass", t.LogAttrs()...)
		return
	}
	log.Debug("hook", t.LogAttrs()...)
}

// ApplyLease writes or removes the lease record in dir, as decided.
func (t Trigger) ApplyLease(dir string) error {
	switch t.LeaseChange {
	case LeaseRecord:
		return lease.Write(dir, t.Lease)
	case LeaseDrop:
		return lease.Remove(dir, t.Iface)
	}
	return nil
}

// Bounds on input: far above anything the real programs send, low enough
// that a hostile value never reaches a log line whole.
const (
	maxWord    = 32   // an action, state, reason, mode or phase
	maxRouters = 1024 // new_routers: a list of dotted quads
	maxRFC3442 = 4096 // new_rfc3442_classless_static_routes: bytes as decimals
	maxQuote   = 64   // how much of a refused value the logs show
)

// Decide reads one hook call. source is --trigger's value, args what
// followed "--", env the process environment ("KEY=value" strings), now the
// time lease expiries are checked against.
func Decide(source string, args, env []string, now time.Time) Trigger {
	t := Trigger{Source: source}
	e, err := readEnv(env, envKeys[source])
	if err != nil {
		return t.malformed(err.Error())
	}
	switch source {
	case SourceNM:
		return t.nm(args)
	case SourceNetworkd:
		return t.networkd(args, e)
	case SourceDhclient, SourceDhcpcd:
		return t.dhcp(args, e, now)
	case SourceIfupdown:
		return t.ifupdown(args, e)
	case SourceTimer:
		t.Pass = true
		if len(args) > 0 {
			t.Why = fmt.Sprintf("%d arguments ignored", len(args))
		}
		return t
	}
	t.Source = "unknown"
	return t.malformed("unknown source " + quote(source))
}

// envKeys are the only variables each source reads: nothing else in the
// environment is looked at.
var envKeys = map[string][]string{
	SourceNetworkd: {"IFACE", "STATE"},
	SourceDhclient: {"reason", "interface", "new_routers", "new_expiry", "new_rfc3442_classless_static_routes"},
	SourceDhcpcd:   {"reason", "interface"},
	SourceIfupdown: {"IFACE", "MODE", "PHASE"},
}

// readEnv picks keys out of env. A key given twice is refused: a real
// caller never does that, and which one a program would see differs
// between getenv implementations.
func readEnv(env []string, keys []string) (map[string]string, error) {
	m := map[string]string{}
	if len(keys) == 0 {
		return m, nil
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, want := range keys {
			if k != want {
				continue
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("environment variable %s given twice", k)
			}
			m[k] = v
		}
	}
	return m, nil
}

func (t Trigger) malformed(why string) Trigger {
	t.Pass, t.Malformed, t.LeaseChange, t.Lease = false, why, LeaseKeep, lease.Record{}
	t.Iface, t.Action = "", ""
	return t
}

func (t Trigger) noPass(why string) Trigger {
	t.Pass, t.Why = false, why
	return t
}

// quote shows a refused value in a log safely: quoted, escaped, cut.
func quote(s string) string {
	if len(s) > maxQuote {
		return strconv.Quote(s[:maxQuote]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// word checks an action, state or reason: a plain word of letters, digits,
// '-' and '_', as every real caller sends.
func word(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > maxWord {
		return fmt.Errorf("%s %s is too long", what, quote(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%s %s is not a plain word", what, quote(s))
		}
	}
	return nil
}

func iface(s string) error {
	if !lease.ValidIface(s) {
		return fmt.Errorf("interface name %s is not a valid Linux interface name", quote(s))
	}
	return nil
}

// fromArgsOrEnv takes the hook's positional arguments when given (exactly
// len(keys) of them) and the environment's keys otherwise.
func fromArgsOrEnv(args []string, env map[string]string, keys ...string) ([]string, error) {
	switch len(args) {
	case len(keys):
		return args, nil
	case 0:
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = env[k]
		}
		return out, nil
	}
	return nil, fmt.Errorf("want %d arguments (%s) or none, got %d", len(keys), strings.Join(keys, " "), len(args))
}

var nmPass = set("up", "down", "dhcp4-change", "dhcp6-change", "reapply", "vpn-up", "vpn-down")

func (t Trigger) nm(args []string) Trigger {
	if len(args) != 2 {
		return t.malformed(fmt.Sprintf("want 2 arguments (IFACE ACTION), got %d", len(args)))
	}
	dev, action := args[0], args[1]
	if err := word("action", action); err != nil {
		return t.malformed(err.Error())
	}
	t.Action = action
	if !nmPass[action] {
		// hostname and connectivity-change name no interface ("" or
		// "none"): not looked at, since no pass follows anyway.
		return t.noPass("action changes no address or route")
	}
	if err := iface(dev); err != nil {
		return t.malformed(err.Error())
	}
	t.Iface, t.Pass = dev, true
	return t
}

var networkdPass = set("routable", "degraded", "configured", "carrier", "no-carrier", "off")

func (t Trigger) networkd(args []string, env map[string]string) Trigger {
	v, err := fromArgsOrEnv(args, env, "IFACE", "STATE")
	if err != nil {
		return t.malformed(err.Error())
	}
	if err := word("state", v[1]); err != nil {
		return t.malformed(err.Error())
	}
	if err := iface(v[0]); err != nil {
		return t.malformed(err.Error())
	}
	t.Iface, t.Action = v[0], v[1]
	if !networkdPass[t.Action] {
		return t.noPass("state where addresses neither appear nor go")
	}
	t.Pass = true
	return t
}

var (
	dhclientPass = set("BOUND", "RENEW", "REBIND", "REBOOT", "EXPIRE", "FAIL", "RELEASE", "STOP", "TIMEOUT",
		"BOUND6", "RENEW6", "REBIND6", "DEPREF6", "EXPIRE6", "RELEASE6", "STOP6")
	dhcpcdPass = set("BOUND", "RENEW", "REBIND", "REBOOT", "EXPIRE", "FAIL", "RELEASE", "STOP", "STOPPED",
		"TIMEOUT", "INFORM", "STATIC", "IPV4LL", "3RDPARTY", "ROUTERADVERT", "NOCARRIER", "DEPARTED", "CARRIER",
		"BOUND6", "RENEW6", "REBIND6", "REBOOT6", "EXPIRE6", "RELEASE6", "STOP6", "INFORM6", "DELEGATED6")
	leaseBind = set("BOUND", "RENEW", "REBIND", "REBOOT")
	leaseGone = set("EXPIRE", "FAIL", "RELEASE", "STOP")
)

func (t Trigger) dhcp(args []string, env map[string]string, now time.Time) Trigger {
	v, err := fromArgsOrEnv(args, env, "reason", "interface")
	if err != nil {
		return t.malformed(err.Error())
	}
	reason, dev := v[0], v[1]
	if err := word("reason", reason); err != nil {
		return t.malformed(err.Error())
	}
	if err := iface(dev); err != nil {
		return t.malformed(err.Error())
	}
	t.Iface, t.Action = dev, reason
	pass := dhcpcdPass
	if t.Source == SourceDhclient {
		pass = dhclientPass
	}
	if !pass[reason] {
		return t.noPass("reason changes no address or route")
	}
	t.Pass = true
	if t.Source != SourceDhclient {
		// dhcpcd adds every interface's default route with a metric of
		// its own, so main always has it: nothing to record.
		return t
	}
	switch {
	case leaseGone[reason]:
		t.LeaseChange = LeaseDrop
	case leaseBind[reason]:
		return t.bind(env, now)
	}
	return t
}

// bind decides the lease record of a dhclient bind.
func (t Trigger) bind(env map[string]string, now time.Time) Trigger {
	router, ok, err := leaseRouter(env)
	if err != nil {
		return t.malformed(err.Error())
	}
	exp, expOK, err := leaseExpiry(env["new_expiry"], now)
	if err != nil {
		return t.malformed(err.Error())
	}
	// The record must describe this lease or nothing: a bind that cannot
	// be recorded drops whatever an earlier lease left.
	t.LeaseChange = LeaseDrop
	switch {
	case !ok:
		t.Why = "lease has no router"
	case !expOK:
		t.Why = "lease has no expiry in the future"
	default:
		t.LeaseChange = LeaseRecord
		t.Lease = lease.Record{Iface: t.Iface, Router: router, Expiry: exp}
	}
	return t
}

// leaseRouter is the lease's default router: from RFC 3442 classless
// static routes when the server sent them (the client must then ignore the
// Router option, and Debian's dhclient-script does), else the first of
// new_routers. ok is false when the lease has none.
func leaseRouter(env map[string]string) (r netip.Addr, ok bool, err error) {
	if cs := env["new_rfc3442_classless_static_routes"]; cs != "" {
		return rfc3442Default(cs)
	}
	rs := env["new_routers"]
	if len(rs) > maxRouters {
		return r, false, fmt.Errorf("new_routers %s is too long", quote(rs))
	}
	f := strings.Fields(rs)
	if len(f) == 0 {
		return r, false, nil
	}
	for _, s := range f {
		if _, err := unicast4(s); err != nil {
			return r, false, fmt.Errorf("new_routers %s: %v", quote(rs), err)
		}
	}
	r, _ = unicast4(f[0])
	return r, true, nil
}

func unicast4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", quote(s))
	}
	if !lease.UsableRouter(a) { // IPv4, but not one a route can go via
		return netip.Addr{}, fmt.Errorf("%s is not a unicast address", a)
	}
	return a, nil
}

// rfc3442Default finds the default route in dhclient's rendering of option
// 121: decimal bytes separated by spaces, each route being a prefix
// length, the significant octets of the destination, and four octets of
// router.
func rfc3442Default(s string) (netip.Addr, bool, error) {
	bad := func(why string) (netip.Addr, bool, error) {
		return netip.Addr{}, false, fmt.Errorf("new_rfc3442_classless_static_routes %s: %s", quote(s), why)
	}
	if len(s) > maxRFC3442 {
		return bad("too long")
	}
	var b []byte
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return bad("not a list of bytes")
		}
		b = append(b, byte(n))
	}
	var def netip.Addr
	found := false
	for len(b) > 0 {
		width := int(b[0])
		if width > 32 {
			return bad("prefix length over 32")
		}
		n := 1 + (width+7)/8 + 4
		if len(b) < n {
			return bad("truncated")
		}
		if width == 0 && !found {
			found = true
			// Router 0.0.0.0 is a route on the link itself: no router
			// to record.
			if gw := netip.AddrFrom4([4]byte(b[n-4 : n])); !gw.IsUnspecified() {
				if _, err := unicast4(gw.String()); err != nil {
					return bad(err.Error())
				}
				def = gw
			}
		}
		b = b[n:]
	}
	return def, def.IsValid(), nil
}

// leaseExpiry reads dhclient's new_expiry (seconds since the epoch). ok is
// false when it is missing or already past; a value that is not a number
// is an error.
func leaseExpiry(s string, now time.Time) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	if len(s) > 20 {
		return time.Time{}, false, fmt.Errorf("new_expiry %s is too long", quote(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false, fmt.Errorf("new_expiry %s is not a number of seconds", quote(s))
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("new_expiry %s: %v", quote(s), err)
	}
	limit := now.Add(MaxLeaseLife)
	if n >= uint64(limit.Unix()) {
		return limit.Truncate(time.Second), true, nil
	}
	exp := time.Unix(int64(n), 0)
	return exp, exp.After(now), nil
}

var ifupdownPhase = map[string]bool{"post-up": true, "post-down": true, "pre-up": false, "pre-down": false}

func (t Trigger) ifupdown(args []string, env map[string]string) Trigger {
	if len(args) > 0 {
		return t.malformed(fmt.Sprintf("want no arguments (ifupdown passes IFACE, MODE and PHASE in the environment), got %d", len(args)))
	}
	dev, mode, phase := env["IFACE"], env["MODE"], env["PHASE"]
	if err := ifupdownIface(dev); err != nil {
		return t.malformed(err.Error())
	}
	t.Iface = dev
	if phase != "" {
		if err := word("PHASE", phase); err != nil {
			return t.malformed(err.Error())
		}
		t.Action = phase
		pass, known := ifupdownPhase[phase]
		switch {
		case !known:
			return t.noPass("unknown phase")
		case !pass:
			return t.noPass("phase before the change")
		}
		t.Pass = true
		return t
	}
	if err := word("MODE", mode); err != nil {
		return t.malformed(err.Error())
	}
	t.Action = mode
	if mode != "start" && mode != "stop" {
		return t.noPass("unknown mode")
	}
	t.Pass = true
	return t
}

// ifupdownIface accepts what ifupdown puts in IFACE: an interface, an alias
// label (eth0:1, an address label on eth0), or "--all".
func ifupdownIface(s string) error {
	if s == "--all" {
		return nil
	}
	base, label, isAlias := strings.Cut(s, ":")
	if !isAlias {
		return iface(s)
	}
	if len(s) > lease.MaxIfaceName || iface(base) != nil || iface(label) != nil {
		return fmt.Errorf("IFACE %s is neither an interface name nor an alias label", quote(s))
	}
	return nil
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}
