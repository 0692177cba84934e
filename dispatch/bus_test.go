package dispatch

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
)

// frame is a bus message of the given byte order whose header fields and
// body take fields and body bytes (their content does not matter to the
// capped reader, only the framing).
func frame(order byte, fields, body int) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	if order == 'B' {
		bo = binary.BigEndian
	}
	m := []byte{order, 4, 0, 1}
	m = bo.AppendUint32(m, uint32(body))
	m = bo.AppendUint32(m, 7) // serial
	m = bo.AppendUint32(m, uint32(fields))
	m = append(m, bytes.Repeat([]byte{'f'}, fields)...)
	for len(m)%8 != 0 {
		m = append(m, 0)
	}
	return append(m, bytes.Repeat([]byte{'b'}, body)...)
}

// readCapped feeds stream to a capped reader of max and returns what it
// passes on, the sizes it dropped, and the error that ended the stream.
func readCapped(t *testing.T, stream []byte, max int) ([]byte, []uint64, error) {
	t.Helper()
	server, client := net.Pipe()
	go func() {
		server.Write(stream) //nolint:errcheck // the reader decides what is read
		server.Close()
	}()
	var drops []uint64
	c := newCapped(client, max, func(n uint64) { drops = append(drops, n) })
	var out bytes.Buffer
	buf := make([]byte, 100) // smaller than a message: Read is called piecewise
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			client.Close()
			return out.Bytes(), drops, err
		}
	}
}

func TestCappedFraming(t *testing.T) {
	auth := "DATA\r\nOK 1234deadbeef\r\n"
	const max = 1024
	atMax := frame('l', 13, max-16-16) // 16 header + 13 fields padded to 16
	over := frame('B', 13, max-16-16+1)
	small := frame('B', 0, 5)
	stream := strings.Join([]string{auth, string(atMax), string(over), string(small)}, "")
	got, drops, err := readCapped(t, []byte(stream), max)
	if err != io.EOF {
		t.Errorf("stream ended with %v, want EOF", err)
	}
	if len(atMax) != max {
		t.Fatalf("test frame is %d bytes, want %d", len(atMax), max)
	}
	want := auth + string(atMax) + string(small)
	if string(got) != want {
		t.Errorf("passed on %d bytes, want %d: the auth lines, the message of exactly max and the small one", len(got), len(want))
	}
	if len(drops) != 1 || drops[0] != uint64(len(over)) {
		t.Errorf("dropped %v, want one message of %d bytes", drops, len(over))
	}
}

func TestCappedRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, stream, err string
	}{
		{"auth line too long", strings.Repeat("A", 8192) + "\r\n", "authentication line too long"},
		{"bad byte order", "OK 1\r\n" + string(append([]byte{'x'}, make([]byte, 15)...)), "bad byte order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := readCapped(t, []byte(tc.stream), 1024)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if len(got) > 0 && !strings.HasPrefix(tc.stream, "OK") {
				t.Errorf("passed on %d bytes of a refused stream", len(got))
			}
		})
	}
}
