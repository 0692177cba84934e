package lease

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/symroute/symroute/internal/regfile"
)

// DefaultDir is where hooks record leases and passes read them.
const DefaultDir = "/run/symroute/leases"

// Record is one interface's lease router.
type Record struct {
	Iface  string
	Router netip.Addr
	Expiry time.Time
	// Addr is the lease's own address, where the hook named it. The record
	// is then live while that address is on Iface, whatever Expiry says:
	// the client removes it when the lease ends, the kernel when the valid
	// lifetime the client refreshes at each renewal runs out, so a renewal
	// no hook sees (NetworkManager 1.42 runs none) does not end the record.
	// Without it the record lives until Expiry.
	Addr netip.Addr
	// Stack names the DHCP client holding the lease (one of Stacks); ""
	// reads as "dhclient", the one client that recorded before.
	Stack string
}

// Stacks are the clients that record leases, as reports name them.
var Stacks = []string{"dhclient", "dhcpcd", "NetworkManager"}

// StackOf is r's stack as reports name it.
func (r Record) StackOf() string {
	if r.Stack == "" {
		return Stacks[0]
	}
	return r.Stack
}

func knownStack(s string) bool {
	for _, k := range Stacks {
		if s == k {
			return true
		}
	}
	return s == ""
}

// MaxIfaceName is the longest Linux interface name: IFNAMSIZ (16) less its
// terminating NUL.
const MaxIfaceName = 15

// ValidIface reports whether name can be a Linux interface name (and so a
// file name here): 1-15 bytes, no '/', no whitespace, not "." or "..".
func ValidIface(name string) bool {
	if name == "" || len(name) > MaxIfaceName || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '/' || c <= ' ' || c == 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// UsableRouter reports whether a is an IPv4 unicast address a default
// route can go through: not unspecified, multicast, loopback nor the
// limited broadcast. Hooks check a lease's router with it, and so does
// Write.
func UsableRouter(a netip.Addr) bool {
	return a.IsValid() && a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Write records r, replacing any record of its interface.
func Write(dir string, r Record) error {
	if !ValidIface(r.Iface) {
		return fmt.Errorf("record lease: bad interface name %q", r.Iface)
	}
	if !UsableRouter(r.Router) {
		return fmt.Errorf("record lease of %s: %q is not a usable IPv4 router", r.Iface, r.Router)
	}
	if r.Addr.IsValid() && !UsableRouter(r.Addr) {
		return fmt.Errorf("record lease of %s: %q is not a usable IPv4 address", r.Iface, r.Addr)
	}
	if !knownStack(r.Stack) {
		return fmt.Errorf("record lease of %s: unknown stack %q", r.Iface, r.Stack)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record lease: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".lease-*")
	if err != nil {
		return fmt.Errorf("record lease: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "router=%s\nexpiry=%d\n", r.Router, r.Expiry.Unix())
	if err == nil && r.Addr.IsValid() {
		_, err = fmt.Fprintf(tmp, "addr=%s\n", r.Addr)
	}
	if err == nil && r.Stack != "" {
		_, err = fmt.Fprintf(tmp, "stack=%s\n", r.Stack)
	}
	// Readable by all: a record holds nothing secret, and --check and
	// --dry-run run without root must read what a pass reads.
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, r.Iface))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("record lease of %s: %w", r.Iface, err)
	}
	return nil
}

// Remove drops the record of iface, if any.
func Remove(dir, iface string) error {
	if !ValidIface(iface) {
		return fmt.Errorf("drop lease: bad interface name %q", iface)
	}
	if err := os.Remove(filepath.Join(dir, iface)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drop lease of %s: %w", iface, err)
	}
	return nil
}

// Read returns the records in dir that may be live: those tied to an
// address (live while it is on the interface, which only the caller can
// tell), and the others until they expire. Malformed ones are skipped (a
// hook's record is never trusted further than it parses). A missing dir is
// no records; a record that cannot be read is an error, or a reader
// without permission would plan as if it were not there.
func Read(dir string, now time.Time) ([]Record, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	var out []Record
	for _, e := range ents {
		if !e.Type().IsRegular() || !ValidIface(e.Name()) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, ok, err := readOne(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read lease of %s: %w", e.Name(), err)
		}
		if !ok || !r.Addr.IsValid() && !now.Before(r.Expiry) {
			continue
		}
		r.Iface = e.Name()
		out = append(out, r)
	}
	return out, nil
}

func readOne(path string) (Record, bool, error) {
	// Not through a link, nor blocking on a FIFO swapped in since the
	// directory was listed.
	f, err := regfile.Open(path, false)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ELOOP), errors.Is(err, regfile.ErrNotRegular):
		return Record{}, false, nil // gone, or not a record
	case err != nil:
		return Record{}, false, err
	}
	defer f.Close()
	var r Record
	sc := bufio.NewScanner(io.LimitReader(f, 1024)) // records are a few dozen bytes
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			return Record{}, false, nil
		}
		switch k {
		case "router":
			// As strict as Write: a record planted or left by an older
			// version gives no route Write would have refused.
			if r.Router, err = netip.ParseAddr(v); err != nil || !UsableRouter(r.Router) {
				return Record{}, false, nil
			}
		case "expiry":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Record{}, false, nil
			}
			r.Expiry = time.Unix(n, 0)
		case "addr":
			if r.Addr, err = netip.ParseAddr(v); err != nil || !UsableRouter(r.Addr) {
				return Record{}, false, nil
			}
		case "stack":
			if r.Stack = v; v == "" || !knownStack(v) {
				return Record{}, false, nil
			}
		}
	}
	return r, r.Router.IsValid() && !r.Expiry.IsZero(), nil
}
