package pass

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/symroute/symroute/internal/regfile"
	"github.com/symroute/symroute/lease"
	"github.com/symroute/symroute/sync/plan"
)

// The routers of live DHCP leases whose default never reached main
// (NetworkManager's never-default, networkd's UseGateway=no, dhcpcd's
// nogateway, Debian's dhclient-script without IF_METRIC), read by every
// pass, whatever ran it. First what the stacks keep themselves, read
// fresh (it follows a renewal no hook sees), then the hooks' records:
//
//   - systemd-networkd: its lease files, /run/systemd/netif/leases/IFINDEX
//     (ADDRESS, ROUTER, CLASSLESS_ROUTES), which it writes whatever
//     UseGateway= and UseRoutes= say and removes with the lease;
//   - NetworkManager: the [dhcp4] section of its device state,
//     /run/NetworkManager/devices/IFINDEX (dhcp4.ip_address,
//     dhcp4.routers, dhcp4.rfc3442_classless_static_routes), which 1.42
//     and 1.52 rewrite at every renewal and drop with the lease (its
//     internal client's own lease file holds only the address);
//   - the hooks' records (package lease): dhclient, dhcpcd, and
//     NetworkManager versions whose device state has no [dhcp4].
//
// A lease counts only while its address is on the link it names: a file
// left by a stack that stopped, or one of another network namespace
// (ifindexes repeat across them), gives nothing.

// stackLease is one lease a stack keeps.
type stackLease struct {
	link         int
	addr, router netip.Addr
	stack        string
}

// readRouters adds the routers of the live DHCP leases to st.Routers,
// one per link: a stack's own state before a hook's record. A lease file
// or record that cannot be read fails the pass: planning without it would
// delete the default it gives (or, for --check run without root, report
// drift on a host in sync).
func readRouters(st *plan.State, o Options, devs map[int]keyfile) error {
	// Looked for a lease at a time: a host has a few leases and may have
	// thousands of addresses, which a map of them made on every pass
	// (384 KB at 4096) cost more than these scans.
	onLink := func(link int, addr netip.Addr) bool {
		for _, a := range st.Addrs {
			if a.Link == link && a.Prefix.Addr() == addr {
				return true
			}
		}
		return false
	}
	has := map[int]bool{}
	add := func(link int, gw netip.Addr, stack string) {
		if !has[link] {
			has[link] = true
			st.Routers = append(st.Routers, plan.Router{Link: link, Gw: gw, Source: plan.RouterLease, Stack: stack})
		}
	}
	nd, err := networkdLeases(o.Root)
	if err != nil {
		return err
	}
	for _, l := range append(nd, nmLeases(devs)...) {
		if l.addr.Is4() && onLink(l.link, l.addr) {
			add(l.link, l.router, l.stack)
		}
	}
	dir := o.LeaseDir
	if dir == "" {
		dir = lease.DefaultDir
	}
	recs, err := lease.Read(dir, time.Now())
	if err != nil || len(recs) == 0 {
		return err
	}
	byName := make(map[string]int, len(st.Links))
	for _, l := range st.Links {
		byName[l.Name] = l.Index
	}
	for _, r := range recs {
		idx, ok := byName[r.Iface]
		if ok && (!r.Addr.IsValid() || r.Addr.Is4() && onLink(idx, r.Addr)) {
			add(idx, r.Router, r.StackOf())
		}
	}
	return nil
}

// networkdLeaseDir holds systemd-networkd's DHCPv4 leases, by ifindex.
const networkdLeaseDir = "/run/systemd/netif/leases"

// networkdLeases reads networkd's lease files under root ("" for /).
func networkdLeases(root string) ([]stackLease, error) {
	dir := root + networkdLeaseDir
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read systemd-networkd's leases: %w", err)
	}
	var out []stackLease
	for _, e := range ents {
		idx, err := strconv.Atoi(e.Name())
		if err != nil || idx <= 0 {
			continue
		}
		b, err := readSmall(filepath.Join(dir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, regfile.ErrNotRegular):
			continue // the lease ended since the directory was listed, or not a lease
		case err != nil:
			return nil, fmt.Errorf("read systemd-networkd's lease of link %d: %w", idx, err)
		}
		if l, ok := parseNetworkdLease(b); ok {
			l.link = idx
			out = append(out, l)
		}
	}
	return out, nil
}

// parseNetworkdLease reads one lease file: KEY=VALUE lines, "#" comments.
// ok is false for a lease without a usable address or router, or one that
// does not parse (never trusted further than it parses).
func parseNetworkdLease(b []byte) (stackLease, bool) {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	return leaseOf(kv["ADDRESS"], kv["ROUTER"], kv["CLASSLESS_ROUTES"], "systemd-networkd")
}

// leaseOf is a lease of address addr whose router is the default of
// classless routes, else the first of routers.
func leaseOf(addr, routers, classless, stack string) (stackLease, bool) {
	a, err := lease.ParseRouter(addr)
	if err != nil {
		return stackLease{}, false
	}
	var gw netip.Addr
	ok := false
	if classless != "" {
		gw, ok, err = lease.ClasslessDefault(classless)
	} else {
		gw, ok, err = lease.FirstRouter(routers)
	}
	if err != nil || !ok {
		return stackLease{}, false
	}
	return stackLease{addr: a, router: gw, stack: stack}, true
}

// nmLeases are the DHCPv4 leases in NetworkManager's device state, by
// ifindex.
func nmLeases(devs map[int]keyfile) []stackLease {
	var out []stackLease
	for idx, kf := range devs {
		d := kf["dhcp4"]
		if d == nil {
			continue
		}
		if l, ok := leaseOf(d["dhcp4.ip_address"], d["dhcp4.routers"], d["dhcp4.rfc3442_classless_static_routes"], "NetworkManager"); ok {
			l.link = idx
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].link < out[j].link })
	return out
}
