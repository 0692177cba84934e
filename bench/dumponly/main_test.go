package main

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// msg builds one netlink message around payload, padded as the kernel pads it.
func msg(typ uint16, seq uint32, payload []byte) []byte {
	l := unix.NLMSG_HDRLEN + len(payload)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(l))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	copy(b[unix.NLMSG_HDRLEN:], payload)
	return b
}

func errPayload(errno unix.Errno) []byte {
	p := make([]byte, 4)
	binary.NativeEndian.PutUint32(p, uint32(-int32(errno)))
	return p
}

func TestWalk(t *testing.T) {
	route := msg(unix.RTM_NEWROUTE, 7, make([]byte, 13)) // odd length: padding must be skipped
	cat := func(ms ...[]byte) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, m...)
		}
		return b
	}
	for _, tc := range []struct {
		name     string
		in       []byte
		wantDone bool
		wantErr  error
	}{
		{"routes only", cat(route, route), false, nil},
		{"done after routes", cat(route, route, msg(unix.NLMSG_DONE, 7, make([]byte, 4))), true, nil},
		{"done of another request is not ours", cat(route, msg(unix.NLMSG_DONE, 8, make([]byte, 4))), false, nil},
		{"kernel error", cat(route, msg(unix.NLMSG_ERROR, 7, errPayload(unix.EPERM))), false, unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, err := walk(tc.in, 7)
			if done != tc.wantDone {
				t.Errorf("done = %v, want %v", done, tc.wantDone)
			}
			if (err == nil) != (tc.wantErr == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if _, err := walk(msg(unix.RTM_NEWROUTE, 7, nil)[:unix.NLMSG_HDRLEN-1], 7); err != nil {
		t.Errorf("short tail: err = %v, want it ignored", err)
	}
	bad := msg(unix.RTM_NEWROUTE, 7, nil)
	binary.NativeEndian.PutUint32(bad[0:4], 1000)
	if _, err := walk(bad, 7); err == nil {
		t.Error("length past the datagram: no error")
	}
}
