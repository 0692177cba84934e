package dispatch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

func props(iface string, changed map[string]dbus.Variant, invalidated []string) []interface{} {
	return []interface{}{iface, changed, invalidated}
}

func TestClassify(t *testing.T) {
	v := dbus.MakeVariant
	dev := dbus.ObjectPath("/org/freedesktop/NetworkManager/Devices/2")
	ip4 := dbus.ObjectPath("/org/freedesktop/NetworkManager/IP4Config/5")
	link := dbus.ObjectPath("/org/freedesktop/network1/link/_33")
	for _, tc := range []struct {
		name    string
		sig     dbus.Signal
		service string // "" if not worth a pass
	}{
		{"NM state", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".StateChanged", Body: []interface{}{uint32(70)}}, NetworkManager},
		{"NM state, string body", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".StateChanged", Body: []interface{}{"70"}}, ""},
		{"NM state, no body", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".StateChanged"}, ""},
		{"NM state, two values", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".StateChanged", Body: []interface{}{uint32(1), uint32(2)}}, ""},
		{"NM state, wrong path", dbus.Signal{Path: "/org/example", Name: NetworkManager + ".StateChanged", Body: []interface{}{uint32(70)}}, ""},
		{"device added", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".DeviceAdded", Body: []interface{}{dev}}, NetworkManager},
		{"device added, two values", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".DeviceAdded", Body: []interface{}{dev, dev}}, ""},
		{"device state, four values", dbus.Signal{Path: dev, Name: NetworkManager + ".Device.StateChanged", Body: []interface{}{uint32(100), uint32(90), uint32(0), uint32(0)}}, ""},
		{"device removed, string", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".DeviceRemoved", Body: []interface{}{string(dev)}}, ""},
		{"device state", dbus.Signal{Path: dev, Name: NetworkManager + ".Device.StateChanged", Body: []interface{}{uint32(100), uint32(90), uint32(0)}}, NetworkManager},
		{"device state, int32", dbus.Signal{Path: dev, Name: NetworkManager + ".Device.StateChanged", Body: []interface{}{uint32(100), int32(90), uint32(0)}}, ""},
		{"device state, on the manager's path", dbus.Signal{Path: "/org/freedesktop/NetworkManager", Name: NetworkManager + ".Device.StateChanged", Body: []interface{}{uint32(100), uint32(90), uint32(0)}}, ""},
		{"device Ip4Config moved", dbus.Signal{Path: dev, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".Device", map[string]dbus.Variant{"Ip4Config": v(ip4)}, []string{})}, NetworkManager},
		{"device Ip6Config invalidated", dbus.Signal{Path: dev, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".Device", map[string]dbus.Variant{}, []string{"Ip6Config"})}, NetworkManager},
		{"device statistics", dbus.Signal{Path: dev, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".Device", map[string]dbus.Variant{"RxBytes": v(uint64(5))}, []string{})}, ""},
		{"renewal: gateway and routes", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".IP4Config", map[string]dbus.Variant{"Gateway": v("192.168.0.254"), "RouteData": v([]map[string]dbus.Variant{})}, []string{})}, NetworkManager},
		{"IP4Config DNS only", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".IP4Config", map[string]dbus.Variant{"NameserverData": v("x")}, []string{})}, ""},
		{"IP4Config properties under an IP6Config path", dbus.Signal{Path: "/org/freedesktop/NetworkManager/IP6Config/5", Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".IP4Config", map[string]dbus.Variant{"Gateway": v("x")}, []string{})}, ""},
		{"DHCP4Config on every renewal", dbus.Signal{Path: "/org/freedesktop/NetworkManager/DHCP4Config/3", Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".DHCP4Config", map[string]dbus.Variant{"Options": v("x")}, []string{})}, NetworkManager},
		{"DHCP4Config, another property", dbus.Signal{Path: "/org/freedesktop/NetworkManager/DHCP4Config/3", Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".DHCP4Config", map[string]dbus.Variant{"Other": v("x")}, []string{})}, ""},
		{"DHCP6Config", dbus.Signal{Path: "/org/freedesktop/NetworkManager/DHCP6Config/3", Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".DHCP6Config", map[string]dbus.Variant{"Options": v("x")}, []string{})}, ""},
		{"properties: changed not a map", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: []interface{}{NetworkManager + ".IP4Config", []string{"Gateway"}, []string{}}}, ""},
		{"properties: interface not a string", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: []interface{}{uint32(1), map[string]dbus.Variant{"Gateway": v("x")}, []string{}}}, ""},
		{"properties: invalidated not strings", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: []interface{}{NetworkManager + ".IP4Config", map[string]dbus.Variant{"Gateway": v("x")}, []uint32{1}}}, ""},
		{"properties: short body", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: []interface{}{NetworkManager + ".IP4Config", map[string]dbus.Variant{"Gateway": v("x")}}}, ""},
		{"properties: long body", dbus.Signal{Path: ip4, Name: propsIface + ".PropertiesChanged",
			Body: []interface{}{NetworkManager + ".IP4Config", map[string]dbus.Variant{"Gateway": v("x")}, []string{}, []string{}}}, ""},
		{"networkd link state", dbus.Signal{Path: link, Name: propsIface + ".PropertiesChanged",
			Body: props(Networkd+".Link", map[string]dbus.Variant{"OperationalState": v("routable")}, []string{})}, Networkd},
		{"networkd link, nothing changed", dbus.Signal{Path: link, Name: propsIface + ".PropertiesChanged",
			Body: props(Networkd+".Link", map[string]dbus.Variant{}, []string{})}, ""},
		{"networkd manager", dbus.Signal{Path: "/org/freedesktop/network1", Name: propsIface + ".PropertiesChanged",
			Body: props(Networkd+".Manager", map[string]dbus.Variant{"OperationalState": v("routable")}, []string{})}, ""},
		{"networkd link, NM's interface", dbus.Signal{Path: link, Name: propsIface + ".PropertiesChanged",
			Body: props(NetworkManager+".Device", map[string]dbus.Variant{"Ip4Config": v(ip4)}, []string{})}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if f := classify(&tc.sig); f != nil {
				got = f.service
			}
			if got != tc.service {
				t.Errorf("classify = %q, want %q", got, tc.service)
			}
		})
	}
}

func TestOwners(t *testing.T) {
	noc := func(sender string, body ...interface{}) *dbus.Signal {
		return &dbus.Signal{Sender: sender, Path: "/org/freedesktop/DBus", Name: busName + ".NameOwnerChanged", Body: body}
	}
	o := newOwners()
	if o.trusted(NetworkManager, ":1.5") || o.trusted(NetworkManager, "") {
		t.Fatal("trusted a sender before knowing the owner")
	}
	o.answered(NetworkManager, ":1.5")
	if !o.trusted(NetworkManager, ":1.5") || o.trusted(NetworkManager, ":1.6") || o.trusted(Networkd, ":1.5") {
		t.Fatal("owner from GetNameOwner not applied to its service alone")
	}
	// NetworkManager restarts as :1.9: the old connection is no longer
	// trusted, even if it lingers.
	name, owner, ok := nameOwnerChanged(noc(busName, NetworkManager, ":1.5", ":1.9"))
	if !ok || !o.changed(name, owner) {
		t.Fatal("owner change not seen")
	}
	if o.trusted(NetworkManager, ":1.5") || !o.trusted(NetworkManager, ":1.9") {
		t.Fatal("old owner still trusted after the name moved")
	}
	// An answer to GetNameOwner made before that change must not undo it.
	o.answered(NetworkManager, ":1.5")
	if !o.trusted(NetworkManager, ":1.9") {
		t.Fatal("a stale GetNameOwner answer overrode NameOwnerChanged")
	}
	if _, _, ok := nameOwnerChanged(noc(":1.5", NetworkManager, ":1.9", ":1.5")); ok {
		t.Fatal("NameOwnerChanged from a peer, not the bus, accepted")
	}
	for _, body := range [][]interface{}{
		{NetworkManager, ":1.9"},
		{NetworkManager, ":1.9", uint32(5)},
		{"org.example.Other", ":1.9", ":1.7"},
	} {
		if _, _, ok := nameOwnerChanged(noc(busName, body...)); ok {
			t.Fatalf("NameOwnerChanged %v accepted", body)
		}
	}
	name, owner, _ = nameOwnerChanged(noc(busName, NetworkManager, ":1.9", ""))
	o.changed(name, owner)
	if o.trusted(NetworkManager, ":1.9") || o.trusted(NetworkManager, "") {
		t.Fatal("a sender trusted after the name lost its owner")
	}
}

// Every rule names its sender, so the bus itself filters by owner.
func TestMatchRulesNameSender(t *testing.T) {
	rules := matchRules()
	if len(rules) != len(follows)+len(services) {
		t.Fatalf("%d rules, want %d", len(rules), len(follows)+len(services))
	}
	for _, r := range rules {
		// MatchOption's fields are private: fmt shows them as {key value}.
		if s := fmt.Sprint(r[0]); !strings.HasPrefix(s, "{sender ") {
			t.Errorf("rule %v names no sender first", r)
		}
	}
}
