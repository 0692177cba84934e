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
		if t.Lease.Addr.IsValid() {
			a = append(a, "address", t.Lease.Addr.String())
		}
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
		return t.nm(args, e, now)
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
	SourceNM:       nmVars.keys(),
	SourceNetworkd: {"IFACE", "STATE"},
	SourceDhclient: append([]string{"reason", "interface"}, dhclientVars.keys()...),
	SourceDhcpcd:   append([]string{"reason", "interface"}, dhcpcdVars.keys()...),
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

// nmBind are the actions whose environment holds the device's DHCPv4
// lease, if it has one.
var nmBind = set("up", "dhcp4-change", "reapply")

func (t Trigger) nm(args []string, env map[string]string, now time.Time) Trigger {
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
	switch {
	case action == "down":
		t.LeaseChange = LeaseDrop
	case nmBind[action] && env[nmVars.addr] != "":
		return t.bind(env, nmVars, now)
	case nmBind[action] && action != "dhcp4-change":
		// Up (or reapplied) with no DHCPv4 lease: whatever an earlier
		// one left goes.
		t.LeaseChange, t.Why = LeaseDrop, "no DHCPv4 lease"
	}
	// A dhcp4-change without the lease's options: NetworkManager runs one
	// while it activates the device, before it hands them over (measured
	// on 1.42); the "up" that follows has them.
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
	leaseBind    = set("BOUND", "RENEW", "REBIND", "REBOOT")
	dhclientGone = set("EXPIRE", "FAIL", "RELEASE", "STOP")
	// dhcpcd also removes the lease's address when the link loses its
	// carrier (unless it roams: NOCARRIER_ROAMING) or goes away.
	dhcpcdGone = set("EXPIRE", "FAIL", "RELEASE", "STOP", "STOPPED", "NOCARRIER", "DEPARTED")
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
	pass, gone, vars := dhcpcdPass, dhcpcdGone, dhcpcdVars
	if t.Source == SourceDhclient {
		pass, gone, vars = dhclientPass, dhclientGone, dhclientVars
	}
	if !pass[reason] {
		return t.noPass("reason changes no address or route")
	}
	t.Pass = true
	switch {
	case gone[reason]:
		t.LeaseChange = LeaseDrop
	case leaseBind[reason]:
		return t.bind(env, vars, now)
	}
	return t
}

// leaseVars name the variables a client's hook hands a lease in.
type leaseVars struct {
	stack string // lease.Record.Stack
	// addr, the lease's address ("" where the hook does not name one:
	// the record then lives until its expiry).
	addr      string
	routers   string // the Router option: space-separated routers
	classless string // RFC 3442 classless static routes (ClasslessDefault)
	// expiry is the lease's end in seconds since the epoch; leaseTime
	// (where there is no expiry) its length in seconds from now.
	expiry, leaseTime string
}

var (
	dhclientVars = leaseVars{routers: "new_routers", classless: "new_rfc3442_classless_static_routes", expiry: "new_expiry"}
	// dhcpcd's option 121 is new_classless_static_routes ("DEST/LEN
	// ROUTER" pairs); its lease time is relative.
	dhcpcdVars = leaseVars{stack: "dhcpcd", addr: "new_ip_address", routers: "new_routers",
		classless: "new_classless_static_routes", leaseTime: "new_dhcp_lease_time"}
	// NetworkManager's dispatcher hands its DHCPv4 options as DHCP4_NAME
	// (measured on 1.42 and 1.52; its internal client renders option 121
	// as DEST/LEN ROUTER pairs, with dhclient as dhclient does).
	nmVars = leaseVars{stack: "NetworkManager", addr: "DHCP4_IP_ADDRESS", routers: "DHCP4_ROUTERS",
		classless: "DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES", expiry: "DHCP4_EXPIRY"}
)

func (v leaseVars) keys() []string {
	var k []string
	for _, s := range []string{v.addr, v.routers, v.classless, v.expiry, v.leaseTime} {
		if s != "" {
			k = append(k, s)
		}
	}
	return k
}

// bind decides the lease record of a bind, from the variables v names.
func (t Trigger) bind(env map[string]string, v leaseVars, now time.Time) Trigger {
	router, ok, err := leaseRouter(env, v)
	if err != nil {
		return t.malformed(err.Error())
	}
	var exp time.Time
	var expOK bool
	if v.leaseTime != "" {
		exp, expOK, err = leaseEnd(v.leaseTime, env[v.leaseTime], now)
	} else {
		exp, expOK, err = leaseExpiry(v.expiry, env[v.expiry], now)
	}
	if err != nil {
		return t.malformed(err.Error())
	}
	var addr netip.Addr
	if s := env[v.addr]; v.addr != "" && s != "" {
		if addr, err = lease.ParseRouter(s); err != nil {
			return t.malformed(fmt.Sprintf("%s %s: %v", v.addr, quote(s), err))
		}
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
		t.Lease = lease.Record{Iface: t.Iface, Router: router, Expiry: exp, Addr: addr, Stack: v.stack}
	}
	return t
}

// leaseRouter is the lease's default router: from RFC 3442 classless
// static routes when the server sent them (the client must then ignore the
// Router option, and Debian's dhclient-script, dhcpcd and NetworkManager
// do), else the first of the Router option. ok is false when the lease has
// none.
func leaseRouter(env map[string]string, v leaseVars) (r netip.Addr, ok bool, err error) {
	if cs := env[v.classless]; cs != "" {
		if r, ok, err = lease.ClasslessDefault(cs); err != nil {
			return r, false, fmt.Errorf("%s %s: %v", v.classless, quote(cs), err)
		}
		return r, ok, nil
	}
	rs := env[v.routers]
	if len(rs) > maxRouters {
		return r, false, fmt.Errorf("%s %s is too long", v.routers, quote(rs))
	}
	if r, ok, err = lease.FirstRouter(rs); err != nil {
		return r, false, fmt.Errorf("%s %s: %v", v.routers, quote(rs), err)
	}
	return r, ok, nil
}

// leaseEnd reads a lease's length in seconds (dhcpcd's
// new_dhcp_lease_time) as its end; the protocol's infinite lease
// (0xffffffff) lasts MaxLeaseLife.
func leaseEnd(name, s string, now time.Time) (time.Time, bool, error) {
	n, ok, err := seconds(name, s)
	if !ok || err != nil {
		return time.Time{}, false, err
	}
	if n >= 0xffffffff {
		return now.Add(MaxLeaseLife).Truncate(time.Second), true, nil
	}
	return now.Add(time.Duration(n) * time.Second).Truncate(time.Second), n > 0, nil
}

// leaseExpiry reads a lease's end in seconds since the epoch (dhclient's
// new_expiry, NetworkManager's DHCP4_EXPIRY). ok is false when it is
// missing or already past; a value that is not a number is an error.
func leaseExpiry(name, s string, now time.Time) (time.Time, bool, error) {
	n, ok, err := seconds(name, s)
	if !ok || err != nil {
		return time.Time{}, false, err
	}
	limit := now.Add(MaxLeaseLife)
	if n >= uint64(limit.Unix()) {
		return limit.Truncate(time.Second), true, nil
	}
	exp := time.Unix(int64(n), 0)
	return exp, exp.After(now), nil
}

// seconds reads a count of seconds; ok is false when s is empty.
func seconds(name, s string) (n uint64, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	if len(s) > 20 {
		return 0, false, fmt.Errorf("%s %s is too long", name, quote(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, fmt.Errorf("%s %s is not a number of seconds", name, quote(s))
		}
	}
	if n, err = strconv.ParseUint(s, 10, 64); err != nil {
		return 0, false, fmt.Errorf("%s %s: %v", name, quote(s), err)
	}
	return n, true, nil
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
