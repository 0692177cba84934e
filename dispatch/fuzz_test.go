package dispatch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/godbus/dbus/v5"
)

// FuzzSignal frames any bytes as the listener's capped reader does, decodes
// what it passes as godbus would, and hands the signals among them to the
// listener's checks. It proves no panic; what the checks decide is tested
// on known signals in signals_test.go.
func FuzzSignal(f *testing.F) {
	v := dbus.MakeVariant
	seeds := []*dbus.Message{
		busSignal(nmPath, NetworkManager, "StateChanged", uint32(70)),
		busSignal(devPath, NetworkManager+".Device", "StateChanged", uint32(100), uint32(90), uint32(0)),
		busSignal(ip4Path, propsIface, "PropertiesChanged", NetworkManager+".IP4Config", map[string]dbus.Variant{"Gateway": v("192.168.0.254")}, []string{}),
		busSignal("/org/freedesktop/network1/link/_33", propsIface, "PropertiesChanged", Networkd+".Link", map[string]dbus.Variant{"OperationalState": v("routable")}, []string{}),
		busSignal("/org/freedesktop/DBus", busName, "NameOwnerChanged", NetworkManager, ":1.2", ":1.3"),
		busSignal(nmPath, NetworkManager, "StateChanged", "not a number"),
	}
	for _, m := range seeds {
		var b bytes.Buffer
		if err := m.EncodeTo(&b, binary.LittleEndian); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	decoded := 0
	for _, m := range seeds {
		var b bytes.Buffer
		m.EncodeTo(&b, binary.LittleEndian)
		if d, err := dbus.DecodeMessage(&b); err == nil && d.Type == dbus.TypeSignal {
			decoded++
		}
	}
	if decoded != len(seeds) {
		f.Fatalf("only %d of %d seeds decode as signals", decoded, len(seeds))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A header may promise up to 128 MiB, which godbus would
		// allocate: the listener's reader skips what is over MaxMessage
		// before godbus sees it, and so does this one, being it.
		c := &capped{r: bufio.NewReader(bytes.NewReader(data)), max: MaxMessage, authed: true, dropped: func(uint64) {}}
		msg, err := c.message()
		if err != nil {
			return
		}
		m, err := dbus.DecodeMessage(bytes.NewReader(msg))
		if err != nil || m.Type != dbus.TypeSignal {
			return
		}
		sig := &dbus.Signal{Body: m.Body}
		sig.Sender, _ = m.Headers[dbus.FieldSender].Value().(string)
		sig.Path, _ = m.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
		iface, _ := m.Headers[dbus.FieldInterface].Value().(string)
		member, _ := m.Headers[dbus.FieldMember].Value().(string)
		sig.Name = iface + "." + member
		nameOwnerChanged(sig)
		classify(sig)
	})
}

func busSignal(path dbus.ObjectPath, iface, member string, body ...interface{}) *dbus.Message {
	m := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:      dbus.MakeVariant(path),
		dbus.FieldInterface: dbus.MakeVariant(iface),
		dbus.FieldMember:    dbus.MakeVariant(member),
		dbus.FieldSender:    dbus.MakeVariant(":1.7"),
	}, Body: body}
	if len(body) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
	}
	return m
}
