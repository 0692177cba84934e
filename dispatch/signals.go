package dispatch

import (
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Well-known names of the services followed.
const (
	NetworkManager = "org.freedesktop.NetworkManager"
	Networkd       = "org.freedesktop.network1"

	busName      = "org.freedesktop.DBus"
	propsIface   = "org.freedesktop.DBus.Properties"
	propsChanged = "PropertiesChanged"
)

// body is the shape a followed signal's body must have.
type body int

const (
	bodyU     body = iota // u: NetworkManager's state
	bodyO                 // o: a device's object path
	bodyUUU               // uuu: a device's new state, old state, reason
	bodyProps             // sa{sv}as: PropertiesChanged
)

// follow is one kind of signal worth a pass. The match rules sent to the
// bus and the check of each signal received are both made from this table,
// so they cannot disagree.
type follow struct {
	service       string // whose current owner must have sent it
	iface, member string
	path          string // the path, or its namespace
	arg0          string // PropertiesChanged: the interface whose properties changed
	body          body
	// props are the properties worth a pass (changed or invalidated); nil
	// means any. NetworkManager also publishes statistics and DNS that no
	// pass needs.
	props []string
}

// addrProps are where NetworkManager shows a renewal's effect: addresses,
// routes and the gateway of an IP4Config/IP6Config object.
var addrProps = []string{"Addresses", "AddressData", "Gateway", "Routes", "RouteData"}

var follows = []follow{
	{service: NetworkManager, iface: NetworkManager, member: "StateChanged", path: "/org/freedesktop/NetworkManager", body: bodyU},
	{service: NetworkManager, iface: NetworkManager, member: "DeviceAdded", path: "/org/freedesktop/NetworkManager", body: bodyO},
	{service: NetworkManager, iface: NetworkManager, member: "DeviceRemoved", path: "/org/freedesktop/NetworkManager", body: bodyO},
	{service: NetworkManager, iface: NetworkManager + ".Device", member: "StateChanged", path: "/org/freedesktop/NetworkManager/Devices", body: bodyUUU},
	// A device's Ip4Config/Ip6Config path changes when its IP
	// configuration is replaced, e.g. on connect and disconnect.
	{service: NetworkManager, iface: propsIface, member: propsChanged, path: "/org/freedesktop/NetworkManager/Devices",
		arg0: NetworkManager + ".Device", body: bodyProps, props: []string{"Ip4Config", "Ip6Config"}},
	{service: NetworkManager, iface: propsIface, member: propsChanged, path: "/org/freedesktop/NetworkManager/IP4Config",
		arg0: NetworkManager + ".IP4Config", body: bodyProps, props: addrProps},
	{service: NetworkManager, iface: propsIface, member: propsChanged, path: "/org/freedesktop/NetworkManager/IP6Config",
		arg0: NetworkManager + ".IP6Config", body: bodyProps, props: addrProps},
	// A lease's options, on every renewal, changed or not: with
	// never-default a new router changes no IP4Config, and only the pass
	// (which reads NetworkManager's device state) sees it. A no-op pass
	// per renewal (half a lease) costs milliseconds.
	{service: NetworkManager, iface: propsIface, member: propsChanged, path: "/org/freedesktop/NetworkManager/DHCP4Config",
		arg0: NetworkManager + ".DHCP4Config", body: bodyProps, props: []string{"Options"}},
	// networkd 252 publishes link states only (operational, carrier,
	// address, administrative): every one of them may mean addresses or
	// routes came or went. Renewals show nothing here: the timer's job.
	{service: Networkd, iface: propsIface, member: propsChanged, path: "/org/freedesktop/network1/link",
		arg0: Networkd + ".Link", body: bodyProps},
}

// services are the names whose owners are tracked.
var services = []string{NetworkManager, Networkd}

// matchRules are the bus match rules for follows and for the owners of
// services. Every rule names its sender, so the bus itself delivers only
// what the name's current owner sends; the listener checks again (owners),
// for it must not depend on a bus's policy to trust a signal.
func matchRules() [][]dbus.MatchOption {
	var rules [][]dbus.MatchOption
	for _, s := range services {
		rules = append(rules, []dbus.MatchOption{dbus.WithMatchSender(busName), dbus.WithMatchInterface(busName),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, s)})
	}
	for _, f := range follows {
		r := []dbus.MatchOption{dbus.WithMatchSender(f.service), dbus.WithMatchInterface(f.iface),
			dbus.WithMatchMember(f.member), dbus.WithMatchPathNamespace(dbus.ObjectPath(f.path))}
		if f.arg0 != "" {
			r = append(r, dbus.WithMatchArg(0, f.arg0))
		}
		rules = append(rules, r)
	}
	return rules
}

// classify finds the follow a signal is, checking its path and every type
// in its body; nil means the signal is not worth a pass (unknown, malformed,
// or about properties no pass needs).
func classify(sig *dbus.Signal) *follow {
	for i := range follows {
		f := &follows[i]
		if sig.Name != f.iface+"."+f.member || !inPath(f.path, sig.Path) {
			continue
		}
		if f.bodyOK(sig.Body) {
			return f
		}
	}
	return nil
}

func inPath(ns string, p dbus.ObjectPath) bool {
	return string(p) == ns || strings.HasPrefix(string(p), ns+"/")
}

func (f *follow) bodyOK(b []interface{}) bool {
	switch f.body {
	case bodyU:
		if len(b) != 1 {
			return false
		}
		_, ok := b[0].(uint32)
		return ok
	case bodyO:
		if len(b) != 1 {
			return false
		}
		_, ok := b[0].(dbus.ObjectPath)
		return ok
	case bodyUUU:
		if len(b) != 3 {
			return false
		}
		for _, v := range b {
			if _, ok := v.(uint32); !ok {
				return false
			}
		}
		return true
	case bodyProps:
		if len(b) != 3 {
			return false
		}
		iface, ok1 := b[0].(string)
		changed, ok2 := b[1].(map[string]dbus.Variant)
		invalidated, ok3 := b[2].([]string)
		if !ok1 || !ok2 || !ok3 || iface != f.arg0 {
			return false
		}
		if f.props == nil {
			return len(changed)+len(invalidated) > 0
		}
		for _, p := range f.props {
			if _, ok := changed[p]; ok {
				return true
			}
			for _, q := range invalidated {
				if p == q {
					return true
				}
			}
		}
	}
	return false
}

// nameOwnerChanged reads a NameOwnerChanged signal from the bus about one
// of services; ok is false for anything else.
func nameOwnerChanged(sig *dbus.Signal) (name, newOwner string, ok bool) {
	if sig.Sender != busName || sig.Name != busName+".NameOwnerChanged" || len(sig.Body) != 3 {
		return "", "", false
	}
	name, ok1 := sig.Body[0].(string)
	_, ok2 := sig.Body[1].(string)
	newOwner, ok3 := sig.Body[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return "", "", false
	}
	for _, s := range services {
		if s == name {
			return name, newOwner, true
		}
	}
	return "", "", false
}

// owners tracks the unique name owning each service on one connection. It
// is fed by NameOwnerChanged (in bus order, on godbus's reading goroutine)
// and by one GetNameOwner per service after the match rules are in place.
type owners struct {
	mu    sync.Mutex
	owner map[string]string // "" while the name has no owner
	heard map[string]bool   // a NameOwnerChanged came: newer than any GetNameOwner answer
}

func newOwners() *owners {
	return &owners{owner: map[string]string{}, heard: map[string]bool{}}
}

// changed records a NameOwnerChanged and reports whether the owner moved.
func (o *owners) changed(name, newOwner string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.heard[name] = true
	moved := o.owner[name] != newOwner
	o.owner[name] = newOwner
	return moved
}

// answered records GetNameOwner's answer, unless a NameOwnerChanged was
// already heard: the rule for it was added before the call, so the bus
// sent any such signal either before its answer (which then agrees) or
// after it (which is then newer).
func (o *owners) answered(name, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.heard[name] {
		o.owner[name] = owner
	}
}

// trusted reports whether sender is the current owner of service.
func (o *owners) trusted(service, sender string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur := o.owner[service]
	return cur != "" && cur == sender
}
