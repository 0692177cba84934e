package plan

import (
	"fmt"
	"math/bits"
	"net/netip"
	"path"
	"strings"
)

// Defaults, as documented in the README and the man page.
const (
	DefaultTableBase = 1000
	DefaultPriority  = 32765 // just ahead of main's 32766
	// DefaultIngressMask is the mark bits --follow-ingress uses: the top
	// byte, which kube-proxy (0xc000), Tailscale (0xff0000), Cilium's
	// matched bits (0xff00), CNI portmap and netavark (0x2000), Istio
	// (0x3ff) and the AWS VPC CNI (0x80) leave alone. Calico's default
	// mask 0xffff0000 overlaps it (see the README).
	DefaultIngressMask = 0xff000000
)

// DefaultExclude are the link-name globs left alone unless the user gives a
// list of their own: container, VM and tunnel plumbing whose routes would
// otherwise fan out into a table per veth. Never a link kind: VMs, test
// hosts and some clouds have veth or bridge uplinks, which an administrator
// includes by giving their own list.
var DefaultExclude = []string{
	"veth*", "docker*", "br-*", "cni*", "flannel*", "cali*", "vxlan*",
	"virbr*", "kube-*", "cilium*", "lxc*", "lxcbr*", "podman*", "weave*",
	"vnet*", "tap*", "tun*", "wg*", "tailscale*", "zt*", "nodelocaldns",
	"gre*", "gretap*", "erspan*", "ip6gre*", "ip6tnl*", "ip_vti*",
	"ip6_vti*", "sit*", "tunl*", "genev_sys_*", "vxlan_sys_*", "ovs-system",
}

// Options are what a pass is told. The zero value is not valid: start from
// DefaultOptions.
type Options struct {
	TableBase uint32
	Priority  uint32
	// Exclude globs replace DefaultExclude when given (nil means default).
	Exclude []string
	// Include, if not empty, limits managed links to the matching names.
	Include      []string
	RouteMetrics []Metric
	// FollowIngress steers the replies of connections that arrived on a
	// managed link by that link's table (--follow-ingress).
	FollowIngress bool
	// IngressMask are the firewall-mark bits FollowIngress may use, in
	// packet and conntrack marks alike.
	IngressMask uint32
	// Gateways are --gateway's values, in the order given: the first
	// whose glob matches a link's name gives it a router in its family.
	Gateways []Gateway
	// OifRules adds, beside each routed link's address rules, "oif LINK
	// lookup TABLE", so that sockets bound to the link (SO_BINDTODEVICE:
	// ping -I, resolved's per-link DNS, chrony) are routed by its table.
	OifRules bool
	// Flush plans the removal of everything symroute owns.
	Flush bool
}

// Gateway is one --gateway value: LINK=ADDR, GLOB=first-host (the first
// host of the link's IPv4 subnet, Azure's convention), or GLOB=none (no
// router on purpose: no default, and no warning of it).
type Gateway struct {
	Links     string // a glob, as in Exclude
	Addr      netip.Addr
	FirstHost bool
	None      bool
}

// ParseGateway reads one --gateway value, LINK=ADDR, GLOB=first-host or
// GLOB=none: the address a unicast one (an IPv6 link-local router
// included), with no zone (the link gives it).
func ParseGateway(v string) (Gateway, error) {
	links, addr, ok := strings.Cut(v, "=")
	if !ok || links == "" || addr == "" {
		return Gateway{}, fmt.Errorf("gateway %q: want LINK=ADDR, GLOB=first-host or GLOB=none", v)
	}
	if _, err := path.Match(links, ""); err != nil {
		return Gateway{}, fmt.Errorf("gateway %q: bad glob %q: %w", v, links, err)
	}
	switch addr {
	case "first-host":
		return Gateway{Links: links, FirstHost: true}, nil
	case "none":
		return Gateway{Links: links, None: true}, nil
	}
	a, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return Gateway{}, fmt.Errorf("gateway %q: %q is neither an address, first-host nor none", v, addr)
	case a.Zone() != "":
		return Gateway{}, fmt.Errorf("gateway %q: no zone: the link names it", v)
	case a.Is4In6():
		return Gateway{}, fmt.Errorf("gateway %q: an IPv4-mapped address; give it as IPv4", v)
	case a.Is4() && a.IsLinkLocalUnicast():
		return Gateway{}, fmt.Errorf("gateway %q: %s is IPv4 link-local", v, a)
	case !a.IsGlobalUnicast() && !a.IsLinkLocalUnicast():
		// Unspecified, loopback, multicast, the limited broadcast.
		return Gateway{}, fmt.Errorf("gateway %q: %s is not a unicast address a route can go via", v, a)
	}
	return Gateway{Links: links, Addr: a}, nil
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{TableBase: DefaultTableBase, Priority: DefaultPriority, IngressMask: DefaultIngressMask, OifRules: true}
}

// MaxIfindex is the largest ifindex the kernel hands out (a positive int).
const MaxIfindex = 1<<31 - 1

// Validate reports the first option that cannot be used; nothing may touch
// the kernel until it returns nil.
func (o Options) Validate() error {
	// base+ifindex must never be 0 (unspecified), 252-255 (compat,
	// default, main, local) nor wrap around uint32.
	if o.TableBase < 255 {
		return fmt.Errorf("table-base %d: base + ifindex could be a reserved table (252-255); use 255 or more", o.TableBase)
	}
	if uint64(o.TableBase)+MaxIfindex > 1<<32-1 {
		return fmt.Errorf("table-base %d: base + ifindex could pass the largest table number 4294967295; use at most %d", o.TableBase, uint64(1<<32-1)-MaxIfindex)
	}
	// Priority 0 is the local table's rule, which must stay first, and
	// 32766/32767 are main and default.
	if o.Priority == 0 || o.Priority >= 32766 {
		return fmt.Errorf("priority %d: must be from 1 to 32765 (0 is local's rule, 32766 main's)", o.Priority)
	}
	if bits.OnesCount32(o.IngressMask) < 2 {
		return fmt.Errorf("ingress-mark-mask 0x%08x: must have at least two bits set (one value per link, 0 meaning none)", o.IngressMask)
	}
	// The fwmark rules go one priority ahead of the per-address rules.
	if o.FollowIngress && o.Priority < 3 {
		return fmt.Errorf("priority %d: follow-ingress puts its rules at priority-1 and priority-2, so it needs 3 or more", o.Priority)
	}
	for _, g := range append(append([]string(nil), o.Exclude...), o.Include...) {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	return nil
}

func (o Options) excludes() []string {
	if o.Exclude == nil {
		return DefaultExclude
	}
	return o.Exclude
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Managed reports whether symroute mirrors routes for l, given the state's
// links (to find a VRF master).
func (o Options) Managed(l Link, byIndex map[int]*Link) bool {
	if l.Loopback || l.Kind == "vrf" {
		return false
	}
	if m := byIndex[l.Master]; m != nil && m.Kind == "vrf" {
		return false
	}
	if matchAny(o.excludes(), l.Name) {
		return false
	}
	if len(o.Include) > 0 && !matchAny(o.Include, l.Name) {
		return false
	}
	return true
}

// TableOf is the table of the link with ifindex idx.
func (o Options) TableOf(idx int) uint32 { return o.TableBase + uint32(idx) }

// IngressPriority is the priority of the fwmark rules of --follow-ingress:
// just ahead of the per-address rules, which they must override.
func (o Options) IngressPriority() uint32 { return o.Priority - 1 }
