package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// How things are spelled for people and for ip(8), sysctl(8) and nft(8),
// in one place: names that may hold any byte made printable, rules as
// ip-rule(8) lists them, tables and protocols by ip(8)'s names. The
// renderer of operations (render.go) and the nftables ruleset (Nft) build
// on these.

// Printable quotes the bytes of s a terminal or a log reader would act on
// (control characters, escape sequences, invalid UTF-8) as \xNN; a link
// name may hold any of them.
func Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// hex32 is a mark or mask as nft(8) and --status print it.
func hex32(v uint32) string { return fmt.Sprintf("0x%08x", v) }

// LinkName is link idx by its name, or ifN for one the state does not
// hold (gone since the snapshot).
func LinkName(byIndex map[int]*Link, idx int) string {
	if l := byIndex[idx]; l != nil {
		return l.Name
	}
	return fmt.Sprintf("if%d", idx)
}

// SysctlName is a link name as sysctl(8) takes it: a dot in it is written
// as a slash, since sysctl reads dots as separators.
func SysctlName(name string) string { return Printable(strings.ReplaceAll(name, ".", "/")) }

// RuleText is r as ip-rule(8) lists it.
func RuleText(r *Rule) string {
	from := "all"
	if r.Src.IsValid() {
		from = r.Src.String()
		if r.Src.IsSingleIP() {
			from = r.Src.Addr().String()
		}
	}
	// As ip(8) lists them: selectors, then the action.
	if r.HasMark() {
		from += fmt.Sprintf(" fwmark %#x/%#x", r.Mark, r.Mask)
	}
	if r.Iif != "" {
		from += " iif " + Printable(r.Iif)
	}
	if r.Oif != "" {
		from += " oif " + Printable(r.Oif)
	}
	switch r.Action {
	case ruleActionBlackhole:
		return fmt.Sprintf("%d: from %s blackhole", r.Priority, from)
	case ruleActionUnreachable:
		return fmt.Sprintf("%d: from %s unreachable", r.Priority, from)
	case ruleActionProhibit:
		return fmt.Sprintf("%d: from %s prohibit", r.Priority, from)
	}
	s := fmt.Sprintf("%d: from %s lookup %s", r.Priority, from, tableWord(r.Table))
	if r.SuppressDefault {
		s += " suppress_prefixlength 0"
	}
	return s
}

// tableWord is a table as ip(8) names it: main, local and default by name.
func tableWord(t uint32) string {
	switch t {
	case TableMain:
		return "main"
	case TableLocal:
		return "local"
	case TableDefault:
		return "default"
	}
	return strconv.FormatUint(uint64(t), 10)
}

// tableName is a table as tableWord names it, with its rt_tables name
// where it has one.
func tableName(st *State, t uint32) string {
	w := tableWord(t)
	if n := st.TableNames[t]; n != "" && w == strconv.FormatUint(uint64(t), 10) {
		return w + " (" + Printable(n) + ")"
	}
	return w
}

// protoName names the route and rule protocols ip(8) names.
func protoName(p uint8) string {
	names := map[uint8]string{0: "unspec", 2: "kernel", 3: "boot", 4: "static", 16: "dhcp", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp", Protocol: "symroute"}
	if n, ok := names[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// otherSelectors says that r has selectors RuleText does not spell.
func otherSelectors(r *Rule) string {
	if r.Other {
		return ", with other selectors"
	}
	return ""
}
