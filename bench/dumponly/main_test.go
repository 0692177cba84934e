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
		// A table that does not exist ends its filtered dump so (Linux 4.20+).
		{"dump ends with an error", cat(msg(unix.NLMSG_DONE, 7, errPayload(unix.ENOENT))), false, unix.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, err := walk(tc.in, 7, nil)
			if done != tc.wantDone {
				t.Errorf("done = %v, want %v", done, tc.wantDone)
			}
			if (err == nil) != (tc.wantErr == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if _, err := walk(msg(unix.RTM_NEWROUTE, 7, nil)[:unix.NLMSG_HDRLEN-1], 7, nil); err != nil {
		t.Errorf("short tail: err = %v, want it ignored", err)
	}
	bad := msg(unix.RTM_NEWROUTE, 7, nil)
	binary.NativeEndian.PutUint32(bad[0:4], 1000)
	if _, err := walk(bad, 7, nil); err == nil {
		t.Error("length past the datagram: no error")
	}
}

// TestWalkHandsBodies: fn sees the body of every message of the dump, and
// no other.
func TestWalkHandsBodies(t *testing.T) {
	var got [][]byte
	b := append(msg(unix.RTM_NEWLINK, 7, []byte{1, 2, 3, 4}), msg(unix.RTM_NEWLINK, 8, []byte{5, 6, 7, 8})...)
	b = append(b, msg(unix.NLMSG_DONE, 7, make([]byte, 4))...)
	done, err := walk(b, 7, func(body []byte) { got = append(got, append([]byte(nil), body...)) })
	if !done || err != nil {
		t.Fatalf("walk = %v, %v; want done", done, err)
	}
	if len(got) != 1 || string(got[0]) != string([]byte{1, 2, 3, 4}) {
		t.Errorf("bodies handed = %v, want [[1 2 3 4]]", got)
	}
}
